"""An import-linter contract type for what the built-in ones leave out: cycles that cross packages.

`acyclic_siblings` finds cycles among the children of one package; a cycle whose modules sit in two apps
(diagnosis.services.a -> reading.services.b -> diagnosis.services.a) has no common parent below the
root and would pass it. This contract fails on any such module-level cycle among the root packages.
"""

from __future__ import annotations

from typing import Any

import grimp
from importlinter.application import output
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck


class AcyclicModulesContract(Contract):
    """No module of the listed packages reaches itself again through its imports."""

    type_name = "acyclic_modules"
    packages = fields.ListField(subfield=fields.StringField())

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        """One shortest cycle per offending import, each reported once."""
        roots = tuple(str(p) for p in self.packages)  # type: ignore[attr-defined]
        modules = sorted(m for m in graph.modules if m.split(".")[0] in roots)
        cycles: list[tuple[str, ...]] = []
        seen: set[frozenset[str]] = set()
        for importer in modules:
            for imported in sorted(graph.find_modules_directly_imported_by(importer)):
                if imported.split(".")[0] not in roots or imported == importer:
                    continue
                back = graph.find_shortest_chain(importer=imported, imported=importer)
                if back and frozenset(back) not in seen:
                    seen.add(frozenset(back))
                    cycles.append((importer, *back))
        return ContractCheck(kept=not cycles, metadata={"cycles": cycles})

    def render_broken_contract(self, check: ContractCheck) -> None:
        """Print each cycle as a chain of modules."""
        for cycle in check.metadata["cycles"]:
            output.print_error(" -> ".join(cycle), bold=False)
            output.new_line()


__all__: list[Any] = ["AcyclicModulesContract"]
