"""The emulator's own storage: JSON documents per entity in one SQLite table.

Postmark's entities are already JSON documents, so the emulator stores them as such (in Postmark's
PascalCase, exactly as served) instead of mapping them to columns. ``scope`` is the owning server's
id for server-scoped entities (webhooks, messages, bounces, suppressions), so a server token can
only ever list its own server's data, and deleting a server removes everything it owned.

``path=None`` keeps the database in memory (fast tests); a file path survives restarts. One lock
serialises access: the emulator is a test double, correctness beats concurrency.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

Document = dict[str, Any]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    kind  TEXT NOT NULL,
    id    TEXT NOT NULL,
    scope TEXT NOT NULL DEFAULT '',
    body  TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE INDEX IF NOT EXISTS documents_scope ON documents (kind, scope);
CREATE TABLE IF NOT EXISTS counters (kind TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


class SandboxState:
    """A thread-safe document store keyed by (kind, id), optionally scoped to a server."""

    def __init__(self, path: str | Path | None = None) -> None:
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = None if path is None else Path(path)
        self._conn = sqlite3.connect(
            ":memory:" if path is None else str(path), check_same_thread=False, isolation_level=None
        )
        self._lock = threading.Lock()
        with self._lock:
            self._conn.executescript(_SCHEMA)

    def put(self, kind: str, key: str | int, doc: Document, scope: str | int = "") -> Document:
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO documents (kind, id, scope, body) VALUES (?, ?, ?, ?)",
                (kind, str(key), str(scope), json.dumps(doc)),
            )
        return doc

    def get(self, kind: str, key: str | int) -> Document | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT body FROM documents WHERE kind = ? AND id = ?", (kind, str(key))
            ).fetchone()
        return None if row is None else json.loads(row[0])

    def list(self, kind: str, scope: str | int | None = None) -> list[Document]:
        """Every document of a kind (in insertion order), or only those of one scope."""
        query, args = "SELECT body FROM documents WHERE kind = ?", [kind]
        if scope is not None:
            query, args = query + " AND scope = ?", [kind, str(scope)]
        with self._lock:
            rows = self._conn.execute(query + " ORDER BY rowid", args).fetchall()
        return [json.loads(body) for (body,) in rows]

    def delete(self, kind: str, key: str | int) -> bool:
        with self._lock:
            cursor = self._conn.execute(
                "DELETE FROM documents WHERE kind = ? AND id = ?", (kind, str(key))
            )
        return cursor.rowcount > 0

    def delete_scope(self, scope: str | int) -> None:
        """Remove everything a server owned (its webhooks, messages, bounces, suppressions)."""
        with self._lock:
            self._conn.execute("DELETE FROM documents WHERE scope = ?", (str(scope),))

    def next_id(self, kind: str) -> int:
        """A fresh integer id per kind; never reused, also across restarts."""
        with self._lock:
            self._conn.execute(
                "INSERT INTO counters (kind, value) VALUES (?, 1) "
                "ON CONFLICT (kind) DO UPDATE SET value = value + 1",
                (kind,),
            )
            (value,) = self._conn.execute(
                "SELECT value FROM counters WHERE kind = ?", (kind,)
            ).fetchone()
        return int(value)

    def close(self) -> None:
        with self._lock:
            self._conn.close()
