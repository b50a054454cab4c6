"""Tags, metadata and the job-search filters are held to the one header-text rule (SPEC §14, §17)."""

from __future__ import annotations

import pytest

from tenantmail.domain.errors import InvalidInput
from tenantmail.domain.header_text import check_header_text
from tenantmail.domain.job_fields import valid_metadata, valid_tag
from tenantmail.domain.job_search import JobSearch

HEADER_BREAKERS = ["\x00", "\x1b", "\n", "\x7f", "\u2028", "\u2029"]


@pytest.mark.parametrize("char", HEADER_BREAKERS)
def test_tags_metadata_and_filters_refuse_what_the_header_text_rule_refuses(char: str) -> None:
    with pytest.raises(InvalidInput):
        check_header_text(f"a{char}b", "x")  # the rule itself: the cases below are its callers
    for call in (
        lambda: valid_tag(f"a{char}b"),
        lambda: valid_metadata({f"k{char}": "v"}),
        lambda: valid_metadata({"k": f"v{char}"}),
        lambda: JobSearch.parse(tag=f"a{char}b"),
        lambda: JobSearch.parse(metadata={"k": f"v{char}"}),
        lambda: JobSearch.parse(message_id=f"m{char}"),
        lambda: JobSearch.parse(configuration_e_id=f"c{char}"),
        lambda: JobSearch.parse(subject_contains=f"s{char}"),
    ):
        with pytest.raises(InvalidInput, match="control characters"):
            call()


def test_what_the_rule_allows_is_a_valid_tag_and_metadata() -> None:
    assert valid_tag("order\u00e9 \u0085 #1") == "order\u00e9 \u0085 #1"  # C1 is not in the rule
    assert valid_metadata({"k": "v\u00a0w"}) == {"k": "v\u00a0w"}
