"""PostmarkClient against the Postmark emulator over real HTTP (uvicorn on loopback).

Every adapter call runs against ``tenantmail.sandbox``, and the fields postmark-api.md documents are
checked on our side of the mapping (names, types, error codes and classes). Signatures are verified
the real way: the DKIM and Return-Path records are written to moto's Route 53 with
``Route53DnsGateway`` and the emulator reads them back.
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime

import httpx
import pytest

from tenantmail.adapters.postmark import client as client_module
from tenantmail.adapters.postmark.client import PostmarkClient, PostmarkServerClient
from tenantmail.adapters.postmark.errors import (
    PostmarkAmbiguousError,
    PostmarkConfigurationError,
    PostmarkError,
    PostmarkPermanentError,
    PostmarkRecipientError,
    PostmarkTransientError,
)
from tenantmail.adapters.route53 import Route53DnsGateway
from tenantmail.domain.send_errors import SendErrorClass
from tenantmail.sandbox.app import create_app
from tenantmail.sandbox.route53_local import ensure_zone, start_route53
from tenantmail.sandbox.runner import ThreadedUvicorn
from tenantmail.services.ports import (
    DnsRecord,
    MessageAddress,
    OutboundEmail,
    PostmarkServer,
    PostmarkServerEdit,
    PostmarkSignature,
)

ACCOUNT_TOKEN = "contract-account-token"
ZONE = "contract.example.com"
BOUNCE_TESTING = "bounce-testing.postmarkapp.com"  # <Type>@ addresses bounce with that type
AWS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


# --- the real things: moto's Route 53 and the emulator under uvicorn --------------------------


@pytest.fixture(scope="module")
def route53_endpoint() -> Iterator[str]:
    route53 = start_route53()
    yield route53.endpoint_url
    route53.stop()


@pytest.fixture(scope="module")
def dns(route53_endpoint: str) -> Route53DnsGateway:
    zone_id = ensure_zone(route53_endpoint, ZONE)
    return Route53DnsGateway(zone_id, endpoint_url=route53_endpoint, **AWS)


@pytest.fixture(scope="module")
def emulator_url(route53_endpoint: str) -> Iterator[str]:
    app = create_app(account_token=ACCOUNT_TOKEN, route53_endpoint_url=route53_endpoint)
    http = ThreadedUvicorn(app).start()
    yield http.base_url
    http.stop()


@pytest.fixture
async def postmark(emulator_url: str) -> AsyncIterator[PostmarkClient]:
    async with PostmarkClient(emulator_url, ACCOUNT_TOKEN, timeout=5) as client:
        yield client


@pytest.fixture
async def faults(emulator_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The emulator's control API; every rule a test leaves behind is cleared afterwards."""
    headers = {"X-Postmark-Account-Token": ACCOUNT_TOKEN}
    async with httpx.AsyncClient(base_url=f"{emulator_url}/_sandbox", headers=headers) as control:
        yield control
        await control.delete("/faults")


async def inject(control: httpx.AsyncClient, **rule: object) -> None:
    response = await control.post("/faults", json=rule)
    response.raise_for_status()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclass
class Tenant:
    api: PostmarkServerClient
    token: str
    sender: str
    signature: PostmarkSignature


@pytest.fixture
async def tenant(postmark: PostmarkClient, dns: Route53DnsGateway) -> Tenant:
    """A server and a sender whose domain is verified through real DNS records."""
    server = await postmark.account.create_server(unique("tm-contract"), delivery_type="Sandbox")
    domain = f"{unique('t')}.{ZONE}"
    signature = await postmark.account.create_signature(
        from_email=f"shop@{domain}",
        name="Shop",
        reply_to=None,
        return_path_domain=f"pm-bounces.{domain}",
    )
    await dns.upsert_records(
        [
            DnsRecord(name=signature.dkim_host, type="TXT", value=signature.dkim_value),
            DnsRecord(
                name=signature.return_path_domain,
                type="CNAME",
                value=signature.return_path_cname_value,
            ),
        ]
    )
    verified = await postmark.account.get_signature(
        signature.signature_id
    )  # Postmark re-checks DNS on read
    return Tenant(postmark.server(server.api_token), server.api_token, f"shop@{domain}", verified)


def email(tenant: Tenant, to: str, **fields: object) -> OutboundEmail:
    defaults: dict[str, object] = {"subject": "Order shipped", "text_body": "Your order shipped."}
    return OutboundEmail(from_address=f'"Shop" <{tenant.sender}>', to=to, **{**defaults, **fields})


