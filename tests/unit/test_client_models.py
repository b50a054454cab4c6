"""The client against the contract: each typed model has exactly the fields of the schema it names
in docs/openapi.json, and every route of the API has a client method (and each method a route)."""

from __future__ import annotations

import json
import re
from dataclasses import fields
from pathlib import Path

import pytest

from tenantmail.client.api import DEFAULT_PREFIX, NOT_CLIENT_ROUTES, OPERATIONS, Client
from tenantmail.client.models import MODELS, attribute_name, json_name

OPENAPI = json.loads((Path(__file__).parents[2] / "docs" / "openapi.json").read_text())
SCHEMAS = OPENAPI["components"]["schemas"]


def _shape(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_each_model_has_exactly_the_fields_of_its_schema(model) -> None:  # type: ignore[no-untyped-def]
    assert model.SCHEMA in SCHEMAS, f"{model.__name__} names {model.SCHEMA}, which docs/openapi.json lacks"
    assert {json_name(f.name) for f in fields(model)} == set(SCHEMAS[model.SCHEMA].get("properties", {}))


def test_every_route_has_a_client_method_and_every_method_a_route() -> None:
    routes = {(method.upper(), _shape(path.removeprefix(DEFAULT_PREFIX)))
              for path, item in OPENAPI["paths"].items() if path.startswith(DEFAULT_PREFIX)
              for method in item if method in ("get", "post", "put", "patch", "delete")}
    covered = {(m, _shape(p)) for m, p in OPERATIONS.values()} | {(m, _shape(p)) for m, p in NOT_CLIENT_ROUTES}
    assert routes == covered
    assert all(callable(getattr(Client, name)) for name in OPERATIONS)


def test_each_method_is_named_after_its_routes_operation_id() -> None:
    ids = {(method.upper(), _shape(path.removeprefix(DEFAULT_PREFIX))): item[method]["operationId"]
           for path, item in OPENAPI["paths"].items() if path.startswith(DEFAULT_PREFIX)
           for method in item if method in ("get", "post", "put", "patch", "delete")}
    for name, (method, path) in OPERATIONS.items():
        assert attribute_name(ids[(method, _shape(path))]) == name


@pytest.mark.parametrize("name", ["configurationEId", "eId", "rId", "lastError", "class", "deliveryEId", "subjectId"])
def test_json_names_round_trip(name: str) -> None:
    assert json_name(attribute_name(name)) == name


def test_request_bodies_use_only_fields_of_their_schemas() -> None:
    client = Client("http://unused", "k", "t")
    send = client._send_request("c", "r@example.com", "s", html_body="<p>x</p>", text_body="x", reply_to_email="a@b.c",
                                from_local_part="x", attachments=[], idempotency_key="k")
    assert set(send.json) <= set(SCHEMAS["SendIn"]["properties"])
    assert send.headers["Idempotency-Key"] == "k"
    generated = client._send_request("c", "r@example.com", "s", html_body=None, text_body="x", reply_to_email=None,
                                     from_local_part=None, attachments=None, idempotency_key=None)
    assert generated.headers["Idempotency-Key"].startswith("tmc-")
