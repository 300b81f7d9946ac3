"""The API permission matrix: the one statement of who may call which endpoint.

Each cell says what a role gets from the role check: ALLOWED (the request reaches the view; it may still be
a 4xx for bad input, 404 for an object out of the caller's scope, or 409 for a state clash), 401 (not
authenticated) or 403 (authenticated, but the role may not). tests/portal/test_matrix.py walks the URL conf and
fails for any /api/v1/ route or method missing here, then checks every cell against the running code.
Object scoping is separate (diagnosis/services/scope.py): out-of-scope objects answer 404, never 403.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver

ANONYMOUS, NO_ROLE, CLINICIAN, RADIOLOGIST, ADMIN = (
    "anonymous",
    "no-role",
    "clinician",
    "radiologist",
    "admin",
)
ROLES = (ANONYMOUS, NO_ROLE, CLINICIAN, RADIOLOGIST, ADMIN)
ALLOWED = "allowed"
API_PREFIX = "api/v1/"

Cell = str | int
Row = dict[str, Cell]


def _row(*allowed: str) -> Row:
    """Anonymous gets 401; every other role not listed gets 403."""
    return {role: ALLOWED if role in allowed else (401 if role == ANONYMOUS else 403) for role in ROLES}


PUBLIC: Row = dict.fromkeys(ROLES, ALLOWED)
AUTHENTICATED: Row = {role: 401 if role == ANONYMOUS else ALLOWED for role in ROLES}
ANY_ROLE = _row(CLINICIAN, RADIOLOGIST, ADMIN)
UPLOADER = _row(CLINICIAN, ADMIN)
READER = _row(RADIOLOGIST, ADMIN)
RADIOLOGIST_ONLY = _row(RADIOLOGIST)
ADMIN_ONLY = _row(ADMIN)

MATRIX: dict[str, dict[str, Row]] = {
    "api-token": {"POST": PUBLIC},
    "api-logout": {"POST": AUTHENTICATED},  # any token holder may revoke their own token
    "api-patients": {"GET": ANY_ROLE, "POST": UPLOADER},
    "api-patient": {"GET": ANY_ROLE},
    "api-studies": {"GET": ANY_ROLE, "POST": UPLOADER},
    "api-study": {"GET": ANY_ROLE},
    "api-study-cancel": {"POST": UPLOADER},
    "api-study-rerun": {"POST": ADMIN_ONLY},
    "api-study-claim": {"POST": RADIOLOGIST_ONLY},
    "api-study-release": {"POST": READER},  # an admin may force-release a stuck claim
    "api-study-review": {"POST": RADIOLOGIST_ONLY},
    "api-study-report": {"GET": ANY_ROLE},
    "api-study-report-pdf": {"GET": ANY_ROLE},
    "api-study-image": {"GET": ANY_ROLE},
    "api-study-heatmap": {"GET": ANY_ROLE},
    "api-study-image-item": {"GET": ANY_ROLE},
    "api-study-fhir": {"GET": ANY_ROLE},
    "api-study-ehr-delivery-retry": {"POST": ADMIN_ONLY},
    "api-study-dicom-delivery-retry": {"POST": ADMIN_ONLY},
    "api-worklist": {"GET": READER},
    "api-worklist-summary": {"GET": READER},
    "api-audit": {"GET": ADMIN_ONLY},
    "api-monitoring": {"GET": ADMIN_ONLY},
    "api-model": {"GET": ANY_ROLE},
    "api-notifications": {"GET": ANY_ROLE},  # each user's own only
    "api-notification-read": {"POST": ANY_ROLE},
    "api-model-shadow": {"GET": ADMIN_ONLY},
    "api-model-history": {"GET": ADMIN_ONLY},
    # The schema and its docs describe the API, not patient data: public in development and tests; the
    # production settings require a signed-in user (SERVE_PERMISSIONS, tests/security/test_hardening.py).
    "api-schema": {"GET": PUBLIC},
    "api-docs": {"GET": PUBLIC},
}


# Views from libraries carry their own docstrings; these say what the endpoints are here.
_SUMMARIES = {
    "api-schema": "The OpenAPI 3 schema of this API (drf-spectacular).",
    "api-docs": "Interactive docs (Swagger UI, assets served from the project).",
}


@dataclass(frozen=True)
class ApiRoute:
    """One routed /api/v1/ endpoint: its URL name, path pattern, view class and implemented methods."""

    name: str
    route: str
    view_class: Any
    methods: tuple[str, ...]

    @property
    def summary(self) -> str:
        if self.name in _SUMMARIES:
            return _SUMMARIES[self.name]
        doc = (self.view_class.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""

    @property
    def display_path(self) -> str:
        """The path as the OpenAPI schema writes it: /studies/{id}/images/{image_id}/."""
        return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", self.route.replace("<uuid:pk>", "{id}"))


def _methods(view_class: Any) -> tuple[str, ...]:
    """HTTP methods the view implements itself (OPTIONS and HEAD follow GET's rules)."""
    names = getattr(view_class, "http_method_names", [])
    return tuple(m.upper() for m in names if m not in ("options", "head") and hasattr(view_class, m))


def _walk(patterns: list[Any], prefix: str = "") -> list[tuple[str, URLPattern]]:
    found: list[tuple[str, URLPattern]] = []
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            found.extend(_walk(entry.url_patterns, route))
        elif isinstance(entry, URLPattern):
            found.append((route, entry))
    return found


def api_routes() -> list[ApiRoute]:
    """Every routed /api/v1/ endpoint, read from the live URL conf."""
    routes = []
    for route, pattern in _walk(get_resolver().url_patterns):
        if not route.startswith(API_PREFIX):
            continue
        view_class = getattr(pattern.callback, "view_class", None) or getattr(pattern.callback, "cls", None)
        routes.append(ApiRoute(pattern.name or "", "/" + route, view_class, _methods(view_class)))
    return routes


def missing_entries(routes: list[ApiRoute] | None = None) -> list[str]:
    """Routes or methods with no matrix row (a new endpoint without a rule), as 'name METHOD' strings."""
    missing = []
    for api_route in routes if routes is not None else api_routes():
        rows = MATRIX.get(api_route.name, {})
        missing += [f"{api_route.name or api_route.route} {m}" for m in api_route.methods if m not in rows]
    return missing


def _cell(value: Cell) -> str:
    return "✔" if value == ALLOWED else str(value)


def matrix_markdown() -> str:
    """The matrix as a Markdown table, one line per routed endpoint and method."""
    lines = [
        "| Endpoint | Method | What | " + " | ".join(ROLES) + " |",
        "|---|---|---|" + "---|" * len(ROLES),
    ]
    for api_route in api_routes():
        path = api_route.display_path
        for method in api_route.methods:
            row = MATRIX.get(api_route.name, {}).get(method)
            cells = [_cell(row[role]) if row else "**missing**" for role in ROLES]
            lines.append(f"| `{path}` | {method} | {api_route.summary} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
