"""Swagger UI really renders in Chromium under the site's CSP, with every operation and no CSP violation."""

from __future__ import annotations

from typing import Any

import pytest

from portal.api.matrix import api_routes
from tests.e2e.conftest import page  # noqa: F401 - the headless Chromium fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_swagger_ui_renders_every_operation(page: Any) -> None:  # noqa: F811
    page.goto("/api/v1/docs/")
    page.wait_for_selector(".opblock")
    expected = sum(len(r.methods) for r in api_routes() if r.name not in ("api-schema", "api-docs"))
    assert page.locator(".opblock").count() == expected
    assert "Airspace API" in page.locator(".title").first.inner_text()
    assert page.js_errors == []
