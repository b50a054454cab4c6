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
