"""The OpenAPI document shows the platform's name for the signature input and tenantmail's alias."""

from __future__ import annotations

import json

from tenantmail.entrypoints.api.openapi_export import render


def test_post_configuration_documents_signature_request_with_signature_as_its_alias() -> None:
    schemas = json.loads(render())["components"]["schemas"]
    body = schemas["ConfigurationIn"]
    primary, alias = body["properties"]["signatureRequest"], body["properties"]["signature"]
    assert primary["$ref"] == alias["$ref"] == "#/components/schemas/SignatureIn"
    assert "x-alias-of" not in primary and alias["x-alias-of"] == "signatureRequest"
    assert "Alias of `signatureRequest`" in alias["description"]
    assert body["required"] == ["sendingDomainSlug"]  # which of the two is the oneOf's business
    assert body["oneOf"] == [{"required": ["signatureRequest"]}, {"required": ["signature"]}]
    assert body["examples"][0]["signatureRequest"]["fromName"] == "Acme Co"
    assert "signature" in schemas["ConfigurationOut"]["required"]  # answers keep `signature`
    assert "signatureRequest" not in schemas["ConfigurationOut"]["properties"]
