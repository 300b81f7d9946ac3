"""Every cell of the permission matrix, generated from the URL conf: a route without a rule fails."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.urls import reverse

from portal.api.matrix import (
    ALLOWED,
    MATRIX,
    ROLES,
    ApiRoute,
    api_routes,
    matrix_markdown,
    missing_entries,
)
from tests.fixtures.api import Scene, token_client

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]
ROUTES = api_routes()
CASES = [(r, m) for r in ROUTES for m in r.methods]


def test_every_api_route_and_method_has_a_matrix_rule() -> None:
    assert ROUTES, "no /api/v1/ routes found in the URL conf"
    assert missing_entries(ROUTES) == [], "add these endpoints to diagnosis/api/matrix.py MATRIX"


def test_matrix_has_no_stale_rules() -> None:
    routed = {(r.name, m) for r in ROUTES for m in r.methods}
    stale = [(name, m) for name, rows in MATRIX.items() for m in rows if (name, m) not in routed]
    assert stale == []


def test_every_row_names_every_role() -> None:
    for name, rows in MATRIX.items():
        for method, row in rows.items():
            assert set(row) == set(ROLES), (name, method)
            assert all(cell in (ALLOWED, 401, 403) for cell in row.values()), (name, method)


def _url(api_route: ApiRoute, scene: Scene) -> str:
    """Reverse the route with real objects for its path arguments."""
    kwargs: dict[str, Any] = {}
    for arg in re.findall(r"<(?:\w+:)?(\w+)>", api_route.route):
        if arg == "pk":
            kwargs[arg] = scene.patient.pk if "/patients/" in api_route.route else scene.study.pk
        elif arg == "image_id":
            kwargs[arg] = scene.study.images.get().pk
        elif arg == "version":
            kwargs[arg] = 1  # the scene's study has no signed read: 404 past the role check
        elif arg == "notification_id":
            kwargs[arg] = 1  # nobody's notification: each role gets 404 past the role check
        elif arg == "delivery_id":
            kwargs[arg] = 1  # no such delivery: the admin gets 404; tests/integrations covers a real one
        else:
            pytest.fail(f"{api_route.name}: teach tests/portal/test_matrix.py what <{arg}> is")
    return reverse(api_route.name, kwargs=kwargs)


@pytest.mark.parametrize(("api_route", "method"), CASES, ids=[f"{r.name}-{m}" for r, m in CASES])
def test_matrix_cell(
    api_route: ApiRoute, method: str, role_users: dict[str, Any], scene: Scene, model_bundle: Any
) -> None:
    row = MATRIX.get(api_route.name, {}).get(method)
    assert row is not None, f"{api_route.name} {method} has no rule in diagnosis/api/matrix.py"
    url = _url(api_route, scene)
    for role in ROLES:
        response = token_client(role_users[role]).generic(method, url)
        expected = row[role]
        # Consume streams through the client's wrapper (calling close() here would close the DB connection).
        body = b"".join(response.streaming_content)[:0] if response.streaming else response.content[:200]
        where = f"{method} {url} as {role}: {response.status_code} {body!r}"
        assert response.status_code < 500, where
        if expected == ALLOWED:
            assert response.status_code not in (401, 403), where
        else:
            assert response.status_code == expected, where
            code = "not_authenticated" if expected == 401 else "permission_denied"
            assert response.json()["error"]["code"] == code, where


def test_docs_carry_the_current_matrix() -> None:
    text = (ROOT / "docs" / "API.md").read_text()
    assert matrix_markdown() in text, "run: python manage.py permission_matrix --write docs/API.md"


def test_permission_matrix_command_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    call_command("permission_matrix", "--markdown")
    out = capsys.readouterr().out
    assert out == matrix_markdown()
    assert "| `/api/v1/audit/` | GET |" in out
