"""Configuration shapes of the API (SPEC §2 field names, §4 record envelope, POST /configuration body)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tenantmail.domain.configuration import (
    EMAIL_PATTERN,
    MAX_ALLOWED_LOCAL_PARTS,
    Authentication,
    ConfigurationVersion,
    EmailConfiguration,
)
from tenantmail.domain.header_text import PATTERN as HEADER_TEXT
from tenantmail.entrypoints.api.schemas import PAYLOAD_EID, AsOf, RecordEnvelope, RecordMetadata, epoch_ms, iso
from tenantmail.services.create_configuration import NewConfiguration


LocalPart = Annotated[str, Field(min_length=1, max_length=64, examples=["billing"])]


class SignatureIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fromLocalPart: str | None = Field(default=None, max_length=64, description="Default: noreply.")
    fromName: str = Field(min_length=1, max_length=255, examples=["Acme"], json_schema_extra={"pattern": HEADER_TEXT})
    replyToEmail: str | None = Field(default=None, max_length=320, description="Any domain.",
                                     json_schema_extra={"pattern": EMAIL_PATTERN.pattern})


#: The platform's documented name for the signature input (``EmailConfigurationInput``), and the
#: name tenantmail accepted first, kept as its alias (docs/decisions.md D16). Exactly one is sent.
SIGNATURE_FIELD, SIGNATURE_ALIAS = "signatureRequest", "signature"


def _no_default(schema: dict[str, Any]) -> None:
    """Either field may be left out, but neither defaults to ``null`` (null is refused)."""
    schema.pop("default", None)


def _alias_of(primary: str) -> Callable[[dict[str, Any]], None]:
    def extra(schema: dict[str, Any]) -> None:
        _no_default(schema)
        schema["x-alias-of"] = primary
    return extra


class ConfigurationIn(BaseModel):
    """The body of ``POST /configuration``; the sending domain and From address are derived.

    The signature comes as ``signatureRequest`` (the platform's documented name) or as its alias
    ``signature``: exactly one of the two."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "oneOf": [{"required": [SIGNATURE_FIELD]}, {"required": [SIGNATURE_ALIAS]}],
        "examples": [{"sendingDomainSlug": "acme", SIGNATURE_FIELD: {  # the platform's documented example
            "fromLocalPart": "noreply", "fromName": "Acme Co", "replyToEmail": "support@acme.com"}}],
    })

    sendingDomainSlug: str = Field(
        min_length=1, max_length=63, examples=["acme"],
        description="A lower-case DNS label: [a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?",
    )
    # Typed without ``| None`` although left out means None: a union would report each mistake inside
    # the object twice (once per branch), and null is refused as it should be. Read through to_request.
    signatureRequest: SignatureIn = Field(
        default=None, json_schema_extra=_no_default,
        description="The fixed From of every send: name, local part, reply-to. "
        "Required unless its alias `signature` is sent instead (not both).",
    )
    signature: SignatureIn = Field(
        default=None, json_schema_extra=_alias_of(SIGNATURE_FIELD),
        description="Alias of `signatureRequest` (the name responses use); not both.",
    )

    @model_validator(mode="after")
    def _exactly_one_signature(self) -> ConfigurationIn:
        given = [name for name in (SIGNATURE_FIELD, SIGNATURE_ALIAS) if name in self.model_fields_set]
        if len(given) == 2:
            raise ValueError(f"send {SIGNATURE_FIELD} or its alias {SIGNATURE_ALIAS}, not both")
        if not given:
            raise ValueError(f"{SIGNATURE_FIELD}: Field required (or its alias {SIGNATURE_ALIAS})")
        return self
    authentication: Authentication = Field(
        default=Authentication.SIGNATURE,
        description="signature: one Postmark sender signature for the From address; domain: a "
        "Postmark Domain, so a send may choose any of allowedFromLocalParts.",
    )
    allowedFromLocalParts: list[LocalPart] | None = Field(
        default=None, min_length=1, max_length=MAX_ALLOWED_LOCAL_PARTS,
        description="The local parts fromLocalPart on POST /job may choose; must include "
        "signature.fromLocalPart. Default: [signature.fromLocalPart]. More than that needs "
        "authentication domain.",
    )

    def to_request(self) -> NewConfiguration:
        sig: SignatureIn | None = self.signatureRequest or self.signature
        assert sig is not None  # _exactly_one_signature
        return NewConfiguration(
            slug=self.sendingDomainSlug, from_name=sig.fromName,
            from_local_part=sig.fromLocalPart, reply_to_email=sig.replyToEmail,
            authentication=self.authentication,
            allowed_from_local_parts=tuple(self.allowedFromLocalParts) if self.allowedFromLocalParts else None,
        )


