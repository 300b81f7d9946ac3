"""DICOM nodes are data managed by admins: add and remove, each audited in its own transaction.

An inbound node gets a service account (`dicom-node-NAME`, clinician role, the node's department, no
password): what it sends goes through the upload service as that account, so the audit trail names the
sending node as the actor and the node's department scopes its studies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models import ProtectedError

from audit.services.events import SYSTEM, AuditContext, audit_record
from diagnosis.models import Department
from diagnosis.services.staff import staff_department_set
from pacs.models import DicomNode
from portal.errors import Conflict, DomainError
from portal.roles import Role

SERVICE_USER_PREFIX = "dicom-node-"


@dataclass(frozen=True)
class NodeSpec:
    """What an admin enters for a node."""

    name: str
    ae_title: str
    host: str
    port: int
    inbound: bool = False
    outbound: bool = False
    department: str = ""
    dicomweb_url: str = ""


def _node_state(node: DicomNode) -> dict[str, Any]:
    return {
        "name": node.name,
        "ae_title": node.ae_title,
        "host": node.host,
        "port": node.port,
        "inbound": node.inbound,
        "outbound": node.outbound,
        "department": node.department.name if node.department else None,
        "dicomweb_url": node.dicomweb_url,
        "active": node.active,
    }


def _department(name: str) -> Department | None:
    if not name:
        return None
    department = Department.objects.filter(name=name).first()
    if department is None:
        raise DomainError(f"No department named {name!r}.", code="unknown_department")
    return department


def _service_user(node: DicomNode, actor: Any, context: AuditContext) -> Any:
    """The node's account: clinician role in the node's department, unusable password (never logs in)."""
    user = get_user_model().objects.create_user(username=f"{SERVICE_USER_PREFIX}{node.name}", password=None)
    user.groups.add(Group.objects.get_or_create(name=Role.CLINICIAN)[0])
    staff_department_set(user=user, department=node.department, actor=actor, context=context)
    return user


@transaction.atomic
def dicom_node_add(*, spec: NodeSpec, actor: Any = None, context: AuditContext = SYSTEM) -> DicomNode:
    """Register a node (`dicom_node.add`); an inbound node also gets its service account."""
    if not (spec.inbound or spec.outbound):
        raise DomainError("A node is inbound, outbound or both.", code="node_direction")
    if DicomNode.objects.filter(name=spec.name).exists():
        raise Conflict(f"A node named {spec.name!r} exists already.", code="node_exists")
    node = DicomNode(
        name=spec.name,
        ae_title=spec.ae_title.strip(),
        host=spec.host.strip(),
        port=spec.port,
        inbound=spec.inbound,
        outbound=spec.outbound,
        department=_department(spec.department),
        dicomweb_url=spec.dicomweb_url.strip(),
    )
    node.full_clean()
    if spec.inbound:
        node.service_user = _service_user(node, actor, context)
    node.save(force_insert=True)
    audit_record(
        actor=actor,
        action="dicom_node.add",
        object_type="dicom_node",
        object_id=node.id,
        after=_node_state(node),
        context=context,
    )
    return node


@transaction.atomic
def dicom_node_remove(*, name: str, actor: Any = None, context: AuditContext = SYSTEM) -> bool:
    """Remove a node (`dicom_node.remove`); one that records point at is deactivated instead (False)."""
    node = DicomNode.objects.select_for_update().filter(name=name).first()
    if node is None:
        raise DomainError(f"No node named {name!r}.", code="unknown_node")
    before = _node_state(node)
    node_id, service_user = node.id, node.service_user
    try:
        with transaction.atomic():
            node.delete()
            if service_user is not None:
                service_user.delete()
        deleted = True
    except ProtectedError:
        # Received studies and deliveries keep pointing at it: keep the row, stop it for good.
        DicomNode.objects.filter(id=node_id).update(active=False)
        if service_user is not None:
            get_user_model().objects.filter(id=service_user.id).update(is_active=False)
        deleted = False
    audit_record(
        actor=actor,
        action="dicom_node.remove",
        object_type="dicom_node",
        object_id=node_id,
        before=before,
        after=None if deleted else {**before, "active": False},
        context=context,
    )
    return deleted
