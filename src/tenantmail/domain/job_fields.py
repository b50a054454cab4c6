"""A send's ``tag`` and ``metadata`` (SPEC §17 "Job fields"): the caller's labels for a job.

Both travel to Postmark (``Tag``, ``Metadata`` next to our ``tm_job`` / ``tm_config``), so they are
held to Postmark's limits minus what we use ourselves: a tag of at most 1,000 characters; at most
8 metadata pairs (Postmark takes 10, two are ours), keys of at most 20 characters, values of at
most 80, and no key starting with ``tm_`` (reserved for ours, in any case). Each is text that ends
up in an email header or a Postmark search field, so it is held to the one header-text rule
(:func:`tenantmail.domain.header_text.check_header_text`: no C0 controls, DEL, U+2028, U+2029).

The same rules read the ``GET /job`` filters ``tag=`` and ``metadata.{key}=``: a filter that could
never match a stored value is refused as the value itself would have been.
"""

from __future__ import annotations

from collections.abc import Mapping

from tenantmail.domain.errors import InvalidInput
from tenantmail.domain.header_text import check_header_text

MAX_TAG_CHARS = 1000
MAX_METADATA_PAIRS = 8  #: Postmark's 10 less ``tm_job`` and ``tm_config``
MAX_METADATA_KEY_CHARS = 20
MAX_METADATA_VALUE_CHARS = 80
RESERVED_PREFIX = "tm_"  #: our own metadata keys (``tm_job``, ``tm_config``); compared case-insensitively


def valid_tag(tag: str, what: str = "tag") -> str:
    if not tag.strip():
        raise InvalidInput(f"{what} must not be empty (leave it out instead)")
    if len(tag) > MAX_TAG_CHARS:
        raise InvalidInput(f"{what} may be at most {MAX_TAG_CHARS} characters")
    return check_header_text(tag, what)


def valid_metadata_key(key: str, what: str = "metadata key") -> str:
    if not key.strip():
        raise InvalidInput(f"{what} must not be empty")
    if len(key) > MAX_METADATA_KEY_CHARS:
        raise InvalidInput(f"{what} '{key[:MAX_METADATA_KEY_CHARS]}…' may be at most {MAX_METADATA_KEY_CHARS} characters")
    if key.lower().startswith(RESERVED_PREFIX):
        raise InvalidInput(f"{what} '{check_header_text(key, what)}' is reserved: keys starting with "
                           f"'{RESERVED_PREFIX}' are tenantmail's own")
    return check_header_text(key, what)


def valid_metadata_value(key: str, value: str) -> str:
    if len(value) > MAX_METADATA_VALUE_CHARS:
        raise InvalidInput(f"metadata value of '{key}' may be at most {MAX_METADATA_VALUE_CHARS} characters")
    return check_header_text(value, f"metadata value of '{key}'")


def valid_metadata(metadata: Mapping[str, str]) -> dict[str, str]:
    """The pairs, checked; an empty mapping is no metadata."""
    if len(metadata) > MAX_METADATA_PAIRS:
        raise InvalidInput(f"metadata may have at most {MAX_METADATA_PAIRS} keys (got {len(metadata)})")
    checked: dict[str, str] = {}
    for key, value in metadata.items():
        if not isinstance(value, str):
            raise InvalidInput(f"metadata value of '{key}' must be a string")
        checked[valid_metadata_key(key)] = valid_metadata_value(key, value)
    return checked
