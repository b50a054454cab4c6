"""A tenant's email configuration and its lifecycle: two orthogonal state regions (SPEC §3).

Sendable ⇔ operational ∈ {OK, DEGRADED} ∧ administrative = UNLOCKED. New configurations start
``PENDING ∥ LOCKED``. Only :meth:`EmailConfiguration.apply` and the named outcome methods move
the operational state; the transition table below is the whole rulebook for operator signals.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from tenantmail.domain.errors import Conflict, IllegalSignal, InvalidInput, NotSendable
from tenantmail.domain.header_text import check_header_text
from tenantmail.domain.naming import sending_domain as _sending_domain

SLUG_PATTERN = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
EMAIL_PATTERN = re.compile(r"^(?=.{3,320}$)[^@\s\"<>,;]+@[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+$")
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


class Authentication(StrEnum):
    """How the sending domain is authenticated at Postmark (SPEC §18)."""

    SIGNATURE = "signature"  #: one sender signature for the fixed From address
    DOMAIN = "domain"  #: a Postmark Domain: any allowed local part may send


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
#: While PROVISIONING the provisioning job owns the row's Postmark resources: removing them under
#: its feet would leak whatever it creates next, so remove waits for MISSING/AWAITING_VERIFICATION.
REMOVABLE = ALL_BUT_REMOVED - {Operational.PROVISIONING}
#: Where ``re-provision`` may migrate a signature configuration to a Domain: every state whose
#: Postmark resources are settled (not PENDING: provision it as a domain instead; not
#: PROVISIONING: the job owns the row).
MIGRATABLE = frozenset({
    Operational.AWAITING_VERIFICATION, Operational.OK, Operational.DEGRADED, Operational.UNVERIFIED,
    Operational.FAILURE, Operational.MISSING,
})
MAX_ALLOWED_LOCAL_PARTS = 50


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
    # A signal that would change nothing is refused (409) rather than recorded as an empty version:
    # lock only from UNLOCKED. force-lock stays allowed from LOCKED: it also cancels the queued jobs
    # a plain lock lets drain.
    Signal.LOCK: Rule(ALL_BUT_REMOVED, needs_admin=Administrative.UNLOCKED),
    Signal.FORCE_LOCK: Rule(ALL_BUT_REMOVED),
    Signal.UNLOCK: Rule(ALL_BUT_REMOVED, needs_admin=Administrative.LOCKED),
    Signal.REMOVE: Rule(REMOVABLE, to=Operational.REMOVED, needs_admin=Administrative.LOCKED),
}


class ProvisioningStep(StrEnum):
    CREATE_SERVER = "createServer"
    CREATE_SIGNATURE = "createSignature"
    CREATE_DOMAIN = "createDomain"
    INSTALL_WEBHOOK = "installWebhook"
    WRITE_RECORDS = "writeRecords"


class HealthCheckFailed(Conflict):
    """``re-verify`` from FAILURE found the Postmark setup still unhealthy; the state is kept."""

    kind = "HealthCheckFailed"

    def __init__(self, reason: str):
        super().__init__(f"health check failed: {reason}; the configuration stays in FAILURE", reason=reason)


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
    authentication: Authentication = Authentication.SIGNATURE
    domain_id: int | None = None  #: the Postmark Domain (``authentication`` domain)
    #: the local parts a send may choose (``fromLocalPart`` on POST /job); empty = the signature's
    allowed_from_local_parts: tuple[str, ...] = ()
    #: a Postmark creation call that was started and whose answer is not recorded yet; only with
    #: this marker may a same-named server (or same-address signature) be taken for ours
    step_in_flight: ProvisioningStep | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    version: int = 0  #: number of history versions; optimistic-concurrency guard

    # --- construction ---------------------------------------------------------------------
    @classmethod
    def create(
        cls, *, tenant_id: str, slug: str, mail_zone_name: str, signature: Signature, now: datetime,
        authentication: Authentication = Authentication.SIGNATURE,
        allowed_from_local_parts: tuple[str, ...] | None = None,
    ) -> EmailConfiguration:
        validate_slug(slug)
        validate_signature(signature)
        config = cls(
            e_id=str(uuid.uuid4()), tenant_id=tenant_id, sending_domain_slug=slug,
            mail_zone_name=mail_zone_name, signature=signature, created_at=now, updated_at=now,
            authentication=authentication,
        )
        config.allowed_from_local_parts = config.valid_allowed_local_parts(
            allowed_from_local_parts or (signature.from_local_part,))
        return config

    # --- derived values -------------------------------------------------------------------
    @property
    def sending_domain(self) -> str:
        return _sending_domain(self.sending_domain_slug, self.mail_zone_name)

    @property
    def from_email(self) -> str:
        return f"{self.signature.from_local_part}@{self.sending_domain}"

    @property
    def from_header(self) -> str:
        """``"{fromName}" <{local}@{domain}>`` with the configuration's own local part (SPEC §5)."""
        return self.from_header_for(None)

    def from_header_for(self, local_part: str | None) -> str:
        """The From of a send that chose ``local_part`` (None: the configuration's). Only allowed
        local parts ever make a From (:meth:`check_from_local_part`)."""
        address = f"{self.check_from_local_part(local_part)}@{self.sending_domain}"
        name = self.signature.from_name.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{name}" <{address}>' if name else address

    @property
    def allowed_local_parts(self) -> tuple[str, ...]:
        """What ``fromLocalPart`` may be: the allow-list, by default the signature's local part."""
        return self.allowed_from_local_parts or (self.signature.from_local_part,)

    def check_from_local_part(self, local_part: str | None) -> str:
        """The local part a send uses; InvalidInput (400) when it is not on the allow-list."""
        chosen = self.signature.from_local_part if local_part is None else local_part
        if chosen not in self.allowed_local_parts:
            raise InvalidInput(
                f"fromLocalPart {chosen!r} is not allowed for this configuration; allowed: "
                + ", ".join(self.allowed_local_parts)
            )
        return chosen

    def valid_allowed_local_parts(self, parts: tuple[str, ...] | list[str]) -> tuple[str, ...]:
        """The allow-list as it may be stored, or InvalidInput: valid local parts, no duplicates,
        the signature's own among them (it is the default From), and — for a signature
        configuration, which Postmark lets send only from that one address — nothing else."""
        parts = tuple(parts)
        if not parts or len(parts) > MAX_ALLOWED_LOCAL_PARTS:
            raise InvalidInput(f"allowedFromLocalParts must list 1 to {MAX_ALLOWED_LOCAL_PARTS} local parts")
        for part in parts:
            validate_local_part(part, "allowedFromLocalParts")
        if len(set(parts)) != len(parts):
            raise InvalidInput("allowedFromLocalParts must not repeat a local part")
        if self.signature.from_local_part not in parts:
            raise InvalidInput(
                f"allowedFromLocalParts must include the signature's fromLocalPart "
                f"{self.signature.from_local_part!r} (the From of sends that choose none)")
        if self.authentication is Authentication.SIGNATURE and parts != (self.signature.from_local_part,):
            raise InvalidInput(
                "a signature-authenticated configuration can send only from its signature's address; "
                "re-provision it with authentication 'domain' to allow more local parts")
        return parts

    def set_allowed_from_local_parts(self, parts: list[str], now: datetime) -> None:
        """An operator's edit of the allow-list (``PATCH /configuration/{eId}``)."""
        if self.is_removed:
            raise Conflict("a removed configuration cannot be edited",
                           operationalStatus=self.operational.value)
        self.allowed_from_local_parts = self.valid_allowed_local_parts(parts)
        self.updated_at = now

    @property
    def is_sendable(self) -> bool:
        return (
            self.operational in SENDABLE_OPERATIONAL
            and self.administrative is Administrative.UNLOCKED
        )

    @property
    def dispatches(self) -> bool:
        """Its queued jobs go to Postmark: OK or DEGRADED with a server token. LOCKED still drains
        (SPEC §3); jobs of a configuration that does not dispatch are parked until it does."""
        return self.operational in SENDABLE_OPERATIONAL and bool(self.server_token_ciphertext)

    @property
    def is_removed(self) -> bool:
        return self.operational is Operational.REMOVED

    def ensure_sendable(self) -> None:
        if not self.is_sendable:
            raise NotSendable(self.e_id, self.operational, self.administrative)

    # --- operator signals -----------------------------------------------------------------
    def check(self, signal: Signal, *, migrating: bool = False) -> Rule:
        """Raise :class:`IllegalSignal` unless ``signal`` is allowed in the current states.
        ``migrating``: a ``re-provision`` that moves a signature configuration to a Domain."""
        rule = TRANSITIONS[signal]
        if migrating:
            if signal is not Signal.RE_PROVISION or self.authentication is not Authentication.SIGNATURE:
                raise InvalidInput("only re-provision can change the authentication, and only from "
                                   "'signature' to 'domain'")
            rule = Rule(MIGRATABLE, to=Operational.PROVISIONING)
        allowed = self.operational in rule.from_ and (
            rule.needs_admin is None or self.administrative is rule.needs_admin
        )
        if not allowed:
            raise IllegalSignal(signal, self.operational, self.administrative)
        return rule

    def apply(self, signal: Signal, now: datetime, *, migrating: bool = False) -> None:
        """Apply an operator signal's state change (the service performs any I/O around it).
        ``migrating``: ``re-provision`` to a Domain; the steps then create the domain."""
        rule = self.check(signal, migrating=migrating)
        if migrating:
            self.authentication = Authentication.DOMAIN
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

    # --- provisioning (each step's result is recorded, so a re-run skips it) --------------
    @property
    def next_provisioning_step(self) -> ProvisioningStep | None:
        """The first step whose result is not recorded; None when not PROVISIONING."""
        if self.operational is not Operational.PROVISIONING:
            return None
        if self.server_id is None:
            return ProvisioningStep.CREATE_SERVER
        if self.authentication is Authentication.SIGNATURE and self.signature_id is None:
            return ProvisioningStep.CREATE_SIGNATURE
        if self.authentication is Authentication.DOMAIN and self.domain_id is None:
            return ProvisioningStep.CREATE_DOMAIN
        if self.webhook_id is None:
            return ProvisioningStep.INSTALL_WEBHOOK
        return ProvisioningStep.WRITE_RECORDS

    def begin_step(self, step: ProvisioningStep) -> None:
        """Mark a creation call as started; persisted before the call goes out."""
        self.step_in_flight = step

    def record_server(self, server_id: int, token_ciphertext: str, now: datetime) -> None:
        self.server_id, self.server_token_ciphertext = server_id, token_ciphertext
        self._recorded(now)

    def record_signature(self, signature_id: int, dns: DnsRecords, now: datetime) -> None:
        self.signature_id, self.dns = signature_id, dns
        self._recorded(now)

    def record_domain(self, domain_id: int, dns: DnsRecords, now: datetime) -> None:
        self.domain_id, self.dns = domain_id, dns
        self._recorded(now)

    def record_webhook(self, webhook_id: int, now: datetime) -> None:
        self.webhook_id = webhook_id
        self._recorded(now)

    def _recorded(self, now: datetime) -> None:
        self.step_in_flight = None
        self.updated_at = now

    def forget_server(self) -> None:
        """The server is deleted (or disowned as an orphan); its webhooks went with it."""
        self.server_id = self.server_token_ciphertext = self.webhook_id = None

    def forget_signature(self) -> None:
        self.signature_id = None

    def record_dns(self, dns: DnsRecords, now: datetime) -> None:
        """The records Postmark asks for now (a drift repair re-published them)."""
        self.dns = dns
        self.updated_at = now

    def forget_domain(self) -> None:
        self.domain_id = None

    def forget_webhook(self) -> None:
        self.webhook_id = None

    def forget_dns(self) -> None:
        self.dns = None

    # --- outcomes of background work ------------------------------------------------------
    def start_verification(self, now: datetime) -> None:
        self.verification_started_at = now
        self.verified_at = None
        self.step_in_flight = None
        self._move(Operational.AWAITING_VERIFICATION, now)

    def verification_expired(self, now: datetime, window: timedelta) -> bool:
        started = self.verification_started_at or self.updated_at or now
        return now >= started + window

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


