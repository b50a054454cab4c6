"""The configuration state machine: every signal from every state pair, allowed or refused (SPEC §3)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from tenantmail.domain.configuration import (
    Administrative,
    Authentication,
    DnsRecords,
    EmailConfiguration,
    LastError,
    Operational,
    ProvisioningStep,
    Signal,
    Signature,
)
from tenantmail.domain.errors import IllegalSignal, InvalidInput

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
O, A = Operational, Administrative


def allowed(signal: Signal, op: Operational, admin: Administrative) -> bool:
    """The SPEC §3 table, written out independently of the domain's TRANSITIONS."""
    return {
        Signal.PROVISION: op is O.PENDING,
        Signal.RE_PROVISION: op is O.MISSING,
        Signal.RE_VERIFY: op in (O.UNVERIFIED, O.FAILURE),
        Signal.LOCK: op is not O.REMOVED and admin is A.UNLOCKED,  # never an empty version
        Signal.FORCE_LOCK: op is not O.REMOVED,
        Signal.UNLOCK: op is not O.REMOVED and admin is A.LOCKED,
        # remove also waits while the provisioning job owns the row (docs/decisions-lifecycle.md)
        Signal.REMOVE: admin is A.LOCKED and op not in (O.REMOVED, O.PROVISIONING),
    }[signal]


def expected(signal: Signal, op: Operational, admin: Administrative) -> tuple[Operational, Administrative]:
    if signal in (Signal.PROVISION, Signal.RE_PROVISION):
        return O.PROVISIONING, admin
    if signal is Signal.RE_VERIFY:
        return (O.AWAITING_VERIFICATION if op is O.UNVERIFIED else O.DEGRADED), admin
    if signal in (Signal.LOCK, Signal.FORCE_LOCK):
        return op, A.LOCKED
    if signal is Signal.UNLOCK:
        return op, A.UNLOCKED
    return O.REMOVED, admin


def config_in(op: Operational, admin: Administrative) -> EmailConfiguration:
    config = EmailConfiguration.create(
        tenant_id="t", slug="acme", mail_zone_name="dev.ardamails.com", signature=Signature(from_name="Acme"), now=NOW,
    )
    config.operational, config.administrative = op, admin
    return config


CASES = list(itertools.product(Signal, Operational, Administrative))


@pytest.mark.parametrize(("signal", "op", "admin"), CASES, ids=[f"{s}-{o}-{a}" for s, o, a in CASES])
def test_every_signal_from_every_state_is_allowed_or_refused_per_the_table(
    signal: Signal, op: Operational, admin: Administrative
) -> None:
    config = config_in(op, admin)
    later = NOW + timedelta(minutes=1)
    if allowed(signal, op, admin):
        config.apply(signal, later)
        assert (config.operational, config.administrative) == expected(signal, op, admin)
        assert config.updated_at == later
    else:
        with pytest.raises(IllegalSignal) as refused:
            config.apply(signal, later)
        assert refused.value.status == 409
        assert refused.value.details == {
            "signal": signal.value, "operationalStatus": op.value, "administrativeStatus": admin.value,
        }
        assert (config.operational, config.administrative, config.updated_at) == (op, admin, NOW)


def test_a_new_configuration_is_pending_and_locked_with_a_synthesised_from_address() -> None:
    config = config_in(O.PENDING, A.LOCKED)
    assert (config.operational, config.administrative) == (O.PENDING, A.LOCKED)
    assert config.sending_domain == "acme.dev.ardamails.com"
    assert config.from_email == "noreply@acme.dev.ardamails.com"
    assert not config.is_sendable


@pytest.mark.parametrize(("op", "admin", "sendable"), [
    (O.OK, A.UNLOCKED, True), (O.DEGRADED, A.UNLOCKED, True), (O.OK, A.LOCKED, False),
    (O.AWAITING_VERIFICATION, A.UNLOCKED, False), (O.FAILURE, A.UNLOCKED, False),
])
def test_sendable_needs_ok_or_degraded_and_unlocked(op: Operational, admin: Administrative, sendable: bool) -> None:
    assert config_in(op, admin).is_sendable is sendable


def test_reprovision_clears_the_last_error_and_reverify_from_unverified_restarts_the_window() -> None:
    config = config_in(O.MISSING, A.LOCKED)
    config.last_error = LastError("createServer", "500", "boom")
    config.apply(Signal.RE_PROVISION, NOW)
    assert config.last_error is None

    config = config_in(O.UNVERIFIED, A.LOCKED)
    config.verification_started_at = NOW - timedelta(days=2)
    config.apply(Signal.RE_VERIFY, NOW)
    assert config.verification_started_at == NOW
    assert not config.verification_expired(NOW + timedelta(hours=23), timedelta(hours=24))
    assert config.verification_expired(NOW + timedelta(hours=24), timedelta(hours=24))


