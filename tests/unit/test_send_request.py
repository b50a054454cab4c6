"""Validation of a send request and of the Idempotency-Key (SPEC §5)."""

from __future__ import annotations

import base64

import pytest

from tenantmail.domain.errors import InvalidInput, PayloadTooLarge
from tenantmail.domain.job import JobAttachment
from tenantmail.domain.send_request import SendRequest, validate_idempotency_key

PDF = base64.b64encode(b"%PDF-1.4 tiny").decode()


def parse(**overrides: object) -> SendRequest:
    fields: dict[str, object] = {"configuration_e_id": "cfg-1", "recipient": "a@example.com",
                                 "subject": "Hello", "text_body": "Hi"}
    fields.update(overrides)
    return SendRequest.parse(**fields)  # type: ignore[arg-type]


def test_recipient_is_stored_trimmed_and_lower_case() -> None:
    assert parse(recipient="  Bob.Smith@Example.COM ").recipient == "bob.smith@example.com"


@pytest.mark.parametrize("recipient", ["", "no-at-sign", "a@b", "a@example.com, b@example.com",
                                       "Bob <bob@example.com>", "a b@example.com"])
def test_recipient_must_be_one_bare_address(recipient: str) -> None:
    with pytest.raises(InvalidInput, match="recipient"):
        parse(recipient=recipient)


@pytest.mark.parametrize("subject", ["", "   ", "line\nbreak", "carriage\rreturn"])
def test_subject_must_be_one_non_empty_line(subject: str) -> None:
    with pytest.raises(InvalidInput, match="subject"):
        parse(subject=subject)


def test_a_body_is_required() -> None:
    with pytest.raises(InvalidInput, match="htmlBody"):
        parse(text_body=None, html_body="")


def test_attachments_must_be_base64_of_an_allowed_type() -> None:
    assert parse(attachments=(JobAttachment("invoice.pdf", "application/pdf", PDF),)).attachments
    with pytest.raises(InvalidInput, match="base64"):
        parse(attachments=(JobAttachment("invoice.pdf", "application/pdf", "not base64!"),))
    with pytest.raises(InvalidInput, match=r"\.exe"):
        parse(attachments=(JobAttachment("setup.EXE", "application/octet-stream", PDF),))
    with pytest.raises(InvalidInput, match="MIME"):
        parse(attachments=(JobAttachment("a.pdf", "pdf", PDF),))


def test_a_message_over_ten_megabytes_is_too_large() -> None:
    big = base64.b64encode(b"x" * (8 * 1024 * 1024)).decode()  # ~10.7 MB once encoded
    with pytest.raises(PayloadTooLarge):
        parse(attachments=(JobAttachment("big.pdf", "application/pdf", big),))


def test_a_body_over_five_megabytes_is_too_large() -> None:
    with pytest.raises(PayloadTooLarge):
        parse(html_body="x" * (5 * 1024 * 1024 + 1))


def test_fingerprint_is_equal_for_the_same_send_and_differs_otherwise() -> None:
    assert parse(recipient="A@example.com").fingerprint() == parse(recipient="a@example.com ").fingerprint()
    assert parse(subject="Hello").fingerprint() != parse(subject="Hello!").fingerprint()


@pytest.mark.parametrize("key", [None, "", "x" * 256, "tab\there", "é-key"])
def test_idempotency_key_must_be_1_to_255_printable_ascii(key: str | None) -> None:
    with pytest.raises(InvalidInput, match="Idempotency-Key"):
        validate_idempotency_key(key)


def test_idempotency_key_accepts_printable_ascii_with_spaces() -> None:
    assert validate_idempotency_key("order 42 / retry #1") == "order 42 / retry #1"
