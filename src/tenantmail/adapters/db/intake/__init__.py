"""The two hot paths' storage: ``POST /job`` (:mod:`sends`) and the webhook (:mod:`webhook_events`).

Each path is a short unit of SQL, built once per database from the table metadata
(:mod:`dialects`: only the spelling differs between PostgreSQL and SQLite), and run through one
:class:`~group_commit.GroupCommit` per process, which batches concurrent units into one transaction
on a lane of its own connections (:mod:`postgres_lane`: two psycopg connections; :mod:`sqlite_lane`:
one sqlite3 connection in its own thread). Everything else stays on the SQLAlchemy engine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from tenantmail.adapters.db.intake.dialects import DIALECTS
from tenantmail.adapters.db.intake.group_commit import GroupCommit, Lane
from tenantmail.adapters.db.intake.postgres_lane import PostgresLane
from tenantmail.adapters.db.intake.sends import SendStore
from tenantmail.adapters.db.intake.sqlite_lane import SqliteLane
from tenantmail.adapters.db.intake.webhook_events import EventStore
from tenantmail.adapters.db.engine import sqlite_writer_queue
from tenantmail.services.ports import Telemetry

#: PostgreSQL lanes (connections) per process. Four split the load into batches too small to pay;
#: one lets a statement waiting on a row lock hold up every request of the process. Two: a lane
#: stays free while the other waits. SQLite has one writer, so one lane.
POSTGRESQL_LANES = 2


@dataclass(frozen=True)
class Intake:
    """The process's group commit and the two stores built on it."""

    commit: GroupCommit
    sends: SendStore
    events: EventStore

    async def close(self) -> None:
        await self.commit.close()


def open_intake(engine: AsyncEngine, url: str, telemetry: Telemetry | None = None,
                wake: Callable[[str], None] | None = None, *, wake_dispatch: bool = True) -> Intake:
    """The intake for the engine's database (connections open on first use). ``wake``: the
    in-process wake-up of a channel (SQLite; PostgreSQL lanes commit a NOTIFY instead);
    ``wake_dispatch`` False: new jobs wake nobody (polling only)."""
    dialect = DIALECTS[engine.dialect.name]
    lanes: list[Lane]
    if dialect.is_postgresql:
        lanes = [PostgresLane(url) for _ in range(POSTGRESQL_LANES)]
    else:
        lanes = [SqliteLane(url, lambda: sqlite_writer_queue(engine), wake)]
    commit = GroupCommit(lanes, telemetry=telemetry)
    return Intake(commit, SendStore(commit, dialect, wake_dispatch=wake_dispatch), EventStore(commit, dialect))
