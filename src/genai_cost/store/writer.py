"""The store writer: every call our instrumentation finishes, written to the store off the app's path.

It is a ``records`` sink. ``add`` runs on the app's thread and only appends to a bounded buffer (a
full buffer drops the call and counts it: the app never waits for the database). A thread of the
writer's own turns records into rows and writes them in batches, one transaction each. When the store
cannot be written (the database is down, the disk is full, a lock held too long) the rows stay
buffered and are retried with a growing pause; one warning says so, another when it is back. On a
normal exit (``atexit``, or the tracer provider's shutdown through the exporter) what is buffered is
written, waiting at most ``EXIT_WAIT_S`` for a store that is down.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Sequence

from genai_cost import _otel_compat
from genai_cost._internal import log_internal_error
from genai_cost.records import CallRecord, add_sink, remove_sink
from genai_cost.store.db import UsageRow
from genai_cost.store.errors import NewerStoreError
from genai_cost.store.rows import call_row

logger = logging.getLogger("genai_cost")

BATCH_ROWS = 5_000  # rows per transaction
INTERVAL_S = 0.2  # how often the thread looks for new calls
RETRY_MAX_S = 5.0  # the longest pause between attempts while the store is down
EXIT_WAIT_S = 5.0  # at exit, how long to keep trying a store that is down


class Target:
    """Where rows go: ``insert`` writes one batch (all or none) and raises when the store is unusable.

    ``UNAVAILABLE`` lists the exceptions that mean "try again later" (not a bug of ours)."""

    UNAVAILABLE: tuple[type[BaseException], ...] = ()
    where: str

    def insert(self, rows: Sequence[UsageRow]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class StoreWriter:
    """Buffers calls and writes them to ``target`` on its own thread. See the module docstring."""

    def __init__(
        self, target: Target, *, limit: int, interval_s: float = INTERVAL_S, exit_wait_s: float = EXIT_WAIT_S
    ) -> None:
        self.target = target
        self.limit = limit
        self.exit_wait_s = exit_wait_s
        self.dropped = 0  # calls lost because the buffer was full (or the store refused them)
        self.written = 0
        self._interval_s = interval_s
        self._incoming: deque[CallRecord] = deque()  # from the app's threads
        self._rows: list[UsageRow] = []  # read, waiting for the store
        self._write_lock = threading.Lock()  # one writer of the store at a time
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._refused = False
        self._down_since: float | None = None
        self._retry_at = 0.0
        self._failures = 0
        # For calls whose tracer has no resource (made before the app set its tracer provider).
        self._service_name: str | bool | None = False  # False: not looked up yet
        _live.add(self)

    # --- the app's side: never blocks --------------------------------------------------------------

    def add(self, record: CallRecord) -> None:
        if len(self._incoming) + len(self._rows) >= self.limit or self._closed:
            if self._closed:  # a call finished after the exit hook: counted in the closing message
                self.dropped += 1
            else:
                self._drop(1)
            return
        self._incoming.append(record)
        if self._thread is None:
            self._start()

    def start(self) -> None:
        """Take calls from now on (register as a records sink)."""
        add_sink(self)

    def _drop(self, count: int) -> None:
        if not self.dropped:
            logger.warning(
                "genai-cost: the usage store buffer is full (%d calls; the store at %s is down or slow); "
                "dropping calls and counting them (the app is unaffected)",
                self.limit,
                self.target.where,
            )
        self.dropped += count

    def _start(self) -> None:
        if self._service_name is False:
            # Now, on the app's thread at its first call: the app's tracer provider is set by then.
            try:
                self._service_name = _otel_compat.service_name()
            except Exception:
                log_internal_error("reading the service name")
                self._service_name = None
        with _start_lock:
            if self._thread is None and not self._closed:
                thread = threading.Thread(target=self._run, name="genai-cost-store-writer", daemon=True)
                thread.start()
                self._thread = thread

    # --- the writer's thread -----------------------------------------------------------------------

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self._interval_s)
            self._wake.clear()
            if self._closed:
                return
            if time.monotonic() >= self._retry_at:
                try:
                    self.write_pending()
                except Exception:
                    log_internal_error("the store writer")

    def write_pending(self, wait_s: float = -1) -> bool:
        """Write every call buffered so far, on this thread; False if the store is unavailable (or
        another write holds the store for longer than ``wait_s``: a server that stopped answering)."""
        if not self._write_lock.acquire(timeout=wait_s):
            return False
        try:
            self._read_incoming()
            if self._refused:  # nothing will be written: forget, count
                self.dropped += len(self._rows)
                del self._rows[:]
            while self._rows:
                batch = self._rows[:BATCH_ROWS]
                if not self._insert(batch):
                    return False
                del self._rows[: len(batch)]
                self.written += len(batch)
            return True
        finally:
            self._write_lock.release()

    def _read_incoming(self) -> None:
        service = self._service_name if isinstance(self._service_name, str) else None
        incoming, rows = self._incoming, self._rows
        while incoming:
            record = incoming.popleft()
            try:
                row = call_row(
                    record.attributes,
                    start_ns=record.start_ns,
                    end_ns=record.end_ns,
                    trace_id=record.trace_id if record.sampled else None,
                    span_id=record.span_id,
                    error=record.error,
                    service_name=record.service_name or service,
                )
            except Exception:  # one odd call must not cost the others
                log_internal_error("the store writer, reading a call")
                continue
            if row is not None:
                rows.append(row)

    def write_rows(self, rows: Sequence[UsageRow]) -> bool:
        """Write ``rows`` now, on this thread (the exporter's, already off the app's path). If the
        store is unavailable they join the buffer (what does not fit is dropped and counted) and are
        retried with the rest. False only when the store refuses to be written (a newer schema)."""
        with self._write_lock:
            if self._insert(rows):
                return True
            if self._refused:
                return False
            room = max(0, self.limit - len(self._rows) - len(self._incoming))
            self._rows.extend(rows[:room])
            if len(rows) > room:
                self._drop(len(rows) - room)
            return True

    def _insert(self, rows: Sequence[UsageRow]) -> bool:
        if self._refused:
            self.dropped += len(rows)
            return False
        try:
            self.target.insert(rows)
        except NewerStoreError as exc:
            self._refused = True
            logger.error("genai-cost: %s; not writing GenAI usage to it (the app is unaffected)", exc)
            self.dropped += len(rows)
            return False
        except self.target.UNAVAILABLE as exc:
            self._failed(exc)
            return False
        if self._down_since is not None:
            logger.warning(
                "genai-cost: the usage store at %s is back after %.0f s; writing the buffered calls%s",
                self.target.where,
                time.monotonic() - self._down_since,
                f" ({self.dropped} dropped so far: the buffer was full)" if self.dropped else "",
            )
        self._down_since, self._failures, self._retry_at = None, 0, 0.0
        return True

    def _failed(self, exc: BaseException) -> None:
        now = time.monotonic()
        if self._down_since is None:
            self._down_since = now
            logger.warning(
                "genai-cost: cannot write to the usage store at %s: %s; keeping up to %d calls in memory "
                "and retrying (the app is unaffected)",
                self.target.where,
                _one_line(exc),
                self.limit,
            )
        self._failures += 1
        self._retry_at = now + min(RETRY_MAX_S, 0.1 * 2**self._failures)

    # --- flushing and closing ------------------------------------------------------------------------

    def flush(self, timeout_s: float = EXIT_WAIT_S) -> bool:
        """Write everything buffered so far; retry a store that is down until ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while True:
            if self.write_pending(max(0.0, deadline - time.monotonic())):
                return True
            pause = min(self._retry_at, deadline) - time.monotonic()
            if time.monotonic() >= deadline:
                return False
            time.sleep(max(0.01, pause))

    def close(self, timeout_s: float | None = None) -> None:
        """Stop taking calls, write what is buffered (waiting at most ``timeout_s``), close the store."""
        if self._closed:
            return
        timeout_s = self.exit_wait_s if timeout_s is None else timeout_s
        remove_sink(self)
        self._closed = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout_s)
        try:
            if not self.flush(timeout_s):
                lost = len(self._rows) + len(self._incoming)
                self.dropped += lost
                logger.error(
                    "genai-cost: the usage store at %s is still unavailable; %d buffered calls are lost",
                    self.target.where,
                    lost,
                )
        finally:
            if self._write_lock.acquire(timeout=timeout_s):
                try:
                    self.target.close()
                finally:
                    self._write_lock.release()
        if self.dropped:
            logger.warning(
                "genai-cost: %d calls were not written to the usage store at %s (buffer full or store "
                "unavailable)",
                self.dropped,
                self.target.where,
            )

    def _after_fork_in_child(self) -> None:
        # The thread does not survive a fork; the parent writes what was buffered before it.
        self._thread = None
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._incoming.clear()
        del self._rows[:]


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


_live: weakref.WeakSet[StoreWriter] = weakref.WeakSet()
_start_lock = threading.Lock()


def _close_all_at_exit() -> None:
    # Calls the app dropped mid-stream are finished first, so they reach the store too.
    from genai_cost.instrumentation import deferred

    deferred.finish_all()
    for writer in list(_live):
        try:
            writer.close()
        except Exception:
            log_internal_error("closing the store writer at exit")


def _after_fork_in_child() -> None:
    for writer in list(_live):
        writer._after_fork_in_child()


atexit.register(_close_all_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