# --- servers (account token) --------------------------------------------------------------------


async def test_server_lifecycle_maps_every_field(postmark):
    name = unique("tm-acme")
    created = await postmark.account.create_server(name, delivery_type="Sandbox")
    assert isinstance(created.server_id, int)
    assert (created.name, created.delivery_type) == (name, "Sandbox")
    assert created.api_token and created.api_token not in repr(created)
    assert await postmark.account.get_server(created.server_id) == created
    assert [s.server_id for s in await postmark.account.list_servers(name)] == [created.server_id]
    await postmark.account.delete_server(created.server_id)
    with pytest.raises(PostmarkError) as caught:
        await postmark.account.get_server(created.server_id)
    assert caught.value.is_not_found and caught.value.error_code == 601


async def test_listing_servers_reads_every_page(postmark, monkeypatch):
    prefix = unique("tm-page")
    created = {
        (await postmark.account.create_server(f"{prefix}-{i}", delivery_type="Live")).server_id
        for i in range(5)
    }
    monkeypatch.setattr(client_module, "PAGE_SIZE", 2)
    assert {s.server_id for s in await postmark.account.list_servers(prefix)} == created


async def test_a_duplicate_server_name_is_a_permanent_603(postmark):
    name = unique("tm-dup")
    await postmark.account.create_server(name, delivery_type="Live")
    with pytest.raises(PostmarkPermanentError) as caught:
        await postmark.account.create_server(name, delivery_type="Live")
    assert (caught.value.http_status, caught.value.error_code) == (422, 603)
    assert not caught.value.is_not_found


async def test_a_bad_account_token_is_a_401_configuration_error(emulator_url):
    async with PostmarkClient(emulator_url, "not-the-token", timeout=5) as client:
        with pytest.raises(PostmarkConfigurationError) as caught:
            await client.account.list_servers()
    assert (caught.value.http_status, caught.value.error_code) == (401, 10)
    assert "not-the-token" not in str(caught.value)


async def test_editing_a_server_changes_only_the_given_fields_and_maps_the_whole_object(postmark):
    created = await postmark.account.create_server(unique("tm-edit"), delivery_type="Sandbox")
    renamed = unique("tm-edited")
    changes = PostmarkServerEdit(
        name=renamed, color="green", track_opens=True, track_links="HtmlAndText",
        inbound_spam_threshold=10, include_bounce_content_in_hook=True,
    )
    details = await postmark.account.edit_server(created.server_id, changes)
    assert details.server == PostmarkServer(
        created.server_id, renamed, "Sandbox", created.api_token
    )
    assert (details.color, details.track_opens, details.track_links) == (
        "Green", True, "HtmlAndText",
    )
    assert (details.inbound_spam_threshold, details.include_bounce_content_in_hook) == (10, True)
    # untouched settings keep their defaults
    assert (details.smtp_api_activated, details.raw_email_enabled) == (True, False)
    assert not (details.enable_smtp_api_error_hooks or details.post_first_open_only)
    assert details.server_link == (
        f"https://account.postmarkapp.com/servers/{created.server_id}/streams"
    )
    assert details.inbound_address == f"{details.inbound_hash}@inbound.postmarkapp.com"
    assert details.inbound_domain is None
    assert set(details.hook_urls) == {"Inbound", "Bounce", "Open", "Delivery", "Click"}
    assert (await postmark.account.get_server(created.server_id)).name == renamed


@pytest.mark.parametrize(
    ("changes", "code"),
    [(PostmarkServerEdit(), 609), (PostmarkServerEdit(color="Magenta"), 607),
     (PostmarkServerEdit(inbound_spam_threshold=7), 611)],
)
async def test_a_refused_server_edit_is_permanent(postmark, changes, code):
    created = await postmark.account.create_server(unique("tm-bad-edit"), delivery_type="Live")
    with pytest.raises(PostmarkPermanentError) as caught:
        await postmark.account.edit_server(created.server_id, changes)
    assert (caught.value.http_status, caught.value.error_code) == (422, code)
    assert not caught.value.is_not_found


async def test_editing_an_unknown_server_is_not_found_601(postmark):
    with pytest.raises(PostmarkError) as caught:
        await postmark.account.edit_server(999_999, PostmarkServerEdit(name=unique("tm-none")))
    assert caught.value.is_not_found and caught.value.error_code == 601


# --- sender signatures (account token) ----------------------------------------------------------


