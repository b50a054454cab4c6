"""Key rotation end to end: sends and webhooks keep working before, during and after a rotation.

The real path throughout: ``POST /job`` → worker → sandbox → Delivery webhook over HTTP to our
API with the installed HttpAuth, answered 200 (a wrong password would be 401). Tokens and webhook passwords start under v1.
"""

from __future__ import annotations

import httpx
import pytest

from tenantmail.adapters.keyregistry import remove_version as remove_from_file
from tenantmail.adapters.keyregistry import rotate_registry_file
from tenantmail.bootstrap import Container
from tenantmail.domain.configuration import EmailConfiguration
from tenantmail.services import rotate_keys
from tenantmail.services.detect_drift import detect_drift
from tests.drift_support import installed_webhook, provisioned, sandbox_control
from tests.helpers import eventually, send_body

pytestmark = pytest.mark.usefixtures("engine")  # engine: empty tables


async def delivered(api: httpx.AsyncClient, app: Container, config: EmailConfiguration, key: str) -> None:
    """Postmark accepted the send (job SENT or later) and its Delivery webhook was answered 200."""
    accepted = await api.post("/job", json=send_body(config.e_id), headers={"Idempotency-Key": key})
    assert accepted.status_code == 202, accepted.text

    async def message_id() -> str | None:
        return (await api.get(f"/job/{accepted.json()['eId']}")).json()["payload"]["messageId"]

    sent = await eventually(message_id, timeout=15)

    async def answered() -> list[int]:
        attempts = await sandbox_control(app, "GET", "/webhook-attempts", params={"record_type": "Delivery"})
        return [a["status"] for a in attempts if a["message_id"] == sent]

    assert await eventually(answered, timeout=15) == [200]


async def test_sends_and_webhooks_work_through_rotation_sweep_and_removal(
    api: httpx.AsyncClient, app_container: Container, live_api: str, worker: None,
) -> None:
    ctx, registry = app_container.ctx, app_container.registry
    config = await provisioned(app_container, "acme", unlocked=True)
    v1 = registry.current_version
    await delivered(api, app_container, config, "before-rotation")

    v2 = rotate_registry_file(registry.path)
    registry.refresh()
    await delivered(api, app_container, config, "after-rotation")  # v1 token still decrypts, v1 webhook password still accepted

    # the background worker's own sweep tick may get there first: what counts is that none is left
    result = await rotate_keys.sweep(ctx)
    assert result.skipped == {}
    assert (await rotate_keys.key_status(ctx)).tokens_per_version == {v2: 1}
    assert (await installed_webhook(app_container, config))["HttpAuth"]["Password"] == ctx.webhook_secrets.current(config.e_id)
    await delivered(api, app_container, config, "after-sweep")

    def remove(version: str) -> None:
        remove_from_file(registry.path, version)
        registry.refresh()

    await rotate_keys.remove_version(ctx, v1, remove)
    assert ctx.cipher.versions() == [v2]
    await delivered(api, app_container, config, "after-removal")
    assert (await rotate_keys.key_status(ctx)).tokens_per_version == {v2: 1}
    assert "registry_missing_key" not in {d.tag.value for d in (await detect_drift(ctx)).discrepancies}