class ConfigurationPatch(BaseModel):
    """The body of ``PATCH /configuration/{eId}``: what an operator may change."""

    model_config = ConfigDict(extra="forbid")

    allowedFromLocalParts: list[LocalPart] = Field(
        min_length=1, max_length=MAX_ALLOWED_LOCAL_PARTS,
        description="Replaces the allow-list; must include signature.fromLocalPart.",
    )


class SignalIn(BaseModel):
    """The optional body of a signal: ``re-provision`` may change the authentication."""

    model_config = ConfigDict(extra="forbid")

    authentication: Authentication | None = Field(
        default=None, description="re-provision only: 'domain' migrates a signature configuration "
        "to a Postmark Domain (also from OK, DEGRADED, UNVERIFIED, FAILURE, AWAITING_VERIFICATION).",
    )


class SignatureOut(BaseModel):
    fromLocalPart: str
    fromName: str
    replyToEmail: str | None
    fromEmail: str


class PostmarkIds(BaseModel):
    serverId: int | None
    signatureId: int | None
    domainId: int | None
    webhookId: int | None


class DnsRecordOut(BaseModel):
    host: str
    value: str


class DnsOut(BaseModel):
    dkim: DnsRecordOut
    returnPath: DnsRecordOut


class LastErrorOut(BaseModel):
    step: str
    code: str
    message: str


class ConfigurationOut(BaseModel):
    eId: str = Field(description=PAYLOAD_EID)
    sendingDomainSlug: str
    sendingDomain: str
    signature: SignatureOut
    authentication: str
    allowedFromLocalParts: list[str]
    operationalStatus: str
    administrativeStatus: str
    sendable: bool
    postmark: PostmarkIds
    dns: DnsOut | None
    verificationStartedAt: str | None
    verifiedAt: str | None
    lastError: LastErrorOut | None
    createdAt: str | None
    updatedAt: str | None


ConfigurationEnvelope = RecordEnvelope[ConfigurationOut]


class ConfigurationVersionOut(ConfigurationEnvelope):
    """One history version: the envelope plus what caused it."""

    signal: str = Field(description="The signal (or background outcome, e.g. provisioning:createServer).")


def configuration_payload(config: EmailConfiguration) -> ConfigurationOut:
    dns, err, sig = config.dns, config.last_error, config.signature
    return ConfigurationOut(
        eId=config.e_id, sendingDomainSlug=config.sending_domain_slug, sendingDomain=config.sending_domain,
        signature=SignatureOut(fromLocalPart=sig.from_local_part, fromName=sig.from_name,
                               replyToEmail=sig.reply_to_email, fromEmail=config.from_email),
        authentication=config.authentication.value, allowedFromLocalParts=list(config.allowed_local_parts),
        operationalStatus=config.operational.value, administrativeStatus=config.administrative.value,
        sendable=config.is_sendable,
        postmark=PostmarkIds(serverId=config.server_id, signatureId=config.signature_id,
                             domainId=config.domain_id, webhookId=config.webhook_id),
        dns=DnsOut(dkim=DnsRecordOut(host=dns.dkim_host, value=dns.dkim_value),
                   returnPath=DnsRecordOut(host=dns.return_path_host, value=dns.return_path_value)) if dns else None,
        verificationStartedAt=iso(config.verification_started_at), verifiedAt=iso(config.verified_at),
        lastError=LastErrorOut(step=err.step, code=err.code, message=err.message) if err else None,
        createdAt=iso(config.created_at), updatedAt=iso(config.updated_at),
    )


def _fields(version: ConfigurationVersion) -> dict[str, Any]:
    return {
        "eId": version.config.e_id, "rId": version.r_id,
        "asOf": AsOf(effectiveFrom=epoch_ms(version.effective_at), recordedFrom=epoch_ms(version.recorded_at)),
        "payload": configuration_payload(version.config),
        "metadata": RecordMetadata(tenantId=version.config.tenant_id, author=version.author),
    }


def configuration_envelope(version: ConfigurationVersion) -> dict[str, Any]:
    return ConfigurationEnvelope(**_fields(version)).model_dump(mode="json")


def version_entry(version: ConfigurationVersion) -> dict[str, Any]:
    return ConfigurationVersionOut(**_fields(version), signal=version.cause).model_dump(mode="json")
