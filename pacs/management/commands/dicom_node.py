"""`manage.py dicom_node add|list|remove`: register the PACS and modalities Airspace talks DICOM with."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from pacs.selectors import dicom_nodes
from pacs.services.nodes import NodeSpec, dicom_node_add, dicom_node_remove
from portal.errors import DomainError


class Command(BaseCommand):
    help = (
        "Manage DICOM nodes: `add NAME --ae-title T --host H --port P [--inbound] [--outbound] "
        "[--department D] [--dicomweb-url URL]`, `list`, `remove NAME`. Every change is audited."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", default="", help="username recorded as the actor (default: system)")
        actions = parser.add_subparsers(dest="action", required=True)
        add = actions.add_parser("add", help="register a node")
        add.add_argument("name")
        add.add_argument("--ae-title", required=True)
        add.add_argument("--host", required=True, help="inbound: the address it calls from")
        add.add_argument("--port", required=True, type=int)
        add.add_argument("--inbound", action="store_true", help="may send studies to Airspace")
        add.add_argument("--outbound", action="store_true", help="receives Airspace's results")
        add.add_argument("--department", default="", help="the department its studies belong to")
        add.add_argument("--dicomweb-url", default="", help="STOW-RS base URL for results")
        actions.add_parser("list", help="print every node")
        remove = actions.add_parser("remove", help="remove a node (deactivated if records point at it)")
        remove.add_argument("name")

    def handle(self, *args: Any, **options: Any) -> None:
        """Run the sub-command; refused input is a CommandError, never a traceback."""
        actor = self._actor(options["user"])
        try:
            getattr(self, f"_{options['action']}")(options, actor)
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        except ValidationError as exc:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from exc

    def _actor(self, username: str) -> Any:
        if not username:
            return None
        actor = get_user_model().objects.filter(username=username).first()
        if actor is None:
            raise CommandError(f"No user named {username!r}.")
        return actor

    def _add(self, options: dict[str, Any], actor: Any) -> None:
        spec = NodeSpec(
            name=options["name"],
            ae_title=options["ae_title"],
            host=options["host"],
            port=options["port"],
            inbound=options["inbound"],
            outbound=options["outbound"],
            department=options["department"],
            dicomweb_url=options["dicomweb_url"],
        )
        node = dicom_node_add(spec=spec, actor=actor)
        self.stdout.write(f"Added {node}.")

    def _list(self, options: dict[str, Any], actor: Any) -> None:
        for node in dicom_nodes():
            directions = "+".join(d for d, on in (("in", node.inbound), ("out", node.outbound)) if on)
            self.stdout.write(
                f"{node.name}\t{node.ae_title}\t{node.host}:{node.port}\t{directions}\t"
                f"{node.department or '-'}\t{node.dicomweb_url or '-'}\t{'active' if node.active else 'inactive'}"
            )

    def _remove(self, options: dict[str, Any], actor: Any) -> None:
        deleted = dicom_node_remove(name=options["name"], actor=actor)
        verb = "Removed" if deleted else "Deactivated (records point at it)"
        self.stdout.write(f"{verb} {options['name']}.")