async def test_a_new_signature_carries_the_pending_dns_records(postmark):
    domain = f"{unique('sig')}.{ZONE}"
    signature = await postmark.account.create_signature(
        from_email=f"shop@{domain}",
        name="Shop",
        reply_to=f"help@{domain}",
        return_path_domain=f"pm-bounces.{domain}",
    )
    assert (signature.email_address, signature.name) == (f"shop@{domain}", "Shop")
    assert not (signature.confirmed or signature.dkim_verified or signature.return_path_verified)
    assert signature.dkim_host.endswith(f"._domainkey.{domain}")
    assert signature.dkim_value.startswith("k=rsa; p=")
    assert (signature.return_path_domain, signature.return_path_cname_value) == (
        f"pm-bounces.{domain}",
        "pm.mtasv.net",
    )
    listed = {s.signature_id: s for s in await postmark.account.list_signatures()}
    assert listed[signature.signature_id].email_address == signature.email_address


async def test_a_signature_verifies_once_its_records_are_in_route53(tenant, dns):
    verified = tenant.signature
    assert verified.confirmed and verified.dkim_verified and verified.return_path_verified
    published = {(r.name, r.type): r.value for r in await dns.list_records()}
    assert published[(verified.dkim_host, "TXT")] == verified.dkim_value
    assert published[(verified.return_path_domain, "CNAME")] == verified.return_path_cname_value


async def test_a_deleted_signature_is_not_found_501(postmark):
    domain = f"{unique('gone')}.{ZONE}"
    signature = await postmark.account.create_signature(
        from_email=f"shop@{domain}",
        name="Shop",
        reply_to=None,
        return_path_domain=f"pm-bounces.{domain}",
    )
    await postmark.account.delete_signature(signature.signature_id)
    with pytest.raises(PostmarkError) as caught:
        await postmark.account.delete_signature(signature.signature_id)
    assert caught.value.is_not_found and caught.value.error_code == 501


# --- domains (account token) -------------------------------------------------------------------


async def domain_id_of(postmark: PostmarkClient, name: str) -> int:
    [domain] = [d for d in await postmark.account.list_domains() if d.name == name]
    return domain.domain_id


async def test_a_verified_signatures_domain_carries_every_dns_field(postmark, tenant):
    name = tenant.sender.partition("@")[2]
    domain = await postmark.account.get_domain(await domain_id_of(postmark, name))
    assert domain.name == name
    assert (domain.dkim_verified, domain.weak_dkim, domain.dkim_update_status) == (
        True, False, "Verified",
    )
    assert (domain.dkim_host, domain.dkim_text_value) == (
        tenant.signature.dkim_host, tenant.signature.dkim_value,
    )
    assert (domain.dkim_pending_host, domain.dkim_pending_text_value) == ("", "")
    assert (domain.dkim_revoked_host, domain.dkim_revoked_text_value) == ("", "")
    assert domain.safe_to_remove_revoked_key is False
    assert (domain.return_path_domain, domain.return_path_verified) == (
        f"pm-bounces.{name}", True,
    )
    assert domain.return_path_cname_value == "pm.mtasv.net"
    assert (domain.spf_host, domain.spf_text_value) == (
        name, "v=spf1 a mx include:spf.mtasv.net ~all",
    )


async def test_the_verify_calls_move_a_domain_from_pending_to_verified(postmark, dns):
    name = f"{unique('dom')}.{ZONE}"
    await postmark.account.create_signature(
        from_email=f"shop@{name}", name="Shop", reply_to=None,
        return_path_domain=f"pm-bounces.{name}",
    )
    domain_id = await domain_id_of(postmark, name)
    pending = await postmark.account.verify_domain_dkim(domain_id)
    assert (pending.dkim_verified, pending.dkim_update_status, pending.dkim_host) == (
        False, "Pending", "",
    )
    assert pending.dkim_pending_host.endswith(f"pm._domainkey.{name}")
    assert pending.dkim_pending_text_value.startswith("k=rsa; p=")
    await dns.upsert_records(
        [DnsRecord(pending.dkim_pending_host, "TXT", pending.dkim_pending_text_value)]
    )
    verified = await postmark.account.verify_domain_dkim(domain_id)
    assert (verified.dkim_verified, verified.dkim_update_status) == (True, "Verified")
    assert (verified.dkim_host, verified.dkim_text_value) == (
        pending.dkim_pending_host, pending.dkim_pending_text_value,
    )
    assert not verified.return_path_verified
    await dns.upsert_records(
        [DnsRecord(pending.return_path_domain, "CNAME", pending.return_path_cname_value)]
    )
    assert (await postmark.account.verify_domain_return_path(domain_id)).return_path_verified


