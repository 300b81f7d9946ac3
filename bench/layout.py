"""Print the Django layout: per app, its Python modules and lines (migrations apart), and the largest module.

    python bench/layout.py            # the working tree
    python bench/layout.py 0f60fda    # any git revision (read with git, nothing checked out)

An app is a top-level package with an apps.py; mlcore is listed too. Lines are physical lines.
"""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _files(revision: str | None) -> dict[str, str]:
    """path -> text of every tracked .py file (at the revision, or in the working tree)."""
    if revision is None:
        names = subprocess.run(
            ["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True, check=True
        )
        paths = names.stdout.split()
        return {p: (ROOT / p).read_text(errors="replace") for p in paths if (ROOT / p).is_file()}
    tree = subprocess.run(
        ["git", "ls-tree", "-r", revision], cwd=ROOT, capture_output=True, text=True, check=True
    )
    blobs = {}
    for line in tree.stdout.splitlines():
        meta, path = line.split("\t", 1)
        if path.endswith(".py"):
            blobs[path] = meta.split()[2]
    # One `git cat-file --batch` reads every blob: "<sha> blob <size>\n<content>\n" per request.
    batch = subprocess.run(
        ["git", "cat-file", "--batch"],
        cwd=ROOT,
        input="\n".join(blobs.values()).encode(),
        capture_output=True,
    ).stdout
    texts, offset = {}, 0
    for path in blobs:
        header_end = batch.index(b"\n", offset)
        size = int(batch[offset:header_end].split()[2])
        texts[path] = batch[header_end + 1 : header_end + 1 + size].decode(errors="replace")
        offset = header_end + 1 + size + 1
    return texts


def layout(revision: str | None = None) -> list[tuple[str, int, int, int, str]]:
    """(app, modules, lines, migration lines, largest module) per app, biggest app first."""
    files = _files(revision)
    apps = sorted(
        {p.split("/")[0] for p in files if p.count("/") == 1 and p.endswith("/apps.py")} | {"mlcore"}
    )
    stats: dict[str, list] = defaultdict(lambda: [0, 0, 0, ("", 0)])
    for path, text in files.items():
        app = path.split("/")[0]
        if app not in apps:
            continue
        lines = text.count("\n")
        row = stats[app]
        if "/migrations/" in path:
            row[2] += lines
            continue
        row[0] += 1
        row[1] += lines
        if lines > row[3][1]:
            row[3] = (path, lines)
    rows = [(app, r[0], r[1], r[2], f"{r[3][0]} ({r[3][1]})") for app, r in stats.items()]
    return sorted(rows, key=lambda r: -r[2])


def main() -> None:
    revision = sys.argv[1] if len(sys.argv) > 1 else None
    rows = layout(revision)
    print(f"layout of {revision or 'the working tree'}")
    print(f"{'app':<10} {'modules':>7} {'lines':>6} {'migr.':>6}  largest module")
    for app, modules, lines, migrations, largest in rows:
        print(f"{app:<10} {modules:>7} {lines:>6} {migrations:>6}  {largest}")
    django = [r for r in rows if r[0] != "mlcore"]
    print(
        f"{'apps':<10} {len(django):>7} {sum(r[2] for r in django):>6}  (Django apps; modules {sum(r[1] for r in django)})"
    )


if __name__ == "__main__":
    main()
