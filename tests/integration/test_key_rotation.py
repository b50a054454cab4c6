"""Key rotation on both databases: status, the re-encryption sweep, webhook re-installation, removal."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from tenantmail.adapters.keyregistry import remove_version as remove_from_file
from tenantmail.adapters.keyregistry import rotate_registry_file
from tenantmail.bootstrap import Container
from tenantmail.domain.drift import RunStatus
from tenantmail.services import manage_notifications, rotate_keys
from tenantmail.services.detect_drift import detect_drift
from tests.drift_support import installed_webhook, provisioned, reload, server_token

pytestmark = pytest.mark.usefixtures("engine")  # engine: empty tables


def rotate(app: Container) -> tuple[str, str]:
    old = app.registry.current_version
    new = rotate_registry_file(app.registry.path)
    app.registry.refresh()
    return old, new


def remover(app: Container):  # type: ignore[no-untyped-def]
    def remove(version: str) -> None:
        remove_from_file(app.registry.path, version)
        app.registry.refresh()
    return remove


async def test_status_counts_tokens_per_version_and_unknown_webhooks(app_container: Container) -> None:
    await provisioned(app_container, "acme")
    await provisioned(app_container, "globex")
    old, new = rotate(app_container)
    await provisioned(app_container, "initech")

    status = await rotate_keys.key_status(app_container.ctx)

    assert (status.current, status.versions) == (new, [new, old])
    assert status.tokens_per_version == {old: 2, new: 1}
    assert status.stale_webhooks == 3  # never marked: installed before anyone recorded a version
    assert status.missing_versions == []


async def test_the_sweep_moves_tokens_and_webhooks_to_the_current_version(app_container: Container) -> None:
    config = await provisioned(app_container, "acme")
    token = server_token(app_container, config)
    old, new = rotate(app_container)
    old_password = (await installed_webhook(app_container, config))["HttpAuth"]["Password"]
    assert app_container.ctx.webhook_secrets.verify(config.e_id, old_password)  # still accepted after rotation

    result = await rotate_keys.sweep(app_container.ctx)

    assert (result.reencrypted, result.webhooks_reinstalled, result.skipped) == (1, 1, {})
    swept = await reload(app_container, config)
    assert app_container.ctx.cipher.key_version(swept.server_token_ciphertext or "") == new
    assert server_token(app_container, swept) == token
    installed = await installed_webhook(app_container, config)
    assert installed["HttpAuth"] == {"Username": config.e_id, "Password": app_container.ctx.webhook_secrets.current(config.e_id)}
    assert installed["Url"] == app_container.settings.webhook_url
    status = await rotate_keys.key_status(app_container.ctx)
    assert status.tokens_per_version == {new: 1} and status.stale_webhooks == 0
    async with app_container.ctx.uow("tenant-a") as uow:
        assert (await uow.configurations.history(config.e_id))[-1]["cause"] == rotate_keys.CAUSE


async def test_a_second_sweep_finds_nothing_left(app_container: Container) -> None:
    await provisioned(app_container, "acme")
    rotate(app_container)
    await rotate_keys.sweep(app_container.ctx)

    again = await rotate_keys.sweep(app_container.ctx)

    assert (again.reencrypted, again.webhooks_reinstalled) == (0, 0)


async def test_a_sweep_in_small_batches_reaches_every_row(app_container: Container) -> None:
    for slug in ("a1", "b2", "c3", "d4", "e5"):
        await provisioned(app_container, slug)
    rotate(app_container)

    result = await rotate_keys.sweep(app_container.ctx, batch_size=2)

    assert (result.reencrypted, result.webhooks_reinstalled) == (5, 5)


async def test_removing_a_version_is_refused_until_the_sweep_ran_then_drift_stays_clean(app_container: Container) -> None:
    await provisioned(app_container, "acme")
    old, new = rotate(app_container)

    with pytest.raises(rotate_keys.KeyVersionInUse, match="stored token"):
        await rotate_keys.remove_version(app_container.ctx, old, remover(app_container))
    with pytest.raises(rotate_keys.KeyVersionInUse, match="current"):
        await rotate_keys.remove_version(app_container.ctx, new, remover(app_container))
    await rotate_keys.sweep(app_container.ctx)
    await rotate_keys.remove_version(app_container.ctx, old, remover(app_container))

    assert app_container.ctx.cipher.versions() == [new]
    report = await detect_drift(app_container.ctx)
    assert report.status is RunStatus.CLEAN and report.counts["registry_missing_key"] == 0


async def test_removal_also_waits_for_webhooks_still_on_the_old_password(app_container: Container) -> None:
    config = await provisioned(app_container, "acme")
    old, _ = rotate(app_container)
    await app_container.ctx.postmark.account.delete_server(config.server_id or 0)  # edit_webhook will fail
    result = await rotate_keys.sweep(app_container.ctx)

    assert result.reencrypted == 1 and "edit_webhook failed" in result.skipped[config.e_id]
    with pytest.raises(rotate_keys.KeyVersionInUse, match="webhook"):
        await rotate_keys.remove_version(app_container.ctx, old, remover(app_container))


async def test_a_token_under_a_vanished_version_is_skipped_not_retried_forever(app_container: Container) -> None:
    lost = await provisioned(app_container, "acme")
    old, _ = rotate(app_container)
    await provisioned(app_container, "globex")
    remove_from_file(app_container.registry.path, old)  # behind the service's back: drift material
    app_container.registry.refresh()

    result = await rotate_keys.sweep(app_container.ctx)

    assert result.reencrypted == 0 and "not in the registry" in result.skipped[lost.e_id]
    assert (await rotate_keys.key_status(app_container.ctx)).missing_versions == [old]


async def test_the_sweep_tick_runs_once_per_interval(app_container: Container) -> None:
    await provisioned(app_container, "acme")
    rotate(app_container)
    now = app_container.ctx.clock()
    at = lambda moment: dataclasses.replace(app_container.ctx, clock=lambda: moment)  # noqa: E731

    assert await rotate_keys.sweep_tick(at(now)) == 2  # one token, one webhook
    assert await rotate_keys.sweep_tick(at(now + timedelta(seconds=1))) == 0


async def test_notification_signing_secrets_move_with_the_sweep_and_pin_their_version(app_container: Container) -> None:
    ctx = app_container.ctx
    endpoint, first = await manage_notifications.create_endpoint(ctx, "tenant-a", url="http://127.0.0.1:9/hook")
    _, second = await manage_notifications.rotate_secret(ctx, "tenant-a", endpoint.e_id)  # both sign for a day
    old, new = rotate(app_container)

    assert (await rotate_keys.key_status(ctx)).secrets_per_version == {old: 2}
    with pytest.raises(rotate_keys.KeyVersionInUse, match="notification signing secret"):
        await rotate_keys.remove_version(ctx, old, remover(app_container))
    result = await rotate_keys.sweep(ctx)

    assert (result.secrets_reencrypted, result.skipped) == (1, {})
    assert (await rotate_keys.key_status(ctx)).secrets_per_version == {new: 2}
    await rotate_keys.remove_version(ctx, old, remover(app_container))  # nothing depends on it any more
    async with ctx.uow("tenant-a") as uow:
        stored = await uow.notifications.get(endpoint.e_id)
    assert ctx.cipher.decrypt(stored.secret, aad=endpoint.e_id) == second
    assert ctx.cipher.decrypt(stored.previous_secret or "", aad=endpoint.e_id) == first
    assert (await rotate_keys.sweep(ctx)).secrets_reencrypted == 0
