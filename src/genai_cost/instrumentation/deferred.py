"""The safe place where calls the app dropped are finished: never inside garbage collection.

A stream or raw response the app drops unfinished is noticed by a weak-reference callback or a
generator's finalizer, and those run inside the garbage collector, at any allocation point of the
app's thread: possibly while that thread holds a lock of the metrics SDK, or halfway through a
``ContextVar.set``. Ending a span, recording a metric or pricing a call there can deadlock or crash
the interpreter. So such a callback only hands the call over (``hand_off``: a ``SimpleQueue.put``,
which CPython documents as safe in ``__del__`` and weakref callbacks) and a small daemon thread
finishes it. At exit, before the OpenTelemetry SDK shuts down, whatever is queued or still open is
finished too: nothing in flight is lost.
"""

from __future__ import annotations

import atexit
import os
import queue
import threading
from typing import Protocol

from genai_cost._internal import log_internal_error

_WORKER_JOIN_S = 2.0


class Pending(Protocol):
    """A call waiting to be finished: a dropped stream or raw response."""

    def finish_dropped(self) -> None:
        """Finish the call (on the worker or at exit, never in a GC callback). Idempotent."""
        ...


_queue: queue.SimpleQueue[Pending | None] = queue.SimpleQueue()
# Calls that may still need finishing at exit (a stream the app still holds, unfinished). Keyed by
# id(): the values hold no reference to the app's objects.
_open: dict[int, Pending] = {}
_worker: threading.Thread | None = None
_start_lock = threading.Lock()
_exit_hook_registered = False


def hand_off(item: Pending) -> None:
    """Queue ``item`` to be finished on the worker. Safe inside a GC or weakref callback."""
    _queue.put(item)


def track(item: Pending) -> None:
    """Note a call that may be dropped later; starts the worker (call from the app's thread)."""
    _open[id(item)] = item
    if _worker is None:
        _start()


def untrack(item: Pending) -> None:
    _open.pop(id(item), None)


def _start() -> None:
    global _worker, _exit_hook_registered
    with _start_lock:
        if _worker is not None:
            return
        if not _exit_hook_registered:
            # Registered now, after the app's TracerProvider (and its own exit hook) exists: atexit
            # runs hooks last-in first-out, so ours runs before the SDK shuts down.
            atexit.register(finish_all)
            _exit_hook_registered = True
        worker = threading.Thread(target=_run, name="genai-cost-finisher", daemon=True)
        worker.start()
        _worker = worker


def _finish(item: Pending) -> None:
    try:
        item.finish_dropped()
    except Exception:
        log_internal_error("finishing a dropped stream")


def _run() -> None:
    while True:
        item = _queue.get()
        if item is None:
            return
        _finish(item)


def drain() -> None:
    """Finish everything queued so far, on this thread (exit, tests)."""
    while True:
        try:
            item = _queue.get_nowait()
        except queue.Empty:
            return
        if item is not None:
            _finish(item)


class _Marker:
    __slots__ = ("reached",)

    def __init__(self) -> None:
        self.reached = threading.Event()

    def finish_dropped(self) -> None:
        self.reached.set()


def flush(timeout: float = 5.0) -> bool:
    """Wait until everything handed off so far is finished; False on timeout."""
    worker = _worker
    if worker is None or not worker.is_alive():
        drain()
        return True
    marker = _Marker()
    _queue.put(marker)
    return marker.reached.wait(timeout)


def finish_all() -> None:
    """At exit: stop the worker, finish what is queued, then every call still open."""
    global _worker
    worker = _worker
    if worker is not None and worker.is_alive():
        _queue.put(None)
        worker.join(_WORKER_JOIN_S)
    _worker = None
    drain()
    for item in list(_open.values()):
        _finish(item)
    drain()  # finishing may have dropped more


def _after_fork_in_child() -> None:
    # The worker thread does not survive a fork; the next tracked call starts a new one.
    global _worker, _queue
    _worker = None
    _queue = queue.SimpleQueue()
    _open.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