async def test_the_domain_list_has_brief_items(postmark, tenant):
    name = tenant.sender.partition("@")[2]
    [brief] = [d for d in await postmark.account.list_domains() if d.name == name]
    assert brief.dkim_verified and brief.return_path_verified
    assert (brief.dkim_host, brief.return_path_domain) == ("", "")


@pytest.mark.parametrize("call", ["get_domain", "verify_domain_dkim", "verify_domain_return_path"])
async def test_an_unknown_domain_is_not_found_510(postmark, call):
    with pytest.raises(PostmarkError) as caught:
        await getattr(postmark.account, call)(999_999)
    assert caught.value.is_not_found and caught.value.error_code == 510


# --- webhooks (server token) --------------------------------------------------------------------


async def test_webhook_lifecycle_maps_every_field(tenant):
    created = await tenant.api.create_webhook(
        url="http://127.0.0.1:9/hook",
        username="cfg-1",
        password="secret-1",
        triggers=frozenset({"Delivery", "Bounce", "SpamComplaint"}),
        headers={"X-Tenant": "acme"},
    )
    assert (created.url, created.message_stream, created.username) == (
        "http://127.0.0.1:9/hook",
        "outbound",
        "cfg-1",
    )
    assert created.triggers == {"Delivery", "Bounce", "SpamComplaint"}
    assert await tenant.api.get_webhook(created.webhook_id) == created
    edited = await tenant.api.edit_webhook(
        created.webhook_id, url="http://127.0.0.1:9/v2", username="cfg-1", password="s2"
    )
    assert (edited.url, edited.triggers) == ("http://127.0.0.1:9/v2", created.triggers)
    assert [w.webhook_id for w in await tenant.api.list_webhooks("outbound")] == [
        created.webhook_id
    ]
    assert await tenant.api.list_webhooks("broadcast") == []
    await tenant.api.delete_webhook(created.webhook_id)
    with pytest.raises(PostmarkError) as caught:
        await tenant.api.get_webhook(created.webhook_id)
    assert caught.value.is_not_found


async def test_a_bad_server_token_is_a_401_configuration_error(postmark):
    with pytest.raises(PostmarkConfigurationError) as caught:
        await postmark.server("made-up-token").list_webhooks()
    assert (caught.value.http_status, caught.value.error_code) == (401, 10)


# --- sending ------------------------------------------------------------------------------------


async def test_an_accepted_send_returns_its_message_id_and_time(tenant):
    outcome = await tenant.api.send_email(
        email(tenant, "buyer@example.org", metadata={"tm_job": "job-1"})
    )
    assert outcome.accepted and (outcome.error_code, outcome.message, outcome.to) == (
        0,
        "OK",
        "buyer@example.org",
    )
    assert str(uuid.UUID(outcome.message_id)) == outcome.message_id
    assert isinstance(outcome.submitted_at, datetime) and outcome.submitted_at.tzinfo is not None


async def test_a_message_without_a_body_is_an_invalid_request_300(tenant):
    with pytest.raises(PostmarkRecipientError) as caught:
        await tenant.api.send_email(email(tenant, "buyer@example.org", text_body=None))
    assert (caught.value.http_status, caught.value.error_code) == (422, 300)


async def test_sending_to_a_suppressed_recipient_is_a_recipient_error_406(tenant):
    await tenant.api.create_suppressions("outbound", ["gone@example.org"])
    with pytest.raises(PostmarkRecipientError) as caught:
        await tenant.api.send_email(email(tenant, "gone@example.org"))
    assert caught.value.error_code == 406
    assert caught.value.error_class is SendErrorClass.RECIPIENT


async def test_an_unknown_sender_is_a_configuration_error_400(tenant):
    with pytest.raises(PostmarkConfigurationError) as caught:
        await tenant.api.send_email(
            OutboundEmail(
                from_address=f"x@{unique('nobody')}.example.net",
                to="a@example.org",
                subject="s",
                text_body="t",
            )
        )
    assert caught.value.error_code == 400


async def test_batch_outcomes_come_back_in_request_order(tenant):
    await tenant.api.create_suppressions("outbound", ["blocked@example.org"])
    outcomes = await tenant.api.send_batch(
        [
            email(tenant, "one@example.org"),
            email(tenant, "blocked@example.org"),
            email(tenant, "two@example.org"),
        ]
    )
    assert [(o.to, o.accepted, o.error_code) for o in outcomes] == [
        ("one@example.org", True, 0),
        ("blocked@example.org", False, 406),
        ("two@example.org", True, 0),
    ]
    assert outcomes[0].message_id and outcomes[1].message_id is None


