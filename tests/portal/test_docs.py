"""The OpenAPI schema and Swagger UI: served from the project (no CDN) and usable under the site's CSP."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from django.contrib.staticfiles import finders

from portal.api.matrix import api_routes
from tests.fixtures.api import token_client

pytestmark = pytest.mark.django_db


def test_swagger_ui_assets_are_local_and_nothing_is_inline() -> None:
    response = token_client(None).get("/api/v1/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert not re.search(r"https?://", html), "the docs page must not reference any external host"
    assert "<style" not in html and "<script>" not in html, "inline code is blocked by the CSP"
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    statics = [s for s in sources if s.startswith("/static/")]
    assert len(statics) >= 3
    for url in statics:
        assert finders.find(url.removeprefix("/static/")), url
    script = next(s for s in sources if "script" in s and not s.startswith("/static/"))
    init = token_client(None).get(script.replace("&amp;", "&"))
    assert init.status_code == 200 and init["Content-Type"].startswith("application/javascript")
    assert "/api/v1/schema/" in init.content.decode()


def test_schema_documents_every_api_operation() -> None:
    response = token_client(None).get("/api/v1/schema/")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    documented = {(path, method.upper()) for path, ops in schema["paths"].items() for method in ops}
    for api_route in api_routes():
        if api_route.name in ("api-schema", "api-docs"):
            continue
        path = api_route.display_path
        for method in api_route.methods:
            assert (path, method) in documented, f"{method} {path} is missing from the schema"
    error = schema["components"]["schemas"]["ErrorBody"]
    assert error["properties"]["error"]["required"] == ["code", "message", "fields"]
    upload = schema["paths"]["/api/v1/studies/"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert upload["schema"]["$ref"].endswith("/StudyUploadRequest")
    fields = schema["components"]["schemas"]["StudyUploadRequest"]["properties"]
    assert fields["image"]["format"] == "binary" and fields["images"]["items"]["format"] == "binary"


def test_model_endpoint_in_schema_has_its_shape(alice: Any) -> None:
    schema = yaml.safe_load(token_client(None).get("/api/v1/schema/").content)
    ok = schema["paths"]["/api/v1/model/"]["get"]["responses"]["200"]["content"]["application/json"]
    assert ok["schema"]["$ref"].endswith("/ModelInfo")
    assert {"version", "metrics", "metadata", "threshold"} <= schema["components"]["schemas"]["ModelInfo"][
        "properties"
    ].keys()


def test_worklist_page_documents_its_counts(carol: Any) -> None:
    schema = yaml.safe_load(token_client(None).get("/api/v1/schema/").content)
    ok = schema["paths"]["/api/v1/worklist/"]["get"]["responses"]["200"]["content"]["application/json"]
    page = schema["components"]["schemas"][ok["schema"]["$ref"].rsplit("/", 1)[-1]]
    body = token_client(carol).get("/api/v1/worklist/").json()
    assert set(body) == set(page["properties"]) == {"count", "next", "previous", "results", "counts"}


BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"


def test_schema_opens_in_a_browser_tab_and_api_clients_keep_yaml() -> None:
    """A browser's navigation gets JSON it displays (YAML as vnd.oai.openapi is saved as a file)."""
    browser = token_client(None).get("/api/v1/schema/", HTTP_ACCEPT=BROWSER_ACCEPT)
    assert browser.status_code == 200 and browser["Content-Type"].startswith("application/json")
    assert not browser.get("Content-Disposition", "").startswith("attachment")
    assert "/api/v1/studies/" in browser.json()["paths"]
    client = token_client(None).get("/api/v1/schema/")
    assert client["Content-Type"].startswith("application/vnd.oai.openapi")
    assert "/api/v1/studies/" in yaml.safe_load(client.content)["paths"]
    explicit = token_client(None).get("/api/v1/schema/?format=yaml", HTTP_ACCEPT=BROWSER_ACCEPT)
    assert explicit["Content-Type"].startswith("application/vnd.oai.openapi")
