"""Delivery events received from Postmark webhooks (owned by the webhook-ingestion work)."""

from __future__ import annotations

from tenantmail.adapters.db.repositories.base import TenantRepository
from tenantmail.adapters.db.tables import events


class EventRepository(TenantRepository):
    table = events