async def test_a_batch_over_500_messages_is_refused_whole_410(tenant):
    with pytest.raises(PostmarkPermanentError) as caught:
        await tenant.api.send_batch([email(tenant, f"r{i}@example.org") for i in range(501)])
    assert caught.value.error_code == 410


async def test_a_sent_message_is_found_by_its_job_metadata(tenant):
    job = unique("job")
    outcome = await tenant.api.send_email(
        email(tenant, "buyer@example.org", metadata={"tm_job": job, "tm_config": "c"})
    )
    [found] = await tenant.api.search_outbound({"tm_job": job})
    assert (found.message_id, found.recipients) == (outcome.message_id, ("buyer@example.org",))
    assert found.metadata == {"tm_job": job, "tm_config": "c"}
    assert found.status and isinstance(found.received_at, datetime)
    assert await tenant.api.search_outbound({"tm_job": unique("never-sent")}) == []


# --- message details and bounces (server token) -------------------------------------------------


async def test_message_details_carry_bodies_addresses_and_delivery_events(tenant):
    job = unique("job")
    outcome = await tenant.api.send_email(
        email(tenant, "buyer@example.org", html_body="<p>Shipped</p>", metadata={"tm_job": job})
    )
    details = await tenant.api.get_message_details(outcome.message_id)
    assert details.summary.message_id == outcome.message_id
    assert details.summary.recipients == ("buyer@example.org",)
    assert details.summary.metadata == {"tm_job": job}
    assert isinstance(details.summary.received_at, datetime)
    assert (details.message_stream, details.from_address, details.subject, details.tag) == (
        "outbound", f'"Shop" <{tenant.sender}>', "Order shipped", "",
    )
    assert details.to == (MessageAddress("buyer@example.org", ""),)
    assert (details.cc, details.bcc, details.attachments) == ((), (), ())
    assert (details.track_opens, details.track_links, details.sandboxed) == (False, "None", True)
    assert (details.text_body, details.html_body) == ("Your order shipped.", "<p>Shipped</p>")
    assert isinstance(details.raw_body, str)
    [delivered] = details.events
    assert (delivered.recipient, delivered.type) == ("buyer@example.org", "Delivered")
    assert isinstance(delivered.received_at, datetime)
    assert {"DeliveryMessage", "DestinationServer", "DestinationIP"} <= set(delivered.details)


async def test_another_servers_or_an_unknown_message_is_not_found_701(postmark, tenant):
    outcome = await tenant.api.send_email(email(tenant, "buyer@example.org"))
    other = await postmark.account.create_server(unique("tm-other"), delivery_type="Sandbox")
    for api, message_id in [
        (tenant.api, str(uuid.uuid4())),
        (postmark.server(other.api_token), outcome.message_id),
    ]:
        with pytest.raises(PostmarkError) as caught:
            await api.get_message_details(message_id)
        assert caught.value.is_not_found and caught.value.error_code == 701


async def test_a_hard_bounce_is_read_listed_and_reactivated(tenant):
    address = f"hardbounce@{BOUNCE_TESTING}"
    sent = await tenant.api.send_email(email(tenant, address, metadata={"tm_job": unique("j")}))
    [listed] = await tenant.api.list_bounces(email_filter="hardbounce@")
    bounce = await tenant.api.get_bounce(listed.bounce_id)
    assert bounce == listed  # list items lack Content; the sandbox's single record has none either
    assert (bounce.record_type, bounce.type, bounce.type_code, bounce.name) == (
        "Bounce", "HardBounce", 1, "Hard bounce",
    )
    assert (bounce.message_id, bounce.message_stream, bounce.email) == (
        sent.message_id, "outbound", address,
    )
    assert (bounce.from_address, bounce.subject, bounce.tag) == (
        f'"Shop" <{tenant.sender}>', "Order shipped", "",
    )
    assert bounce.description and bounce.details and isinstance(bounce.bounced_at, datetime)
    assert (bounce.inactive, bounce.can_activate, bounce.dump_available) == (True, True, False)
    assert isinstance(bounce.server_id, int)
    [event] = (await tenant.api.get_message_details(sent.message_id)).events
    assert (event.type, event.details["BounceID"]) == ("Bounced", str(bounce.bounce_id))
    with pytest.raises(PostmarkRecipientError):
        await tenant.api.send_email(email(tenant, address))
    activated = await tenant.api.activate_bounce(bounce.bounce_id)
    assert (activated.bounce_id, activated.inactive) == (bounce.bounce_id, False)
    assert (await tenant.api.send_email(email(tenant, address))).accepted is True
    assert await tenant.api.list_bounces(email_filter="nobody@", message_stream="outbound") == []