@dataclass(frozen=True)
class ConfigurationVersion:
    """One immutable version of a configuration (an entry of its history, the audit log)."""

    config: EmailConfiguration
    r_id: str
    recorded_at: datetime
    effective_at: datetime
    author: str
    cause: str  #: the signal, or the background outcome (e.g. ``provisioning:createServer``)


def validate_slug(slug: str) -> None:
    if not isinstance(slug, str) or not SLUG_PATTERN.match(slug):
        raise InvalidInput(
            "sendingDomainSlug must match [a-z0-9]([a-z0-9-]{0,61}[a-z0-9])? (a lower-case DNS label)"
        )


def validate_local_part(part: object, what: str) -> None:
    if not isinstance(part, str) or not LOCAL_PART_PATTERN.match(part) or len(part) > 64:
        raise InvalidInput(f"{what} must be valid e-mail local parts (at most 64 characters each)")


def validate_signature(signature: Signature) -> None:
    if not LOCAL_PART_PATTERN.match(signature.from_local_part) or len(signature.from_local_part) > 64:
        raise InvalidInput("signature.fromLocalPart must be a valid e-mail local part (at most 64 characters)")
    if not signature.from_name.strip():
        raise InvalidInput("signature.fromName must not be empty")
    if any(ch in signature.from_name for ch in "\r\n") or len(signature.from_name) > 255:
        raise InvalidInput("signature.fromName must be a single line of at most 255 characters")
    check_header_text(signature.from_name, "signature.fromName")
    reply_to = signature.reply_to_email
    if reply_to is not None and not EMAIL_PATTERN.match(reply_to):
        raise InvalidInput("signature.replyToEmail must be one e-mail address (local@domain, at most 320 characters)")
