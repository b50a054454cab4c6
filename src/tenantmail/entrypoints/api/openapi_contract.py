"""``docs/openapi.json`` as the contract (SPEC §14): what FastAPI generates, made to say what the API does.

* **operationIds** are short verbs (:data:`OPERATION_IDS`, by route function name), given to
  FastAPI as its ``generate_unique_id_function``;
* **every answer is declared**: 400 on every operation (every path and query parameter is checked
  as header text, and every validation error is a 400), 413 on every operation with a body (the
  body limits), 401 on every authenticated one, 503 on every one that reads the database; FastAPI's
  own 422 ("Validation Error") entries are removed — this API answers validation with 400;
* **security schemes**: bearer (the API key) on every operation but the webhook (HTTP Basic) and
  the health routes (none); the ``Authorization`` header is no longer documented as a parameter;
* **links** from the operations that create a resource to those that read or change it;
* **405** for other methods is answered on every path with ``Allow`` listing all of the path's
  methods (:func:`method_not_allowed_routes`).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from tenantmail.entrypoints.api.errors import ApiError
from tenantmail.entrypoints.api.schemas import ERROR_DESCRIPTIONS, ErrorBody

#: route function name → operationId
OPERATION_IDS = {
    "post_job": "sendEmail", "post_job_batch": "sendEmailBatch", "get_job": "getJob", "list_jobs": "listJobs", "job_events": "listJobEvents",
    "receive_postmark_event": "receivePostmarkEvent",
    "post_configuration": "createConfiguration", "get_configurations": "listConfigurations",
    "get_one": "getConfiguration", "patch_configuration": "editConfiguration",
    "get_history": "getConfigurationHistory",
    "list_suppressions": "listSuppressions", "add_suppression": "addSuppression",
    "remove_suppression": "removeSuppression", "post_repair": "repairDrift",
    "get_tenant_limits": "getTenantLimits", "put_tenant_limits": "setTenantLimits",
    "healthz": "getHealth", "readyz": "getReadiness", "metrics": "getMetrics",
}
UNAUTHENTICATED = {"getHealth", "getReadiness", "getMetrics"}
BASIC = {"receivePostmarkEvent"}
NO_DATABASE = {"getHealth", "getMetrics"}
#: OpenAPI links (for clients, and schemathesis's stateful phase): an answer's eId (or recipient)
#: feeds the operations on that resource. operationId → status → link name → (target, parameters)
LINKS: dict[str, dict[str, dict[str, tuple[str, dict[str, str]]]]] = {
    "createConfiguration": {"201": {
        name: (target, {"eId": "$response.body#/eId"}) for name, target in (
            ("GetConfiguration", "getConfiguration"), ("GetConfigurationHistory", "getConfigurationHistory"),
            ("EditConfiguration", "editConfiguration"), ("LockConfiguration", "lockConfiguration"),
            ("UnlockConfiguration", "unlockConfiguration"), ("ProvisionConfiguration", "provisionConfiguration"),
        )
    }},
    "sendEmail": {"202": {"GetJob": ("getJob", {"eId": "$response.body#/eId"}),
                          "ListJobEvents": ("listJobEvents", {"eId": "$response.body#/eId"})}},
    "addSuppression": {"201": {"RemoveSuppression": ("removeSuppression", {"recipient": "$response.body#/recipient"})}},
}
SECURITY_SCHEMES = {
    "bearerAuth": {"type": "http", "scheme": "bearer", "description": "An API key from TENANTMAIL_API_KEYS."},
    "basicAuth": {"type": "http", "scheme": "basic",
                  "description": "Postmark's webhook: username = configuration eId, password = its webhook secret."},
}


def operation_id(route: APIRoute) -> str:
    """FastAPI's ``generate_unique_id_function``: the short verb of each route."""
    return OPERATION_IDS.get(route.name, route.name)


def _error(status: int) -> dict[str, Any]:
    return {"description": ERROR_DESCRIPTIONS[status],
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}}


def contract(api: FastAPI) -> dict[str, Any]:
    """The OpenAPI document of ``api``, completed as the module docstring says (cached on the app)."""
    if api.openapi_schema:
        return api.openapi_schema
    document = get_openapi(title=api.title, version=api.version, description=api.description, routes=api.routes)
    components = document.setdefault("components", {})
    components["securitySchemes"] = SECURITY_SCHEMES
    components.setdefault("schemas", {})["ErrorBody"] = ErrorBody.model_json_schema()
    for operations in document["paths"].values():
        for operation in operations.values():
            _complete(operation)
    for unused in ("HTTPValidationError", "ValidationError"):
        components["schemas"].pop(unused, None)
    api.openapi_schema = document
    return document


def _complete(operation: dict[str, Any]) -> None:
    op_id = operation["operationId"]
    responses = operation["responses"]
    if responses.get("422", {}).get("description") == "Validation Error":
        del responses["422"]
    wanted = {400}
    if "requestBody" in operation or op_id in BASIC:  # the webhook reads its body raw
        wanted.add(413)
    if op_id not in UNAUTHENTICATED:
        wanted.add(401)
    if op_id not in NO_DATABASE:
        wanted.add(503)
    for status in sorted(wanted):
        responses.setdefault(str(status), _error(status))
    for status, links in LINKS.get(op_id, {}).items():
        responses[status]["links"] = {name: {"operationId": target, "parameters": parameters}
                                      for name, (target, parameters) in links.items()}
    operation["parameters"] = [p for p in operation.get("parameters", []) if p["name"].lower() != "authorization"]
    if not operation["parameters"]:
        del operation["parameters"]
    if op_id in UNAUTHENTICATED:
        operation["security"] = []
    else:
        operation["security"] = [{"basicAuth": []}] if op_id in BASIC else [{"bearerAuth": []}]


def method_not_allowed_routes(routes: list[BaseRoute]) -> list[Route]:
    """One catch-all route per path, after all others: any method the path does not serve answers
    405 with ``Allow`` naming every method it does (Starlette alone names the first route's only,
    and a POST to ``…/history`` used to reach the signal route's 400)."""
    methods: dict[str, set[str]] = {}
    for route in iter_route_contexts(routes):  # included routers' routes too, with their prefixes
        if route.methods:
            methods.setdefault(route.path, set()).update(route.methods)
    return [Route(path, _Refuse(allowed), include_in_schema=False) for path, allowed in methods.items()]


class _Refuse:
    """An ASGI app (not a function: Starlette would then limit the route to GET) refusing any method."""

    def __init__(self, allowed: set[str]) -> None:
        self.allow = ", ".join(sorted(allowed))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise ApiError(405, "MethodNotAllowed", f"{scope['method']} is not allowed here; allowed: {self.allow}",
                       headers={"Allow": self.allow})
