"""Where the store writer writes: a ``Target`` per kind of store, opened on first use.

A target opens its connection lazily, on the writer's thread, and drops it after a failure so the
next attempt starts afresh; after a fork the child opens its own (an inherited connection must not
be used or closed).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Sequence

from genai_cost.store.db import UsageRow, UsageStore
from genai_cost.store.dialect import display, is_postgres
from genai_cost.store.errors import StoreError
from genai_cost.store.writer import Target

_LOCK_RETRIES = 6  # with the busy timeout per attempt, far longer than any writer holds the lock


def _is_lock_error(exc: Exception) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def target_for(where: str) -> Target:
    """The target of a store: a PostgreSQL URL, else a SQLite file's path."""
    return PostgresTarget(where) if is_postgres(where) else SqliteTarget(where)


class SqliteTarget(Target):
    UNAVAILABLE = (sqlite3.Error, OSError, StoreError)

    def __init__(self, path: str) -> None:
        self.where = path
        self._store: UsageStore | None = None
        self._pid: int | None = None

    def _open(self) -> UsageStore:
        pid = os.getpid()
        if self._store is None or self._pid != pid:
            self._store = UsageStore.open(self.where)
            self._pid = pid
        return self._store

    def insert(self, rows: Sequence[UsageRow]) -> None:
        """Insert one batch, retrying while another process holds the lock past the busy timeout
        (or SQLite answers "locked" at once, as it can while a new file is set up)."""
        for attempt in range(_LOCK_RETRIES):
            try:
                self._open().insert(rows)
                return
            except (sqlite3.OperationalError, StoreError) as exc:
                self.close()
                if attempt == _LOCK_RETRIES - 1 or not _is_lock_error(exc):
                    raise
                time.sleep(0.05 * 2**attempt)
            except BaseException:
                self.close()  # start afresh on the next batch
                raise

    def close(self) -> None:
        store, self._store = self._store, None
        if store is not None and self._pid == os.getpid():
            with contextlib.suppress(sqlite3.Error):
                store.close()


class PostgresTarget(Target):
    """A PostgreSQL store. A server that is down, restarting or too slow to connect raises an error
    of ``UNAVAILABLE``: the writer keeps the rows and tries again. A batch whose commit succeeded but
    whose answer was lost is sent again and ignored by the unique indexes."""

    def __init__(self, url: str) -> None:
        from genai_cost.store import postgres

        self._url = url
        self.where = display(url)
        self.UNAVAILABLE = (*postgres.unavailable_errors(), OSError, StoreError)
        self._store: UsageStore | None = None
        self._pid: int | None = None

    def insert(self, rows: Sequence[UsageRow]) -> None:
        pid = os.getpid()
        if self._store is None or self._pid != pid:
            self._store, self._pid = UsageStore.open(self._url), pid
        try:
            self._store.insert(rows)
        except BaseException:
            self.close()  # a broken connection is not reused; the next attempt connects afresh
            raise

    def close(self) -> None:
        store, self._store = self._store, None
        if store is not None and self._pid == os.getpid():
            with contextlib.suppress(Exception):
                store.close()
