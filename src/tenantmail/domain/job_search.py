"""What a job search may ask for (SPEC §17 ``GET /job`` filters), checked once for API, CLI and console.

Every filter narrows (AND); ``status`` matches any of the statuses given; ``subject`` matches jobs
whose subject contains the text in any case; ``metadata`` matches jobs having every pair given.
A filter value that no stored job could have (a malformed address, an over-long tag, a reserved
metadata key) is refused with the rule that would have refused it on ``POST /job``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from tenantmail.domain.errors import InvalidInput
from tenantmail.domain.job import JobStatus
from tenantmail.domain.header_text import check_header_text
from tenantmail.domain.job_fields import valid_metadata_key, valid_metadata_value, valid_tag
from tenantmail.domain.send_request import MAX_SUBJECT_CHARS, valid_address

MAX_MESSAGE_ID_CHARS = 64  #: the stored column's width
#: the query parameters of ``GET /job`` besides paging; ``metadata.{key}`` are the metadata filters
FILTER_PARAMETERS = ("status", "recipient", "configurationEId", "tag", "messageId", "subject",
                     "createdFrom", "createdTo")
METADATA_PARAMETER_PREFIX = "metadata."
#: A search counts its matches up to this many (Postmark's own search window): an exact count of a
#: broad filter over a million jobs costs ten times the page (docs/performance.md "Job search").
COUNT_UP_TO = 10_000


@dataclass(frozen=True)
class JobSearch:
    statuses: tuple[JobStatus, ...] = ()
    recipient: str | None = None  #: canonical
    configuration_e_id: str | None = None
    tag: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    message_id: str | None = None
    subject_contains: str | None = None
    created_from: datetime | None = None  #: inclusive
    created_to: datetime | None = None  #: exclusive

    @classmethod
    def parse(
        cls, *, statuses: Iterable[JobStatus] = (), recipient: str | None = None,
        configuration_e_id: str | None = None, tag: str | None = None,
        metadata: Mapping[str, str] | None = None, message_id: str | None = None,
        subject_contains: str | None = None, created_from: datetime | None = None,
        created_to: datetime | None = None,
    ) -> JobSearch:
        if subject_contains is not None:
            if not subject_contains.strip():
                raise InvalidInput("subject filter must not be empty")
            if len(subject_contains) > MAX_SUBJECT_CHARS:
                raise InvalidInput(f"subject filter may be at most {MAX_SUBJECT_CHARS} characters")
            check_header_text(subject_contains, "subject filter")
        if message_id is not None and (not message_id.strip() or len(message_id) > MAX_MESSAGE_ID_CHARS):
            raise InvalidInput(f"messageId filter must be 1-{MAX_MESSAGE_ID_CHARS} characters")
        for value, what in ((message_id, "messageId filter"), (configuration_e_id, "configurationEId filter")):
            if value is not None:
                check_header_text(value, what)  # the API checks every query value so; the CLI comes here
        if created_from is not None and created_to is not None and created_to < created_from:
            raise InvalidInput("createdTo must not be before createdFrom")
        return cls(
            statuses=tuple(dict.fromkeys(statuses)),
            recipient=valid_address(recipient, "recipient") if recipient else None,
            configuration_e_id=configuration_e_id.strip() if configuration_e_id else None,
            tag=valid_tag(tag, "tag filter") if tag is not None else None,
            metadata={valid_metadata_key(k, "metadata filter key"): valid_metadata_value(k, v)
                      for k, v in (metadata or {}).items()},
            message_id=message_id.strip() if message_id else None,
            subject_contains=subject_contains, created_from=created_from, created_to=created_to,
        )


def unknown_parameters(names: Iterable[str], paging: Iterable[str] = ("limit", "offset")) -> list[str]:
    """The query parameter names a job search does not know, in the order given (each once)."""
    known = {*FILTER_PARAMETERS, *paging}
    return list(dict.fromkeys(
        n for n in names if n not in known and not (n.startswith(METADATA_PARAMETER_PREFIX)
                                                    and len(n) > len(METADATA_PARAMETER_PREFIX))))
