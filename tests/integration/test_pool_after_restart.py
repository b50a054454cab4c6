"""The general pool survives a database restart: the first request after recovery succeeds (SPEC §14).

A restart, as the pool sees it, is every server connection of the database being terminated
(``pg_terminate_backend``) — the shared PostgreSQL server itself is never restarted. SQLite has no
server and no connection that can die under the pool, so only PostgreSQL runs this.
"""

from __future__ import annotations

import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url

from tenantmail.bootstrap import Container
from tests.conftest import PG_ADMIN_DSN


def terminate_connections_to(database: str) -> int:
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        ).fetchall()
    return len(rows)


async def test_the_first_reads_after_a_restart_succeed(api: httpx.AsyncClient, app_container: Container,
                                                        backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite has no server connection to lose")
    for _ in range(3):  # the pool holds connections now
        assert (await api.get("/job")).status_code == 200
        assert (await api.get("/configuration")).status_code == 200
    database = make_url(app_container.settings.effective_database_url).database
    assert terminate_connections_to(str(database)) >= 1
    for path in ("/job", "/configuration", "/suppression", "/job", "/configuration"):
        response = await api.get(path)
        assert response.status_code == 200, f"{path}: {response.status_code} {response.text}"