async def test_listing_bounces_reads_every_page(tenant, monkeypatch):
    for _ in range(3):
        await tenant.api.send_email(email(tenant, f"softbounce@{BOUNCE_TESTING}"))
    monkeypatch.setattr(client_module, "PAGE_SIZE", 2)
    bounces = await tenant.api.list_bounces()
    assert [b.type for b in bounces] == ["SoftBounce"] * 3
    assert len({b.bounce_id for b in bounces}) == 3


async def test_a_spam_complaint_cannot_be_reactivated_1003(tenant):
    await tenant.api.send_email(email(tenant, f"spamcomplaint@{BOUNCE_TESTING}"))
    [complaint] = await tenant.api.list_bounces(email_filter="spamcomplaint@")
    assert (complaint.record_type, complaint.type_code, complaint.can_activate) == (
        "SpamComplaint", 100001, False,
    )
    with pytest.raises(PostmarkPermanentError) as caught:
        await tenant.api.activate_bounce(complaint.bounce_id)
    assert (caught.value.http_status, caught.value.error_code) == (422, 1003)
    assert not caught.value.is_not_found


@pytest.mark.parametrize("call", ["get_bounce", "activate_bounce"])
async def test_an_unknown_bounce_is_not_found_1001(tenant, call):
    with pytest.raises(PostmarkError) as caught:
        await getattr(tenant.api, call)(999_999)
    assert caught.value.is_not_found and caught.value.error_code == 1001


# --- faults: transient and ambiguous ------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_forced_busy_answers_are_transient(tenant, faults, status):
    await inject(faults, kind="status", status=status, path="/email")
    with pytest.raises(PostmarkTransientError) as caught:
        await tenant.api.send_email(email(tenant, "buyer@example.org"))
    assert caught.value.http_status == status


async def test_a_response_dropped_after_processing_is_ambiguous_and_the_send_is_found(
    tenant, faults, emulator_url
):
    await inject(faults, kind="drop", path="/email", hold_seconds=5)
    job = unique("job")
    async with PostmarkClient(emulator_url, None, timeout=0.5) as impatient:
        with pytest.raises(PostmarkAmbiguousError) as caught:
            await impatient.server(tenant.token).send_email(
                email(tenant, "buyer@example.org", metadata={"tm_job": job})
            )
    assert caught.value.http_status is None
    [found] = await tenant.api.search_outbound({"tm_job": job})
    assert found.recipients == ("buyer@example.org",)


async def test_a_refused_connection_is_transient_even_for_a_send(tenant):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    async with PostmarkClient(f"http://127.0.0.1:{closed}", None, timeout=2) as client:
        with pytest.raises(PostmarkTransientError) as caught:
            await client.server(tenant.token).send_email(email(tenant, "buyer@example.org"))
    assert caught.value.http_status is None


async def test_a_send_whose_connection_is_reset_after_writing_is_ambiguous(tenant):
    """A bare loopback server that reads the request and hangs up without answering."""

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    async with (
        server,
        PostmarkClient(
            f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", None, timeout=2
        ) as client,
    ):
        with pytest.raises(PostmarkAmbiguousError):
            await client.server(tenant.token).send_batch([email(tenant, "buyer@example.org")])


async def test_a_bounce_activation_that_times_out_is_transient(tenant, faults, emulator_url):
    """PUT is idempotent: activating twice has the effect of once, so no answer means retry."""
    await inject(faults, kind="delay", path="/bounces/*", delay_seconds=2)
    async with PostmarkClient(emulator_url, None, timeout=0.3) as impatient:
        with pytest.raises(PostmarkTransientError):
            await impatient.server(tenant.token).activate_bounce(1)


async def test_a_read_that_times_out_is_transient(postmark, faults, emulator_url):
    await inject(faults, kind="delay", path="/servers", delay_seconds=2)
    async with PostmarkClient(emulator_url, ACCOUNT_TOKEN, timeout=0.3) as impatient:
        with pytest.raises(PostmarkTransientError):
            await impatient.account.list_servers()


