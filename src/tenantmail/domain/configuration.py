"""A tenant's email configuration and its lifecycle: two orthogonal state regions (SPEC §3).

Sendable ⇔ operational ∈ {OK, DEGRADED} ∧ administrative = UNLOCKED. New configurations start
``PENDING ∥ LOCKED``. Only :meth:`EmailConfiguration.apply` and the named outcome methods move
the operational state; the transition table below is the whole rulebook for operator signals.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from tenantmail.domain.errors import IllegalSignal, InvalidInput, NotSendable
from tenantmail.domain.naming import sending_domain as _sending_domain

SLUG_PATTERN = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
LOCAL_PART_PATTERN = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")


class Operational(StrEnum):
    PENDING = "PENDING"  #: created, nothing exists at Postmark yet
    PROVISIONING = "PROVISIONING"  #: the provisioning job owns the row
    AWAITING_VERIFICATION = "AWAITING_VERIFICATION"  #: DNS published, polling the signature
    OK = "OK"  #: verified and healthy
    DEGRADED = "DEGRADED"  #: back from FAILURE by a health check; OK after the next accepted send
    MISSING = "MISSING"  #: provisioning failed or resources vanished; re-provision
    UNVERIFIED = "UNVERIFIED"  #: verification window elapsed
    FAILURE = "FAILURE"  #: too many consecutive configuration-class send errors
    REMOVED = "REMOVED"  #: terminal; slug freed


class Administrative(StrEnum):
    LOCKED = "LOCKED"  #: no new sends
    UNLOCKED = "UNLOCKED"  #: sends accepted when operational allows


class Signal(StrEnum):
    PROVISION = "provision"
    RE_PROVISION = "re-provision"
    RE_VERIFY = "re-verify"
    LOCK = "lock"
    FORCE_LOCK = "force-lock"
    UNLOCK = "unlock"
    REMOVE = "remove"


SENDABLE_OPERATIONAL = frozenset({Operational.OK, Operational.DEGRADED})
ALL_BUT_REMOVED = frozenset(Operational) - {Operational.REMOVED}


@dataclass(frozen=True)
class Rule:
    """Which states a signal is allowed from. ``to`` is None where the service decides the target."""

    from_: frozenset[Operational]
    to: Operational | None = None
    needs_admin: Administrative | None = None


TRANSITIONS: dict[Signal, Rule] = {
    Signal.PROVISION: Rule(frozenset({Operational.PENDING}), to=Operational.PROVISIONING),
    Signal.RE_PROVISION: Rule(frozenset({Operational.MISSING}), to=Operational.PROVISIONING),
    # UNVERIFIED → AWAITING_VERIFICATION; FAILURE → health check → DEGRADED (decided by the service)
    Signal.RE_VERIFY: Rule(frozenset({Operational.UNVERIFIED, Operational.FAILURE})),
    Signal.LOCK: Rule(ALL_BUT_REMOVED),
    Signal.FORCE_LOCK: Rule(ALL_BUT_REMOVED),
    Signal.UNLOCK: Rule(ALL_BUT_REMOVED, needs_admin=Administrative.LOCKED),
    Signal.REMOVE: Rule(ALL_BUT_REMOVED, to=Operational.REMOVED, needs_admin=Administrative.LOCKED),
}


class ProvisioningStep(StrEnum):
    CREATE_SERVER = "createServer"
    CREATE_SIGNATURE = "createSignature"
    INSTALL_WEBHOOK = "installWebhook"
    WRITE_RECORDS = "writeRecords"


@dataclass(frozen=True)
class Signature:
    from_local_part: str = "noreply"
    from_name: str = ""
    reply_to_email: str | None = None


@dataclass(frozen=True)
class DnsRecords:
    dkim_host: str
    dkim_value: str
    return_path_host: str
    return_path_value: str


@dataclass(frozen=True)
class LastError:
    step: str
    code: str
    message: str


@dataclass
class EmailConfiguration:
    """One tenant's sending setup. Mutated only through its methods, persisted by repositories."""

    e_id: str
    tenant_id: str
    sending_domain_slug: str
    mail_zone_name: str
    signature: Signature
    operational: Operational = Operational.PENDING
    administrative: Administrative = Administrative.LOCKED
    server_id: int | None = None
    signature_id: int | None = None
    webhook_id: int | None = None
    server_token_ciphertext: str | None = field(default=None, repr=False)
    dns: DnsRecords | None = None
    verification_started_at: datetime | None = None
    verified_at: datetime | None = None
    last_error: LastError | None = None
    consecutive_failures: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None
    version: int = 0  #: number of history versions; optimistic-concurrency guard

    # --- construction ---------------------------------------------------------------------
    @classmethod
    def create(
        cls, *, tenant_id: str, slug: str, mail_zone_name: str, signature: Signature, now: datetime
    ) -> EmailConfiguration:
        validate_slug(slug)
        validate_signature(signature)
        return cls(
            e_id=str(uuid.uuid4()), tenant_id=tenant_id, sending_domain_slug=slug,
            mail_zone_name=mail_zone_name, signature=signature, created_at=now, updated_at=now,
        )

    # --- derived values -------------------------------------------------------------------
    @property
    def sending_domain(self) -> str:
        return _sending_domain(self.sending_domain_slug, self.mail_zone_name)

    @property
    def from_email(self) -> str:
        return f"{self.signature.from_local_part}@{self.sending_domain}"

    @property
    def from_header(self) -> str:
        """``"{fromName}" <{local}@{domain}>``: the only From a send may carry (SPEC §5)."""
        name = self.signature.from_name.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{name}" <{self.from_email}>' if name else self.from_email

    @property
    def is_sendable(self) -> bool:
        return (
            self.operational in SENDABLE_OPERATIONAL
            and self.administrative is Administrative.UNLOCKED
        )

    @property
    def is_removed(self) -> bool:
        return self.operational is Operational.REMOVED

    def ensure_sendable(self) -> None:
        if not self.is_sendable:
            raise NotSendable(self.e_id, self.operational, self.administrative)

    # --- operator signals -----------------------------------------------------------------
    def check(self, signal: Signal) -> Rule:
        """Raise :class:`IllegalSignal` unless ``signal`` is allowed in the current states."""
        rule = TRANSITIONS[signal]
        allowed = self.operational in rule.from_ and (
            rule.needs_admin is None or self.administrative is rule.needs_admin
        )
        if not allowed:
            raise IllegalSignal(signal, self.operational, self.administrative)
        return rule

    def apply(self, signal: Signal, now: datetime) -> None:
        """Apply an operator signal's state change (the service performs any I/O around it)."""
        rule = self.check(signal)
        if signal in (Signal.LOCK, Signal.FORCE_LOCK):
            self.administrative = Administrative.LOCKED
        elif signal is Signal.UNLOCK:
            self.administrative = Administrative.UNLOCKED
        elif signal is Signal.RE_VERIFY:
            self._re_verify(now)
        elif rule.to is not None:
            self._move(rule.to, now)
            if signal in (Signal.PROVISION, Signal.RE_PROVISION):
                self.last_error = None
        self.updated_at = now

    def _re_verify(self, now: datetime) -> None:
        if self.operational is Operational.UNVERIFIED:
            self.start_verification(now)
        else:  # FAILURE: the service ran the health check before applying the signal
            self.consecutive_failures = 0
            self._move(Operational.DEGRADED, now)

    # --- outcomes of background work ------------------------------------------------------
    def start_verification(self, now: datetime) -> None:
        self.verification_started_at = now
        self.verified_at = None
        self._move(Operational.AWAITING_VERIFICATION, now)

    def mark_verified(self, now: datetime) -> None:
        self.verified_at = now
        self._move(Operational.OK, now)

    def mark_unverified(self, now: datetime) -> None:
        self._move(Operational.UNVERIFIED, now)

    def mark_missing(self, error: LastError, now: datetime) -> None:
        self.last_error = error
        self._move(Operational.MISSING, now)

    def record_send_failure(self, threshold: int, error: LastError, now: datetime) -> bool:
        """Count a configuration-class send error; return True when this one entered FAILURE."""
        self.consecutive_failures += 1
        self.last_error = error
        self.updated_at = now
        if self.consecutive_failures >= threshold and self.operational in SENDABLE_OPERATIONAL:
            self._move(Operational.FAILURE, now)
            return True
        return False

    def record_send_success(self, now: datetime) -> bool:
        """Reset the failure counter; DEGRADED returns to OK. Return True when anything changed."""
        changed = self.consecutive_failures != 0 or self.operational is Operational.DEGRADED
        self.consecutive_failures = 0
        if self.operational is Operational.DEGRADED:
            self._move(Operational.OK, now)
        return changed

    def _move(self, target: Operational, now: datetime) -> None:
        self.operational = target
        self.updated_at = now

    def copy(self) -> EmailConfiguration:
        return replace(self)


def validate_slug(slug: str) -> None:
    if not isinstance(slug, str) or not SLUG_PATTERN.match(slug):
        raise InvalidInput(
            "sendingDomainSlug must match [a-z0-9]([a-z0-9-]{0,61}[a-z0-9])? (a lower-case DNS label)"
        )


def validate_signature(signature: Signature) -> None:
    if not LOCAL_PART_PATTERN.match(signature.from_local_part) or len(signature.from_local_part) > 64:
        raise InvalidInput("signature.fromLocalPart must be a valid e-mail local part (at most 64 characters)")
    if any(ch in signature.from_name for ch in "\r\n") or len(signature.from_name) > 255:
        raise InvalidInput("signature.fromName must be a single line of at most 255 characters")
