"""`make lint` runs lint-imports: the project keeps its contracts, and a cycle or forbidden import fails."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

CONFIG = """
[importlinter]
root_packages =
    shop
    billing
    pure
include_external_packages = True
contract_types =
    acyclic_modules: tests.architecture.contracts.AcyclicModulesContract

[importlinter:contract:siblings]
name = No cycles inside a package
type = acyclic_siblings
ancestors =
    shop

[importlinter:contract:modules]
name = No cycles across packages
type = acyclic_modules
packages =
    shop
    billing

[importlinter:contract:pure]
name = pure never imports django
type = forbidden
source_modules =
    pure
forbidden_modules =
    django
"""

MODULES = {
    # A services -> tasks -> services cycle held together by a function-level import.
    "shop/services.py": "def enqueue():\n    from shop import tasks\n\n    return tasks\n",
    "shop/tasks.py": "import shop.services\n",
    # A cycle whose two modules live in different packages.
    "shop/orders.py": "import billing.invoices\n",
    "billing/invoices.py": "def order():\n    import shop.orders\n\n    return shop.orders\n",
    "pure/maths.py": "import django.conf\n",
}


def lint(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """lint-imports as `make lint` runs it, with the project's contract types importable."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(cwd), str(ROOT)])}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", *args], cwd=cwd, env=env, capture_output=True, text=True
    )


def test_the_project_keeps_its_import_contracts() -> None:
    """mlcore is free of Django and the apps, apps meet only through models/selectors/services, no cycles."""
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_a_deliberate_cycle_and_a_forbidden_import_fail_the_lint(tmp_path: Path) -> None:
    """Each contract type the project relies on catches its own kind of violation."""
    for name, source in MODULES.items():
        path = tmp_path / name
        path.parent.mkdir(exist_ok=True)
        (path.parent / "__init__.py").touch()
        path.write_text(source)
    (tmp_path / ".importlinter").write_text(CONFIG)
    result = lint(tmp_path, "--config", ".importlinter")
    assert result.returncode == 1, result.stdout + result.stderr
    out = " ".join(result.stdout.split())
    assert "No cycles inside a package BROKEN" in out and ".tasks -> .services" in out
    assert "No cycles across packages BROKEN" in out
    assert "billing.invoices -> shop.orders -> billing.invoices" in out
    assert "shop.services -> shop.tasks -> shop.services" in out
    assert "pure never imports django BROKEN" in out and "pure.maths -> django" in out