# --- suppressions -------------------------------------------------------------------------------


async def test_suppressions_are_created_dumped_and_deleted_on_a_stream(tenant):
    await tenant.api.create_suppressions("outbound", ["a@example.org", "b@example.org"])
    dumped = {s.email_address: s for s in await tenant.api.dump_suppressions("outbound")}
    assert set(dumped) == {"a@example.org", "b@example.org"}
    entry = dumped["a@example.org"]
    assert (entry.reason, entry.origin) == ("ManualSuppression", "Customer")
    assert isinstance(entry.created_at, datetime)
    await tenant.api.delete_suppressions("outbound", ["a@example.org"])
    assert [s.email_address for s in await tenant.api.dump_suppressions("outbound")] == [
        "b@example.org"
    ]


async def test_more_than_50_suppressions_go_in_chunks(tenant):
    emails = [f"bulk{i}@example.org" for i in range(120)]
    await tenant.api.create_suppressions("outbound", emails)
    assert {s.email_address for s in await tenant.api.dump_suppressions("outbound")} == set(emails)


# --- emulator fidelity (issue 22): each formerly missing behaviour through our own client --------


async def test_message_streams_carry_a_creation_time_and_postmarks_handling_type(postmark):
    server = await postmark.account.create_server(unique("tm-streams"), delivery_type="Sandbox")
    streams = {s.stream_id: s for s in await postmark.server(server.api_token).list_message_streams()}
    assert set(streams) == {"outbound", "inbound"}
    outbound = streams["outbound"]
    assert (outbound.server_id, outbound.stream_type, outbound.unsubscribe_handling) == (
        server.server_id, "Transactional", "None",
    )
    assert isinstance(outbound.created_at, datetime) and outbound.archived_at is None
    only = await postmark.server(server.api_token).list_message_streams("Inbound")
    assert [s.stream_id for s in only] == ["inbound"]


async def send_tagged(emulator_url: str, tenant: Tenant, to: str, tag: str) -> None:
    """A tagged send over raw HTTP (``OutboundEmail`` has no tag field yet)."""
    headers = {"X-Postmark-Server-Token": tenant.token, "Accept": "application/json"}
    async with httpx.AsyncClient(base_url=emulator_url, headers=headers) as raw:
        answer = await raw.post("/email", json={"From": tenant.sender, "To": to, "Tag": tag,
                                                "Subject": "s", "TextBody": "t"})
    assert answer.json()["ErrorCode"] == 0, answer.text


async def test_bounces_are_filtered_by_tag(tenant, emulator_url):
    await send_tagged(emulator_url, tenant, f"hardbounce@{BOUNCE_TESTING}", "welcome")
    await send_tagged(emulator_url, tenant, f"softbounce@{BOUNCE_TESTING}", "receipt")
    assert [b.type for b in await tenant.api.list_bounces(tag="receipt")] == ["SoftBounce"]
    assert [b.tag for b in await tenant.api.list_bounces(tag="welcome")] == ["welcome"]
    assert await tenant.api.list_bounces(tag="never-used") == []


async def test_delivery_stats_count_bounces_per_type_and_inactive_addresses(tenant):
    empty = await tenant.api.delivery_stats()
    assert (empty.inactive_mails, [(b.name, b.count) for b in empty.bounces]) == (0, [("All", 0)])
    await tenant.api.send_email(email(tenant, f"hardbounce@{BOUNCE_TESTING}"))
    await tenant.api.send_email(email(tenant, f"softbounce@{BOUNCE_TESTING}"))
    stats = await tenant.api.delivery_stats()
    by_name = {b.name: b for b in stats.bounces}
    assert by_name["All"].count == 2 and by_name["All"].type is None
    assert (by_name["Hard bounce"].type, by_name["Hard bounce"].type_code, by_name["Hard bounce"].count) == (
        "HardBounce", 1, 1,
    )
    assert (by_name["Soft bounce"].type, by_name["Soft bounce"].count) == ("SoftBounce", 1)
    assert stats.inactive_mails == 1


