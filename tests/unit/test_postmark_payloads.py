"""PascalCase wire format ↔ port dataclasses (postmark-api.md §2–§9)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from tenantmail.adapters.postmark import payloads
from tenantmail.services.ports import Attachment, OutboundEmail

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
