"""How the Postmark client turns answers into typed errors, with answers scripted by
``httpx.MockTransport`` (missing answers are tested over real sockets in
``tests/integration/test_postmark_client_contract.py``).
"""

from __future__ import annotations

import json

import httpx
import pytest

from tenantmail.adapters.postmark.client import PostmarkClient
from tenantmail.adapters.postmark.errors import (
    PostmarkAmbiguousError,
    PostmarkConfigurationError,
    PostmarkError,
    PostmarkPermanentError,
    PostmarkRecipientError,
    PostmarkTransientError,
    PostmarkUnexpectedResponseError,
)
from tenantmail.domain.send_errors import SendErrorClass
from tenantmail.services.ports import OutboundEmail

TOKEN = "server-token-0123456789"
EMAIL = OutboundEmail(
    from_address='"Shop" <shop@mail.example.com>', to="a@example.org", subject="Hi", text_body="x"
)


def scripted(
    status: int, body: bytes | str, content_type: str = "application/json"
) -> PostmarkClient:
    content = body.encode() if isinstance(body, str) else body
    transport = httpx.MockTransport(
        lambda request: httpx.Response(
            status, content=content, headers={"content-type": content_type}
        )
    )
    return PostmarkClient(
        "http://postmark.test", "account-token-secret", timeout=2, transport=transport
    )


def postmark_error(status: int, code: int, message: str) -> PostmarkClient:
    return scripted(status, json.dumps({"ErrorCode": code, "Message": message}))


@pytest.mark.parametrize(
    ("status", "code", "error_type", "error_class"),
    [
        (422, 406, PostmarkRecipientError, SendErrorClass.RECIPIENT),
        (422, 300, PostmarkRecipientError, SendErrorClass.RECIPIENT),
        (401, 10, PostmarkConfigurationError, SendErrorClass.CONFIGURATION),
        (422, 401, PostmarkConfigurationError, SendErrorClass.CONFIGURATION),
        (429, 429, PostmarkTransientError, SendErrorClass.TRANSIENT),
        (503, 100, PostmarkTransientError, SendErrorClass.TRANSIENT),
        (422, 410, PostmarkPermanentError, SendErrorClass.PERMANENT),
    ],
)
async def test_postmark_error_bodies_become_classified_exceptions(
    status, code, error_type, error_class
):
    async with postmark_error(status, code, "Postmark says no.") as client:
        with pytest.raises(error_type) as caught:
            await client.server(TOKEN).send_email(EMAIL)
    error = caught.value
    assert (error.http_status, error.error_code, error.message) == (
        status,
        code,
        "Postmark says no.",
    )
    assert error.error_class is error_class


async def test_not_found_codes_are_flagged_for_removal_paths():
    async with postmark_error(422, 601, "Server does not exist.") as client:
        with pytest.raises(PostmarkError) as caught:
            await client.account.get_server(42)
    assert caught.value.is_not_found
    assert caught.value.error_class is SendErrorClass.PERMANENT


async def test_a_nonzero_error_code_on_http_200_is_still_an_error():
    async with postmark_error(200, 406, "inactive") as client:
        with pytest.raises(PostmarkRecipientError):
            await client.server(TOKEN).send_email(EMAIL)


async def test_an_html_403_from_a_network_block_gets_its_own_error():
    html = "<html><body>403 Forbidden</body></html>"
    async with scripted(403, html, content_type="text/html") as client:
        with pytest.raises(PostmarkUnexpectedResponseError) as caught:
            await client.server(TOKEN).send_email(EMAIL)
    assert caught.value.http_status == 403
    assert caught.value.error_code is None
    assert "text/html" in caught.value.message


async def test_a_proxy_502_without_json_is_transient():
    async with scripted(502, "Bad Gateway", content_type="text/plain") as client:
        with pytest.raises(PostmarkTransientError):
            await client.account.list_servers()


async def test_an_unreadable_success_body_of_a_send_is_ambiguous():
    # Postmark answered 2xx, so the message may have been accepted: reconcile, do not fail the job.
    async with scripted(
        200, json.dumps({"ErrorCode": 0, "Message": "OK", "SubmittedAt": "yesterday"})
    ) as client:
        with pytest.raises(PostmarkAmbiguousError):
            await client.server(TOKEN).send_email(EMAIL)


async def test_an_unreadable_success_body_elsewhere_is_unexpected():
    async with scripted(200, json.dumps({"Name": "no id"})) as client:
        with pytest.raises(PostmarkUnexpectedResponseError):
            await client.account.get_server(1)


async def test_the_account_api_without_an_account_token_is_a_configuration_error():
    client = PostmarkClient("http://postmark.test", None, timeout=1)
    with pytest.raises(PostmarkConfigurationError):
        _ = client.account
    await client.aclose()


async def test_tokens_never_appear_in_errors_or_reprs():
    async with postmark_error(401, 10, "Request does not contain a valid Server token.") as client:
        server = client.server(TOKEN)
        with pytest.raises(PostmarkError) as caught:
            await server.send_email(EMAIL)
        texts = [
            str(caught.value),
            repr(caught.value),
            repr(client),
            repr(server._session),
            repr(client.account._session),
        ]
    assert not [text for text in texts if TOKEN in text or "account-token-secret" in text]


async def test_refused_suppression_removals_are_raised_after_every_chunk_ran():
    requests: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        items = json.loads(request.content)["Suppressions"]
        statuses = [
            {"EmailAddress": i["EmailAddress"], "Status": "Failed", "Message": "Spam complaint."}
            if i["EmailAddress"].startswith("spam")
            else {"EmailAddress": i["EmailAddress"], "Status": "Deleted", "Message": None}
            for i in items
        ]
        return httpx.Response(200, json={"Suppressions": statuses})

    emails = ["spam@example.org"] + [f"r{i}@example.org" for i in range(60)]
    transport = httpx.MockTransport(answer)
    async with PostmarkClient("http://postmark.test", None, timeout=1, transport=transport) as pm:
        with pytest.raises(PostmarkPermanentError) as caught:
            await pm.server(TOKEN).delete_suppressions("outbound", emails)
    assert len(requests) == 2
    assert "spam@example.org: Spam complaint." in caught.value.message


async def test_requests_carry_the_json_headers_the_token_header_and_a_user_agent():
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ErrorCode": 0, "Message": "Server x removed."})

    transport = httpx.MockTransport(answer)
    async with PostmarkClient("http://postmark.test", "acct", timeout=1, transport=transport) as pm:
        await pm.account.delete_server(1)
        await pm.server(TOKEN).create_suppressions("outbound", ["a@example.org"])
    delete, create = seen
    assert delete.headers["X-Postmark-Account-Token"] == "acct"
    assert create.headers["X-Postmark-Server-Token"] == TOKEN
    assert all(r.headers["Accept"] == "application/json" for r in seen)
    assert all(r.headers["User-Agent"].startswith("tenantmail/") for r in seen)
    assert create.headers["Content-Type"] == "application/json"
    assert "Content-Type" not in delete.headers
