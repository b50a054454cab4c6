"""PascalCase wire format ↔ port dataclasses (postmark-api.md §2–§9)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from tenantmail.adapters.postmark import payloads
from tenantmail.services.ports import Attachment, MessageAddress, OutboundEmail, PostmarkServerEdit

EASTERN = timezone(timedelta(hours=-5))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "2014-02-17T07:25:01.4178645-05:00",
            datetime(2014, 2, 17, 7, 25, 1, 417864, tzinfo=EASTERN),
        ),
        (
            "2014-02-17T07:25:01.4178655-05:00",
            datetime(2014, 2, 17, 7, 25, 1, 417866, tzinfo=EASTERN),
        ),
        ("2024-01-02T03:04:05Z", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2024-01-02T03:04:05.5+02:00", datetime(2024, 1, 2, 1, 4, 5, 500000, tzinfo=UTC)),
        ("2024-01-02T03:04:05.123", datetime(2024, 1, 2, 3, 4, 5, 123000, tzinfo=UTC)),
        ("2024-01-02T23:59:59.9999999Z", datetime(2024, 1, 3, 0, 0, 0, tzinfo=UTC)),
    ],
)
def test_timestamps_with_seven_fractional_digits_and_offsets_parse(text, expected):
    assert payloads.parse_timestamp(text) == expected


@pytest.mark.parametrize("text", [None, ""])
def test_absent_timestamps_are_none(text):
    assert payloads.parse_timestamp(text) is None


def test_a_malformed_timestamp_is_refused():
    with pytest.raises(ValueError):
        payloads.parse_timestamp("17/02/2014")


def test_server_takes_the_first_api_token():
    server = payloads.server_from_json(
        {"ID": 7, "Name": "tm-acme", "DeliveryType": "Sandbox", "ApiTokens": ["t1", "t2"]}
    )
    assert (server.server_id, server.name, server.delivery_type, server.api_token) == (
        7,
        "tm-acme",
        "Sandbox",
        "t1",
    )
    assert "t1" not in repr(server)


def test_signature_request_uses_request_field_names():
    body = payloads.signature_request(
        from_email="shop@mail.example.com",
        name="Shop",
        reply_to=None,
        return_path_domain="pm-bounces.mail.example.com",
    )
    assert body == {
        "FromEmail": "shop@mail.example.com",
        "Name": "Shop",
        "ReturnPathDomain": "pm-bounces.mail.example.com",
    }


def test_a_pending_signature_exposes_the_pending_dkim_record():
    signature = payloads.signature_from_json(
        {
            "ID": 3,
            "EmailAddress": "shop@mail.example.com",
            "Name": "Shop",
            "Confirmed": False,
            "DKIMVerified": False,
            "DKIMHost": "",
            "DKIMTextValue": "",
            "DKIMPendingHost": "20240101pm._domainkey.mail.example.com",
            "DKIMPendingTextValue": "k=rsa; p=AAA",
            "ReturnPathDomain": "pm-bounces.mail.example.com",
            "ReturnPathDomainVerified": False,
            "ReturnPathDomainCNAMEValue": "pm.mtasv.net",
        }
    )
    assert signature.dkim_host == "20240101pm._domainkey.mail.example.com"
    assert signature.dkim_value == "k=rsa; p=AAA"
    assert (signature.return_path_domain, signature.return_path_cname_value) == (
        "pm-bounces.mail.example.com",
        "pm.mtasv.net",
    )
    assert not (signature.confirmed or signature.dkim_verified or signature.return_path_verified)


def test_a_brief_signature_list_item_maps_with_empty_dns_fields():
    signature = payloads.signature_from_json(
        {
            "ID": 3,
            "Domain": "mail.example.com",
            "EmailAddress": "s@mail.example.com",
            "Name": "S",
            "Confirmed": True,
        }
    )
    assert (
        signature.confirmed
        and signature.dkim_host == ""
        and signature.return_path_cname_value == ""
    )


def test_webhook_request_enables_exactly_the_given_triggers():
    body = payloads.webhook_request(
        url="https://h/x",
        username="u",
        password="p",
        triggers=frozenset({"Delivery", "Bounce"}),
        message_stream="outbound",
        headers={"X-Secret": "v"},
    )
    assert body["HttpAuth"] == {"Username": "u", "Password": "p"}
    assert {name for name, t in body["Triggers"].items() if t["Enabled"]} == {"Delivery", "Bounce"}
    assert set(body["Triggers"]) == set(payloads.WEBHOOK_TRIGGERS)
    assert body["HttpHeaders"] == [{"Name": "X-Secret", "Value": "v"}]


def test_webhook_edit_request_is_partial():
    assert payloads.webhook_request(url="https://h/x", username="u", password="p") == {
        "Url": "https://h/x",
        "HttpAuth": {"Username": "u", "Password": "p"},
    }


def test_an_unknown_trigger_is_refused():
    with pytest.raises(ValueError):
        payloads.webhook_request(
            url="u", username="u", password="p", triggers=frozenset({"Delivered"})
        )


def test_webhook_from_json_reads_enabled_triggers_and_username():
    webhook = payloads.webhook_from_json(
        {
            "ID": 9,
            "Url": "https://h/x",
            "MessageStream": "outbound",
            "HttpAuth": {"Username": "cfg", "Password": ""},
            "Triggers": {
                "Open": {"Enabled": False, "PostFirstOpenOnly": False},
                "Delivery": {"Enabled": True},
            },
        }
    )
    assert (webhook.webhook_id, webhook.username, webhook.triggers) == (
        9,
        "cfg",
        frozenset({"Delivery"}),
    )


def test_email_request_carries_only_given_fields_in_pascal_case():
    email = OutboundEmail(
        from_address='"Shop" <shop@mail.example.com>',
        to="a@example.org",
        subject="Hi",
        html_body="<p>x</p>",
        attachments=[Attachment("a.pdf", "application/pdf", "QUJD")],
        metadata={"tm_job": "j1"},
    )
    assert payloads.email_request(email) == {
        "From": '"Shop" <shop@mail.example.com>',
        "To": "a@example.org",
        "Subject": "Hi",
        "MessageStream": "outbound",
        "HtmlBody": "<p>x</p>",
        "Metadata": {"tm_job": "j1"},
        "Attachments": [{"Name": "a.pdf", "Content": "QUJD", "ContentType": "application/pdf"}],
    }


def test_batch_outcomes_keep_request_order_and_fill_in_missing_recipients():
    emails = [
        OutboundEmail(from_address="f@x", to=to, subject="s", text_body="t")
        for to in ("a@x", "b@x")
    ]
    outcomes = payloads.batch_outcomes_from_json(
        [
            {
                "To": "a@x",
                "SubmittedAt": "2024-01-02T03:04:05.1234567Z",
                "MessageID": "m-1",
                "ErrorCode": 0,
                "Message": "OK",
            },
            {"ErrorCode": 406, "Message": "inactive"},
        ],
        emails,
    )
    assert [(o.to, o.accepted, o.error_code, o.message_id) for o in outcomes] == [
        ("a@x", True, 0, "m-1"),
        ("b@x", False, 406, None),
    ]
    assert outcomes[0].submitted_at == datetime(2024, 1, 2, 3, 4, 5, 123457, tzinfo=UTC)


def test_a_batch_answer_of_the_wrong_length_is_refused():
    with pytest.raises(ValueError):
        payloads.batch_outcomes_from_json(
            [], [OutboundEmail(from_address="f@x", to="a@x", subject="s")]
        )


def test_outbound_search_filters_by_metadata_keys():
    assert payloads.outbound_search_params({"tm_job": "j1"}, 5) == {
        "count": 5,
        "offset": 0,
        "metadata_tm_job": "j1",
    }


def test_failed_suppression_items_are_reported_with_their_reason():
    body = {
        "Suppressions": [
            {"EmailAddress": "a@x", "Status": "Deleted", "Message": None},
            {
                "EmailAddress": "b@x",
                "Status": "Failed",
                "Message": "Spam complaints cannot be deleted.",
            },
        ]
    }
    assert payloads.failed_suppression_changes(body) == ["b@x: Spam complaints cannot be deleted."]


# --- server edit, domains, message details, bounces -------------------------------------------

SERVER = {
    "ID": 42, "Name": "tm-acme", "ApiTokens": ["tok"], "Color": "Red", "SmtpApiActivated": True,
    "RawEmailEnabled": False, "DeliveryType": "Live",
    "ServerLink": "https://account.postmarkapp.com/servers/42/streams",
    "InboundAddress": "abc@inbound.postmarkapp.com", "InboundHash": "abc",
    "InboundHookUrl": None, "BounceHookUrl": "https://h.example/b", "OpenHookUrl": None,
    "DeliveryHookUrl": None, "ClickHookUrl": "", "PostFirstOpenOnly": False,
    "InboundDomain": "", "InboundSpamThreshold": 5, "TrackOpens": True, "TrackLinks": "HtmlOnly",
    "IncludeBounceContentInHook": True, "EnableSmtpApiErrorHooks": False,
}


def test_a_server_edit_sends_only_the_fields_being_changed():
    changes = PostmarkServerEdit(name="tm-new", track_opens=False, inbound_spam_threshold=0)
    assert payloads.server_edit_request(changes) == {
        "Name": "tm-new", "TrackOpens": False, "InboundSpamThreshold": 0,
    }
    assert payloads.server_edit_request(PostmarkServerEdit()) == {}


def test_server_details_map_every_field_of_the_server_object():
    details = payloads.server_details_from_json(SERVER)
    assert (details.server.server_id, details.server.name, details.server.api_token) == (
        42, "tm-acme", "tok",
    )
    assert (details.color, details.smtp_api_activated, details.raw_email_enabled) == (
        "Red", True, False,
    )
    assert details.server_link.endswith("/servers/42/streams")
    assert (details.inbound_address, details.inbound_hash, details.inbound_domain) == (
        "abc@inbound.postmarkapp.com", "abc", None,
    )
    assert (details.inbound_spam_threshold, details.track_opens, details.track_links) == (
        5, True, "HtmlOnly",
    )
    assert details.include_bounce_content_in_hook and not details.enable_smtp_api_error_hooks
    assert not details.post_first_open_only
    assert details.hook_urls == {
        "Inbound": None, "Bounce": "https://h.example/b", "Open": None, "Delivery": None,
        "Click": None,
    }


def test_a_server_object_without_its_settings_is_an_unexpected_shape():
    with pytest.raises(KeyError):
        payloads.server_details_from_json({"ID": 1, "Name": "x", "ApiTokens": ["t"]})


def test_a_full_domain_maps_every_dns_field():
    domain = payloads.domain_from_json({
        "ID": 9, "Name": "mail.example.com", "SPFVerified": False, "SPFHost": "mail.example.com",
        "SPFTextValue": "v=spf1 a mx include:spf.mtasv.net ~all", "DKIMVerified": True,
        "WeakDKIM": False, "DKIMHost": "2024pm._domainkey.mail.example.com",
        "DKIMTextValue": "k=rsa; p=NEW", "DKIMPendingHost": "", "DKIMPendingTextValue": "",
        "DKIMRevokedHost": "2019pm._domainkey.mail.example.com",
        "DKIMRevokedTextValue": "k=rsa; p=OLD", "SafeToRemoveRevokedKeyFromDNS": True,
        "DKIMUpdateStatus": "Verified", "ReturnPathDomain": "pm-bounces.mail.example.com",
        "ReturnPathDomainVerified": True, "ReturnPathDomainCNAMEValue": "pm.mtasv.net",
    })
    assert (domain.domain_id, domain.name, domain.dkim_verified, domain.weak_dkim) == (
        9, "mail.example.com", True, False,
    )
    assert (domain.dkim_host, domain.dkim_text_value) == (
        "2024pm._domainkey.mail.example.com", "k=rsa; p=NEW",
    )
    assert (domain.dkim_pending_host, domain.dkim_pending_text_value) == ("", "")
    assert (domain.dkim_revoked_host, domain.dkim_revoked_text_value) == (
        "2019pm._domainkey.mail.example.com", "k=rsa; p=OLD",
    )
    assert domain.safe_to_remove_revoked_key and domain.dkim_update_status == "Verified"
    assert (domain.return_path_domain, domain.return_path_verified) == (
        "pm-bounces.mail.example.com", True,
    )
    assert domain.return_path_cname_value == "pm.mtasv.net"
    assert (domain.spf_verified, domain.spf_host) == (False, "mail.example.com")
    assert domain.spf_text_value.startswith("v=spf1")


def test_a_brief_domain_leaves_the_dns_fields_empty():
    domain = payloads.domain_from_json({
        "ID": 9, "Name": "mail.example.com", "SPFVerified": False, "DKIMVerified": False,
        "WeakDKIM": False, "ReturnPathDomainVerified": False,
    })
    assert (domain.domain_id, domain.name) == (9, "mail.example.com")
    assert (domain.dkim_host, domain.dkim_pending_host, domain.dkim_update_status) == ("", "", "")


MESSAGE_DETAILS = {
    "MessageID": "0ac29aee-e1cd-480d-b08d-4f48548ff48d", "MessageStream": "outbound",
    "Tag": "welcome", "From": '"Shop" <shop@mail.example.com>', "Subject": "Hi",
    "To": [{"Email": "a@example.org", "Name": "A"}], "Cc": [], "Bcc": [{"Email": "b@example.org"}],
    "Recipients": ["a@example.org", "b@example.org"],
    "ReceivedAt": "2024-01-02T03:04:05.1234567Z", "Status": "Sent",
    "Attachments": ["invoice.pdf", {"Name": "terms.pdf"}], "TrackOpens": True,
    "TrackLinks": "None", "Metadata": {"tm_job": "j1"}, "Sandboxed": False,
    "TextBody": "text", "HtmlBody": "<p>html</p>", "Body": "MIME",
    "MessageEvents": [
        {"Recipient": "a@example.org", "Type": "Delivered",
         "ReceivedAt": "2024-01-02T03:04:06Z",
         "Details": {"DeliveryMessage": "smtp;250 OK", "DestinationIP": "10.0.0.1"}},
        {"Recipient": "b@example.org", "Type": "Bounced", "ReceivedAt": "2024-01-02T03:04:07Z",
         "Details": {"Summary": "mailbox full", "BounceID": 374814878}},
    ],
}


def test_message_details_map_addresses_bodies_and_events():
    details = payloads.message_details_from_json(MESSAGE_DETAILS)
    assert details.summary.message_id == MESSAGE_DETAILS["MessageID"]
    assert details.summary.metadata == {"tm_job": "j1"}
    assert (details.from_address, details.subject, details.tag) == (
        '"Shop" <shop@mail.example.com>', "Hi", "welcome",
    )
    assert details.to == (MessageAddress("a@example.org", "A"),)
    assert (details.cc, details.bcc) == ((), (MessageAddress("b@example.org", ""),))
    assert details.attachments == ("invoice.pdf", "terms.pdf")
    assert (details.track_opens, details.track_links, details.sandboxed) == (True, "None", False)
    assert (details.text_body, details.html_body, details.raw_body) == (
        "text", "<p>html</p>", "MIME",
    )
    assert "<p>html</p>" not in repr(details)
    delivered, bounced = details.events
    assert (delivered.recipient, delivered.type) == ("a@example.org", "Delivered")
    assert delivered.received_at == datetime(2024, 1, 2, 3, 4, 6, tzinfo=UTC)
    assert delivered.details["DestinationIP"] == "10.0.0.1"
    assert bounced.details == {"Summary": "mailbox full", "BounceID": "374814878"}


BOUNCE = {
    "RecordType": "Bounce", "ID": 692560173, "Type": "HardBounce", "TypeCode": 1,
    "Name": "Hard bounce", "Tag": "welcome", "MessageID": "2c1b63fe-43f2-4db5-91b0-8bdfa44a9316",
    "ServerID": 23, "MessageStream": "outbound", "Description": "The server was unable to deliver",
    "Details": "smtp;550 5.1.1 unknown user", "Email": "gone@example.org",
    "From": "shop@mail.example.com", "BouncedAt": "2024-01-02T03:04:05.1234567-05:00",
    "DumpAvailable": True, "Inactive": True, "CanActivate": True, "Subject": "Hi",
    "Content": "raw bounce",
}


def test_a_bounce_maps_every_field():
    bounce = payloads.bounce_from_json(BOUNCE)
    assert (bounce.bounce_id, bounce.record_type, bounce.type, bounce.type_code, bounce.name) == (
        692560173, "Bounce", "HardBounce", 1, "Hard bounce",
    )
    assert (bounce.tag, bounce.message_id, bounce.server_id, bounce.message_stream) == (
        "welcome", "2c1b63fe-43f2-4db5-91b0-8bdfa44a9316", 23, "outbound",
    )
    assert bounce.description.startswith("The server") and bounce.details.startswith("smtp;550")
    assert (bounce.email, bounce.from_address, bounce.subject) == (
        "gone@example.org", "shop@mail.example.com", "Hi",
    )
    assert bounce.bounced_at == datetime(2024, 1, 2, 8, 4, 5, 123457, tzinfo=UTC)
    assert (bounce.dump_available, bounce.inactive, bounce.can_activate) == (True, True, True)
    assert bounce.content == "raw bounce" and "raw bounce" not in repr(bounce)


def test_an_activation_answer_carries_the_bounce_under_its_key():
    activated = payloads.activated_bounce_from_json(
        {"Message": "OK", "Bounce": {**BOUNCE, "Inactive": False}}
    )
    assert (activated.bounce_id, activated.inactive) == (692560173, False)


def test_bounce_list_filters_use_postmarks_query_casing():
    assert payloads.bounce_list_params("gone@", "outbound") == {
        "messagestream": "outbound", "emailFilter": "gone@",
    }
    assert payloads.bounce_list_params(None, "broadcast") == {"messagestream": "broadcast"}
