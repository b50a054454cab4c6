"""Classification of Postmark answers as data (SPEC §5, postmark-api.md §5)."""

import pytest

from tenantmail.domain.send_errors import SendErrorClass, classify, is_not_found


@pytest.mark.parametrize(
    ("http_status", "error_code"),
    [(429, 429), (500, None), (502, None), (503, 100), (504, None), (422, 100)],
)
def test_busy_or_maintenance_answers_are_transient(http_status, error_code):
    assert classify(http_status, error_code) is SendErrorClass.TRANSIENT


@pytest.mark.parametrize("error_code", [10, 400, 401, 405, 412, 413])
def test_token_signature_and_account_state_codes_are_configuration(error_code):
    assert classify(422, error_code) is SendErrorClass.CONFIGURATION


def test_bad_token_on_401_is_configuration():
    assert classify(401, 10) is SendErrorClass.CONFIGURATION


@pytest.mark.parametrize("error_code", [406, 300])
def test_inactive_recipient_and_invalid_request_are_recipient(error_code):
    assert classify(422, error_code) is SendErrorClass.RECIPIENT


@pytest.mark.parametrize(
    ("http_status", "error_code"),
    [(422, 410), (422, 411), (422, 603), (422, 1235), (403, None), (405, None)],
)
def test_other_refusals_are_permanent(http_status, error_code):
    assert classify(http_status, error_code) is SendErrorClass.PERMANENT


def test_transient_http_status_wins_over_a_configuration_code():
    # A 503 from a proxy is "try later" whatever body it carries.
    assert classify(503, 10) is SendErrorClass.TRANSIENT


@pytest.mark.parametrize(
    ("http_status", "error_code"),
    [(404, None), (422, 12), (422, 501), (422, 510), (422, 601), (422, 701), (422, 1001)],
)
def test_not_found_is_http_404_or_a_resource_not_found_code(http_status, error_code):
    assert is_not_found(http_status, error_code)


@pytest.mark.parametrize(
    ("http_status", "error_code"), [(422, 603), (401, 10), (None, None), (422, 300)]
)
def test_other_answers_are_not_not_found(http_status, error_code):
    assert not is_not_found(http_status, error_code)