async def test_a_domain_is_created_verified_by_dns_edited_rotated_and_deleted(postmark, dns):
    name = f"{unique('dom')}.{ZONE}"
    created = await postmark.account.create_domain(name, return_path_domain=f"pm-bounces.{name}")
    assert (created.name, created.dkim_verified, created.dkim_update_status) == (name, False, "Pending")
    assert created.dkim_pending_host.endswith(f"pm._domainkey.{name}") and not created.dkim_host
    assert (created.return_path_domain, created.return_path_cname_value) == (
        f"pm-bounces.{name}", "pm.mtasv.net",
    )
    await dns.upsert_records([
        DnsRecord(created.dkim_pending_host, "TXT", created.dkim_pending_text_value),
        DnsRecord(created.return_path_domain, "CNAME", created.return_path_cname_value),
    ])
    verified = await postmark.account.verify_domain_dkim(created.domain_id)
    assert (verified.dkim_verified, verified.dkim_host) == (True, created.dkim_pending_host)
    assert (await postmark.account.verify_domain_return_path(created.domain_id)).return_path_verified
    # any address at a verified domain may send, without a sender signature
    server = await postmark.account.create_server(unique("tm-dom"), delivery_type="Sandbox")
    for local in ("billing", "orders"):
        sent = await postmark.server(server.api_token).send_email(
            OutboundEmail(from_address=f"{local}@{name}", to="a@example.org", subject="s", text_body="t"))
        assert sent.accepted
    # a new Return-Path domain must verify again
    edited = await postmark.account.edit_domain(created.domain_id, return_path_domain=f"bounces.{name}")
    assert (edited.return_path_domain, edited.return_path_verified) == (f"bounces.{name}", False)
    # rotation: a new key is pending beside the current one, then replaces it once published
    rotated = await postmark.account.rotate_domain_dkim(created.domain_id)
    assert (rotated.dkim_host, rotated.dkim_update_status) == (verified.dkim_host, "Pending")
    assert rotated.dkim_pending_host not in ("", verified.dkim_host)
    with pytest.raises(PostmarkPermanentError) as twice:
        await postmark.account.rotate_domain_dkim(created.domain_id)
    assert twice.value.error_code == 505
    await dns.upsert_records([DnsRecord(rotated.dkim_pending_host, "TXT", rotated.dkim_pending_text_value)])
    after = await postmark.account.verify_domain_dkim(created.domain_id)
    assert (after.dkim_host, after.dkim_revoked_host) == (rotated.dkim_pending_host, verified.dkim_host)
    assert after.safe_to_remove_revoked_key and after.dkim_update_status == "Verified"
    await postmark.account.delete_domain(created.domain_id)
    with pytest.raises(PostmarkError) as gone:
        await postmark.account.get_domain(created.domain_id)
    assert gone.value.is_not_found and gone.value.error_code == 510


@pytest.mark.parametrize(("name", "code"), [("", 514), ("x" * 256, 515), ("not a domain", 516)])
async def test_a_bad_domain_name_is_refused(postmark, name, code):
    with pytest.raises(PostmarkPermanentError) as caught:
        await postmark.account.create_domain(name, return_path_domain="")
    assert caught.value.error_code == code


async def test_an_existing_domain_is_refused_512_and_a_foreign_return_path_511(postmark):
    name = f"{unique('dup')}.{ZONE}"
    await postmark.account.create_domain(name, return_path_domain=f"pm-bounces.{name}")
    with pytest.raises(PostmarkPermanentError) as duplicate:
        await postmark.account.create_domain(name, return_path_domain=f"pm-bounces.{name}")
    assert duplicate.value.error_code == 512
    with pytest.raises(PostmarkPermanentError) as foreign:
        await postmark.account.create_domain(f"x{name}", return_path_domain="pm.elsewhere.org")
    assert foreign.value.error_code == 511


async def test_a_signature_is_edited_and_its_confirmation_resent_until_confirmed(postmark, tenant):
    domain = f"{unique('edit')}.{ZONE}"
    signature = await postmark.account.create_signature(
        from_email=f"shop@{domain}", name="Shop", reply_to=None,
        return_path_domain=f"pm-bounces.{domain}",
    )
    edited = await postmark.account.edit_signature(
        signature.signature_id, name="Shop & Co", reply_to=f"help@{domain}",
        return_path_domain=f"bounces.{domain}",
    )
    assert (edited.name, edited.return_path_domain, edited.confirmed) == (
        "Shop & Co", f"bounces.{domain}", False,
    )
    await postmark.account.resend_signature_confirmation(signature.signature_id)
    with pytest.raises(PostmarkPermanentError) as confirmed:  # the tenant's domain is verified
        await postmark.account.resend_signature_confirmation(tenant.signature.signature_id)
    assert confirmed.value.error_code == 506
    with pytest.raises(PostmarkPermanentError) as nameless:
        await postmark.account.edit_signature(signature.signature_id, name="")
    assert nameless.value.error_code == 520
