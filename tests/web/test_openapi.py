"""``GET /openapi.json``: an OpenAPI 3.1 document of every route, made from the routes' field
tables; and schemathesis against a live gunicorn (no 5xx, every response in its schema)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema_rs  # schemathesis's own JSON Schema library
import pytest
from flask import Flask
from flask.testing import FlaskClient
from support.web import GUNICORN_API_KEY, Gunicorn

from voiceapp.web import api, calls
from voiceapp.web.compat import feather, pathors, polyai, thunderphone
from voiceapp.web.fields import Field
from voiceapp.web.openapi import OPERATIONS, document, openapi_path

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def spec(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    data: dict[str, Any] = response.get_json()
    return data


def test_every_route_of_the_app_is_documented(app: Flask, spec: dict[str, Any]) -> None:
    routes = {
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS")
    }
    documented = {(op.rule, op.method) for op in OPERATIONS}
    assert routes - documented == set(), "routes without an OpenAPI operation"
    assert documented - routes == set(), "operations of routes the app does not have"
    for rule, method in routes:
        path = openapi_path(rule)
        if rule == "/v1/calls/<int:call_id>":
            path = "/v1/calls/{sid}"  # one OpenAPI path for both (see voiceapp.web.openapi)
        assert method.lower() in spec["paths"][path], (rule, method)


def test_the_document_is_openapi_3_1_with_valid_schemas(spec: dict[str, Any]) -> None:
    assert spec["openapi"] == "3.1.0"
    for name, schema in spec["components"]["schemas"].items():
        jsonschema_rs.meta.validate(schema)  # a valid JSON Schema (raises otherwise)
        assert name[0].isupper()
    for path, item in spec["paths"].items():
        for method, op in item.items():
            assert op["responses"], (path, method)
            for status, response in op["responses"].items():
                if status == "204":  # no content
                    assert "content" not in response, (path, method)
                    continue
                for media in response["content"].values():
                    assert "schema" in media


@pytest.mark.parametrize(
    ("path", "table"),
    [
        ("/v1/calls", calls.CALL_FIELDS),
        ("/v1/sessions", api.SESSION_FIELDS),
        ("/project/{project_id}/integration/phone/call/outbound", pathors.FIELDS),
        ("/v1/voice/outbound", feather.FIELDS),
        ("/v1/call", thunderphone.FIELDS),
        ("/v1/outbound-calling", polyai.FIELDS),
    ],
)
def test_request_bodies_are_the_field_tables(
    spec: dict[str, Any], path: str, table: dict[str, Field]
) -> None:
    body = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert list(body["properties"]) == list(table)
    assert body.get("required", []) == [n for n, f in table.items() if f.required]
    for name, field in table.items():
        assert body["properties"][name]["description"] == field.doc


def test_list_query_parameters_are_the_list_table(spec: dict[str, Any]) -> None:
    params = spec["paths"]["/v1/calls"]["get"]["parameters"]
    assert [p["name"] for p in params] == list(calls.LIST_FIELDS)
    assert all(p["in"] == "query" for p in params)


def test_a_new_field_appears_in_the_document(monkeypatch: pytest.MonkeyPatch) -> None:
    extra = Field("timeout", {"type": "integer"}, "Seconds to ring.")
    monkeypatch.setitem(calls.CALL_FIELDS, "timeout", extra)
    body = document()["paths"]["/v1/calls"]["post"]["requestBody"]["content"]
    assert body["application/json"]["schema"]["properties"]["timeout"]["type"] == "integer"


def test_call_errors_are_documented(spec: dict[str, Any]) -> None:
    call = spec["components"]["schemas"]["Call"]
    assert "error" in call["required"] and "trace" in call["properties"]
    get = spec["paths"]["/v1/calls/{sid}"]["get"]
    assert "problem+json" in next(iter(get["responses"]["404"]["content"]))


# -- schemathesis against the live server ----------------------------------------------------


def vendors_config(tmp_path: Path) -> Path:
    """examples/vendors.toml with one key for every vendor and the core (schemathesis sends
    the same headers to every route), the dialer external and a SQLite store."""
    text = (ROOT / "examples" / "vendors.toml").read_text(encoding="utf-8")
    keys = [
        "vendors-api-key-for-localhost-only",
        "pathors-key-for-localhost-only",
        "feather-key-for-localhost-only",
        "sk_live_thunder-key-for-localhost-only",
        "polyai-token-for-localhost-only",
    ]
    for key in keys:
        assert key in text, key
        text = text.replace(key, GUNICORN_API_KEY)
    # the inbound-only token is published too (production refuses it): a strong one
    text = text.replace("polyai-inbound-token-for-localhost", "Xq9mL2vTz8RwK4pN7bYc1sHd5gJf3aEu")
    text = text.replace('dialer = "embedded"', 'dialer = "external"')
    path = tmp_path / "voiceapp-vendors.toml"  # (schemathesis reads a schemathesis.toml)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.timeout(240)
def test_schemathesis_against_gunicorn(tmp_path: Path) -> None:
    config = vendors_config(tmp_path)
    store = f"sqlite:///{tmp_path / 'st.db'}"
    env = {"VOICEAPP_CONFIG": str(config), "PYTHONPATH": str(Path(__file__).parent)}
    app = "offline_app:create_app()"  # generated URLs' hosts are not looked up
    with Gunicorn(store, tmp_path, workers=2, app=app, env=env) as server:
        st = str(Path(sys.executable).with_name("st"))
        key = GUNICORN_API_KEY
        result = subprocess.run(
            [
                st,
                "run",
                f"{server.base}/openapi.json",
                "--checks",
                "not_a_server_error,response_schema_conformance,content_type_conformance",
                # readiness is 503 by contract here (no dialer runs): tests/web/test_web_ops.py
                "--exclude-path",
                "/v1/ready",
                "--max-examples",
                "15",
                "--seed",
                "12",
                "--workers",
                "2",
                "--request-timeout",
                "20",
                "-H",
                f"X-API-Key: {key}",
                "-H",
                f"Authorization: Bearer {key}",
                "-H",
                f"X-PolyAi-Auth-Token: {key}",
            ],
            capture_output=True,
            text=True,
            timeout=200,
            cwd=tmp_path,  # schemathesis keeps a .schemathesis/ cache in its folder
        )
        log = server.log.read_text(errors="replace")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:] + "\n--- gunicorn ---\n" + log[-3000:]
    selected = re.search(r"(\d+) selected / \d+ total", output)
    assert selected is not None
    assert f"Tested: {selected[1]}" in output  # every selected operation was exercised
    counts = re.search(r"(\d+) generated, (\d+) passed", output)
    assert counts is not None and counts[1] == counts[2] and int(counts[1]) > 500, output[-3000:]
    assert not re.search(r"\d+ (failed|errored)", output)
    assert "Traceback" not in log
