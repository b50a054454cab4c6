"""The committed OpenAPI document is the one the code serves, and every route declares its errors."""

from __future__ import annotations

import json
from pathlib import Path

from tenantmail.entrypoints.api.openapi_export import render

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
UNDECLARED_OK = {"/healthz", "/metrics"}  # cannot fail in a way a client handles


def test_committed_openapi_document_is_current() -> None:
    assert COMMITTED.exists(), "run `make openapi` and commit docs/openapi.json"
    assert COMMITTED.read_text() == render(), "docs/openapi.json is stale: run `make openapi` and commit it"


def test_every_route_declares_its_error_responses() -> None:
    document = json.loads(render())
    missing = []
    for path, operations in document["paths"].items():
        if path in UNDECLARED_OK or path.startswith("/console"):
            continue
        for method, operation in operations.items():
            statuses = {int(s) for s in operation["responses"] if s.isdigit()}
            if not any(s >= 400 for s in statuses):
                missing.append(f"{method.upper()} {path}")
    assert missing == []


def test_the_document_is_the_contract_spec_14() -> None:
    """Short verbs as operationIds, a summary and a description on each operation, ``eId`` as the
    only name of an eId path parameter, bearer auth as a security scheme, 400 everywhere and 413 on
    every body, and no FastAPI 422 for what this API answers 400."""
    document = json.loads(render())
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "description": "An API key from TENANTMAIL_API_KEYS."}
    seen = set()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            op_id = operation["operationId"]
            assert op_id.isalnum() and op_id[0].islower() and len(op_id) <= 30, where
            assert op_id not in seen, where
            seen.add(op_id)
            assert operation.get("summary") and operation.get("description"), where
            names = [p["name"] for p in operation.get("parameters", []) if p["in"] == "path"]
            assert all(name in ("eId", "recipient") for name in names), where
            assert "{e_id}" not in path
            assert "authorization" not in [p["name"].lower() for p in operation.get("parameters", [])], where
            responses = operation["responses"]
            assert "400" in responses, where
            if "requestBody" in operation:
                assert "413" in responses, where
            if "422" in responses:
                assert op_id == "sendEmail", where  # the Idempotency-Key reused with another body
            if path.startswith("/v1/"):
                assert operation["security"] in ([{"bearerAuth": []}], [{"basicAuth": []}]), where
    assert {"sendEmail", "createConfiguration", "getJob", "receivePostmarkEvent"} <= seen
