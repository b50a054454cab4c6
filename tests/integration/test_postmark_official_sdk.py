"""The official Postmark SDK (``postmark-python``, pinned) against the emulator over real HTTP.

Every operation the SDK offers that the emulator serves is called here, through the SDK's own
strict pydantic models: a missing field, a wrong type or an unknown enum value in an emulator
answer fails the test. Retries are off (``retries=0``), so a 5xx is never hidden by a retry.

Operations the SDK offers that the emulator does not serve (docs/sandbox.md "Not modelled"):
templates, inbound messages and rules, stats, data removals, bulk sends, message dumps, opens and
clicks listings, creating/editing/archiving streams.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from postmark import AccountClient, ServerClient
from postmark.exceptions import PostmarkException
from postmark.models.bounces.enums import BounceType
from postmark.models.outbound import Email
from postmark.models.servers.enums import DeliveryType, ServerColor, TrackLinks

from tests.sandbox_fixtures import ACCOUNT_TOKEN, ZONE, Emulator, Receiver, eventually, unique

BOUNCE_TESTING = "bounce-testing.postmarkapp.com"


@pytest.fixture
async def account(emulator: Emulator) -> AsyncIterator[AccountClient]:
    async with AccountClient(ACCOUNT_TOKEN, retries=0, timeout=10, base_url=emulator.base_url) as client:
        yield client


async def _server_client(emulator: Emulator, token: str) -> ServerClient:
    return ServerClient(token, retries=0, timeout=10, base_url=emulator.base_url)


@pytest.fixture
async def tenant(emulator: Emulator, account: AccountClient) -> AsyncIterator[tuple[ServerClient, str, Any]]:
    """A server (SDK-created) and a From address on a domain verified through Route 53."""
    server = await account.server.create(unique("sdk"), delivery_type=DeliveryType.SANDBOX)
    sender = emulator.verified_sender()
    client = await _server_client(emulator, server.api_tokens[0])
    async with client:
        yield client, sender, server


def _email(sender: str, to: str, **fields: Any) -> Email:
    return Email(sender=f"Shop <{sender}>", to=to, subject="Hello", text_body="Hi", **fields)


async def test_servers_create_get_edit_list_and_delete(account: AccountClient) -> None:
    name = unique("sdk-srv")
    created = await account.server.create(name, delivery_type=DeliveryType.SANDBOX, track_opens=True)
    assert (created.name, created.delivery_type.value, created.track_opens) == (name, "Sandbox", True)
    assert (await account.server.get(created.id)).server_link == created.server_link
    edited = await account.server.edit(created.id, name=f"{name}-2", color=ServerColor.GREEN)
    assert (edited.name, str(edited.color.value)) == (f"{name}-2", "Green")
    page = await account.server.list(count=10, offset=0, name=f"{name}-2")
    assert [s.id for s in page.items] == [created.id] and page.total == 1
    deleted = await account.server.delete(created.id)
    assert deleted.error_code == 0 and name in deleted.message
    with pytest.raises(PostmarkException):
        await account.server.get(created.id)


async def test_own_server_get_and_edit(tenant) -> None:
    client, _, server = tenant
    assert (await client.server.get()).id == server.id
    assert (await client.server.edit(track_links=TrackLinks.HTML_ONLY)).track_links.value == "HtmlOnly"


async def test_domains_every_operation(emulator: Emulator, account: AccountClient) -> None:
    name = f"{unique('sdk')}.{ZONE}"
    created = await account.domain.create(name, return_path_domain=f"pm-bounces.{name}")
    assert (created.name, created.dkim_verified, created.dkim_update_status) == (name, False, "Pending")
    page = await account.domain.list(count=500, offset=0)
    assert created.id in {d.id for d in page.items}
    emulator.publish_dns({**created.model_dump(by_alias=True)})
    verified = await account.domain.verify_dkim(created.id)
    assert verified.dkim_verified and verified.dkim_host == created.dkim_pending_host
    assert (await account.domain.verify_return_path(created.id)).return_path_domain_verified
    assert (await account.domain.get(created.id)).dkim_update_status == "Verified"
    edited = await account.domain.edit(created.id, return_path_domain=f"rp.{name}")
    assert (edited.return_path_domain, edited.return_path_domain_verified) == (f"rp.{name}", False)
    rotated = await account.domain.rotate_dkim(created.id)
    assert rotated.dkim_pending_host and rotated.dkim_host == verified.dkim_host
    spf = await account.domain.verify_spf(created.id)
    assert (spf.spf_host, spf.spf_verified) == (name, False)
    deleted = await account.domain.delete(created.id)
    assert deleted.error_code == 0 and name in deleted.message


async def test_sender_signatures_every_operation(account: AccountClient) -> None:
    domain = f"{unique('sig')}.{ZONE}"
    created = await account.signature.create(f"shop@{domain}", "Shop", reply_to=f"help@{domain}",
                                             return_path_domain=f"pm-bounces.{domain}")
    assert (created.email_address, created.confirmed, created.dkim_update_status) == (
        f"shop@{domain}", False, "Pending")
    page = await account.signature.list(count=500, offset=0)
    assert created.id in {s.id for s in page.items}
    assert (await account.signature.get(created.id)).reply_to_email_address == f"help@{domain}"
    edited = await account.signature.edit(created.id, name="Shop & Co")
    assert edited.name == "Shop & Co"
    resent = await account.signature.resend_confirmation(created.id)
    assert resent.error_code == 0 and f"shop@{domain}" in resent.message
    assert (await account.signature.verify_spf(created.id)).spf_verified is False
    with pytest.raises(PostmarkException) as pending:  # the first key is still pending
        await account.signature.request_new_dkim(created.id)
    assert pending.value.error_code == 505
    assert (await account.signature.delete(created.id)).error_code == 0


async def test_sending_searching_and_message_details(tenant) -> None:
    client, sender, _ = tenant
    sent = await client.outbound.send(_email(sender, "reader@example.net", tag="sdk",
                                             metadata={"send_id": "s-1"}))
    assert sent.error_code == 0 and sent.message_id
    # (a refused batch item carries only ErrorCode and Message, on Postmark as here; the SDK's
    # SendResponse model requires To and MessageID, so only accepted items are sent through it)
    batch = await client.outbound.send_batch([_email(sender, "a@example.net"),
                                              _email(sender, "b@example.net")])
    assert [r.error_code for r in batch] == [0, 0] and all(r.message_id for r in batch)
    page = await client.outbound.list(count=10, offset=0, metadata={"send_id": "s-1"})
    assert [m.message_id for m in page.items] == [sent.message_id]
    streamed = [m async for m in client.outbound.stream(batch_size=1, max_messages=5)]
    assert len(streamed) == 3
    details = await client.outbound.get(sent.message_id)
    assert details.message_id == sent.message_id and details.text_body == "Hi"


async def test_bounces_every_operation(tenant) -> None:
    client, sender, _ = tenant
    await client.outbound.send(_email(sender, f"hardbounce@{BOUNCE_TESTING}", tag="t1"))
    await client.outbound.send(_email(sender, f"softbounce@{BOUNCE_TESTING}", tag="t2"))
    stats = await client.bounces.get_delivery_stats()
    assert stats.inactive_mails == 1
    assert {b.name: b.count for b in stats.bounces} == {"All": 2, "Hard bounce": 1, "Soft bounce": 1}
    tagged = await client.bounces.list(count=10, offset=0, tag="t1")
    assert [b.type for b in tagged.items] == [BounceType.HARD_BOUNCE]
    assert [b.id async for b in client.bounces.stream(batch_size=1, max_bounces=10)] != []
    hard = await client.bounces.get(tagged.items[0].id)
    assert hard.inactive and hard.can_activate
    assert (await client.bounces.get_dump(hard.id)).body == ""
    activated = await client.bounces.activate(hard.id)
    assert activated.bounce.id == hard.id and not activated.bounce.inactive


async def test_message_streams_list_and_get(tenant) -> None:
    client, _, server = tenant
    streams = await client.stream.list()
    assert {s.id for s in streams.items} == {"outbound", "inbound"} and streams.total == 2
    outbound = await client.stream.get("outbound")
    assert outbound.server_id == server.id and outbound.created_at is not None
    assert outbound.subscription_management_configuration.unsubscribe_handling_type.value == "None"


async def test_webhooks_every_operation(tenant, webhook_receiver: Receiver) -> None:
    client, sender, _ = tenant
    created = await client.webhooks.create(
        webhook_receiver.url, message_stream="outbound",
        http_auth={"Username": "u", "Password": "p"},
        triggers={"Delivery": {"Enabled": True}, "Open": {"Enabled": True, "PostFirstOpenOnly": False}})
    assert created.url == webhook_receiver.url and created.triggers.delivery.enabled
    assert [w.id for w in await client.webhooks.list(message_stream="outbound")] == [created.id]
    assert (await client.webhooks.get(created.id)).http_auth.username == "u"
    edited = await client.webhooks.edit(created.id, triggers={"Click": {"Enabled": True}})
    assert edited.triggers.click.enabled and edited.triggers.delivery.enabled
    await client.outbound.send(_email(sender, "reader@example.net"))
    eventually(lambda: webhook_receiver.bodies("Delivery"))
    assert (await client.webhooks.delete(created.id)).error_code == 0


async def test_suppressions_dump_create_and_delete(tenant) -> None:
    client, _, _ = tenant
    created = await client.suppressions.create("outbound", ["gone@example.net"])
    assert [s.status for s in created] == ["Suppressed"]
    dumped = await client.suppressions.dump("outbound")
    assert [(s.email_address, s.origin.value) for s in dumped] == [("gone@example.net", "Customer")]
    deleted = await client.suppressions.delete("outbound", ["gone@example.net"])
    assert [s.status for s in deleted] == ["Deleted"]
    assert await client.suppressions.dump("outbound") == []
