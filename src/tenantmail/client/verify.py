"""Verify a notification from tenantmail (Standard Webhooks) and parse it.

    event = verify_notification(secret, request.headers, await request.body())
    if already_seen(event.webhook_id):      # at least once: the same notification may come again
        return 200
    handle(event.type, event.data)

It checks, in order: the three ``webhook-*`` headers are there; ``webhook-timestamp`` is within
``tolerance`` seconds of now (a replay of an old capture fails); one of the ``v1,`` signatures in
``webhook-signature`` (several during a secret rotation) is the HMAC-SHA256, keyed with the
secret's base64 part decoded, of ``"{webhook-id}.{webhook-timestamp}.{body}"``, compared in
constant time. Verify the raw bytes as received, before any JSON parsing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping

from tenantmail.client.errors import InvalidSignature
from tenantmail.client.models import Notification
from tenantmail.domain.notification import signature_matches

DEFAULT_TOLERANCE_SECONDS = 300


def verify_notification(
    secret: str, headers: Mapping[str, str], body: bytes | str, *, tolerance: float = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> Notification:
    """The verified notification, or :class:`InvalidSignature`."""
    lowered = {k.lower(): v for k, v in headers.items()}
    message_id, stamp, signatures = (lowered.get(h) for h in ("webhook-id", "webhook-timestamp", "webhook-signature"))
    if not message_id or not stamp or not signatures:
        raise InvalidSignature("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise InvalidSignature("webhook-timestamp is not an integer") from None
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise InvalidSignature(f"webhook-timestamp is more than {tolerance:g} s away from now")
    raw = body.encode() if isinstance(body, str) else bytes(body)
    try:
        valid = signature_matches(secret, message_id, timestamp, raw, signatures)
    except (ValueError, TypeError):  # a secret that is not whsec_ + base64
        raise InvalidSignature("the secret is not a whsec_ secret") from None
    if not valid:
        raise InvalidSignature("no signature matches")
    try:
        event = json.loads(raw)
        return Notification(webhook_id=message_id, type=event["type"], timestamp=event["timestamp"], data=event["data"])
    except (ValueError, KeyError, TypeError):
        raise InvalidSignature("signed, but not a notification body") from None
