"""Slug and signature rules of a new configuration (SPEC §2), with generated inputs."""

from __future__ import annotations

import string
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tenantmail.domain.configuration import EmailConfiguration, Signature
from tenantmail.domain.errors import InvalidInput
from tenantmail.domain.naming import server_name

NOW = datetime(2026, 1, 1, tzinfo=UTC)
ZONE = "dev.ardamails.com"
LABEL_CHARS = string.ascii_lowercase + string.digits
valid_slugs = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", fullmatch=True)


def create(slug: str, **signature: object) -> EmailConfiguration:
    sig = Signature(**{"from_name": "Acme", **signature})  # type: ignore[arg-type]
    return EmailConfiguration.create(tenant_id="t", slug=slug, mail_zone_name=ZONE, signature=sig, now=NOW)


@given(valid_slugs)
def test_every_dns_label_slug_is_accepted_and_names_domain_and_server(slug: str) -> None:
    config = create(slug)
    assert config.sending_domain == f"{slug}.{ZONE}"
    assert config.from_email == f"noreply@{slug}.{ZONE}"
    assert server_name(config.sending_domain) == f"ardamails-dev-{slug}"


@given(valid_slugs, st.sampled_from(["A", "_", ".", " ", "é", "/"]), st.integers(min_value=0, max_value=63))
def test_a_slug_with_any_character_outside_the_label_alphabet_is_refused(slug: str, bad: str, at: int) -> None:
    at = min(at, len(slug))
    with pytest.raises(InvalidInput, match="sendingDomainSlug"):
        create(slug[:at] + bad + slug[at:])


@given(st.text(LABEL_CHARS, min_size=1, max_size=20))
def test_a_slug_starting_or_ending_with_a_hyphen_is_refused(core: str) -> None:
    for slug in (f"-{core}", f"{core}-"):
        with pytest.raises(InvalidInput):
            create(slug)


@given(st.text(LABEL_CHARS, min_size=64, max_size=100))
def test_a_slug_longer_than_a_dns_label_is_refused(slug: str) -> None:
    with pytest.raises(InvalidInput):
        create(slug)


def test_the_empty_slug_is_refused() -> None:
    with pytest.raises(InvalidInput):
        create("")


@pytest.mark.parametrize("signature", [
    {"from_name": ""}, {"from_name": "Acme\r\nBcc: x@y.z"}, {"from_local_part": "no reply"},
    {"from_local_part": "a" * 65}, {"reply_to_email": "not-an-address"}, {"reply_to_email": "a@b.c, d@e.f"},
])
def test_an_invalid_signature_is_refused(signature: dict[str, str]) -> None:
    with pytest.raises(InvalidInput, match="signature"):
        create("acme", **signature)


def test_a_custom_local_part_and_reply_to_in_any_domain_are_kept() -> None:
    config = create("acme", from_local_part="billing", reply_to_email="help@example.org")
    assert config.from_email == "billing@acme.dev.ardamails.com"
    assert config.signature.reply_to_email == "help@example.org"
