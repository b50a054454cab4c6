"""Tenant ids: how the platform names the tenant every request acts for (SPEC §4 ``X-Tenant-Id``).

1–128 characters of ``[A-Za-z0-9._:@-]``, starting with a letter or digit: safe in a header, a
log line, a metric label and a database key. One rule for every door: the API's ``X-Tenant-Id``
and the CLI's ``--tenant``.
"""

from __future__ import annotations

import re

from tenantmail.domain.errors import InvalidInput

PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$"
_TENANT = re.compile(PATTERN)


class MissingTenant(InvalidInput):
    kind = "MissingTenant"


class InvalidTenant(InvalidInput):
    kind = "InvalidTenant"


def is_tenant_id(value: str) -> bool:
    return _TENANT.fullmatch(value) is not None


def valid_tenant_id(value: str | None) -> str:
    """``value`` when it is a tenant id; MissingTenant / InvalidTenant (400) otherwise."""
    if not value:
        raise MissingTenant("the X-Tenant-Id header is required")
    if not is_tenant_id(value):
        raise InvalidTenant("X-Tenant-Id must be 1-128 characters of [A-Za-z0-9._:@-]")
    return value