def test_reverify_from_failure_resets_the_failure_counter() -> None:
    config = config_in(O.FAILURE, A.UNLOCKED)
    config.consecutive_failures = 7
    config.apply(Signal.RE_VERIFY, NOW)
    assert (config.operational, config.consecutive_failures) == (O.DEGRADED, 0)


def test_provisioning_steps_follow_the_recorded_results_and_end_in_verification() -> None:
    config = config_in(O.PROVISIONING, A.LOCKED)
    seen = []
    config.begin_step(ProvisioningStep.CREATE_SERVER)
    seen.append(config.next_provisioning_step)
    config.record_server(11, "a1.kv1:xx", NOW)
    assert config.step_in_flight is None
    seen.append(config.next_provisioning_step)
    config.record_signature(22, DnsRecords("s._domainkey.x", "k=rsa; p=1", "pm-bounces.x", "pm.mtasv.net"), NOW)
    seen.append(config.next_provisioning_step)
    config.record_webhook(33, NOW)
    seen.append(config.next_provisioning_step)
    config.start_verification(NOW)
    seen.append(config.next_provisioning_step)
    assert seen == [*(s for s in ProvisioningStep if s is not ProvisioningStep.CREATE_DOMAIN), None]
    assert config.operational is O.AWAITING_VERIFICATION and config.verification_started_at == NOW


def test_a_domain_configuration_creates_a_domain_instead_of_a_signature() -> None:
    config = config_in(O.PROVISIONING, A.LOCKED)
    config.authentication = Authentication.DOMAIN
    config.record_server(11, "a1.kv1:xx", NOW)
    assert config.next_provisioning_step is ProvisioningStep.CREATE_DOMAIN
    config.record_domain(44, DnsRecords("s._domainkey.x", "k=rsa; p=1", "pm-bounces.x", "pm.mtasv.net"), NOW)
    assert config.next_provisioning_step is ProvisioningStep.INSTALL_WEBHOOK
    assert (config.domain_id, config.signature_id) == (44, None)


def test_the_from_allow_list_defaults_to_the_signature_and_refuses_anything_else() -> None:
    config = EmailConfiguration.create(
        tenant_id="t", slug="acme", mail_zone_name="dev.ardamails.com",
        signature=Signature("billing", "Acme"), now=NOW,
    )
    assert config.allowed_local_parts == ("billing",)
    assert config.from_header_for(None) == '"Acme" <billing@acme.dev.ardamails.com>'
    with pytest.raises(InvalidInput, match="not allowed"):
        config.from_header_for("orders")
    with pytest.raises(InvalidInput, match="signature-authenticated"):
        config.set_allowed_from_local_parts(["billing", "orders"], NOW)


def test_a_domain_configurations_allow_list_is_edited_within_its_rules() -> None:
    config = EmailConfiguration.create(
        tenant_id="t", slug="acme", mail_zone_name="dev.ardamails.com",
        signature=Signature("billing", "Acme"), now=NOW, authentication=Authentication.DOMAIN,
        allowed_from_local_parts=("billing", "orders"),
    )
    assert config.from_header_for("orders") == '"Acme" <orders@acme.dev.ardamails.com>'
    for bad, why in [([], "1 to"), (["orders"], "must include"), (["billing", "billing"], "repeat"),
                     (["billing", "no pe"], "local parts")]:
        with pytest.raises(InvalidInput, match=why):
            config.set_allowed_from_local_parts(bad, NOW)
    config.set_allowed_from_local_parts(["billing", "support"], NOW)
    with pytest.raises(InvalidInput):
        config.check_from_local_part("orders")


def test_re_provision_migrates_a_signature_configuration_from_a_settled_state_only() -> None:
    config = config_in(O.OK, A.UNLOCKED)
    with pytest.raises(IllegalSignal):
        config.check(Signal.RE_PROVISION)
    config.apply(Signal.RE_PROVISION, NOW, migrating=True)
    assert (config.operational, config.authentication) == (O.PROVISIONING, Authentication.DOMAIN)
    with pytest.raises(InvalidInput):  # a domain configuration does not go back
        config.check(Signal.RE_PROVISION, migrating=True)
    pending = config_in(O.PENDING, A.LOCKED)
    with pytest.raises(IllegalSignal):
        pending.check(Signal.RE_PROVISION, migrating=True)


def test_forgetting_the_server_forgets_its_token_and_webhook() -> None:
    config = config_in(O.MISSING, A.LOCKED)
    config.record_server(1, "cipher", NOW)
    config.record_webhook(2, NOW)
    config.forget_server()
    assert (config.server_id, config.server_token_ciphertext, config.webhook_id) == (None, None, None)
