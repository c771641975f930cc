"""Run one generator in a child process (``multiprocessing`` spawn context).

Used by the job runner for generators with ``needs_process = True`` (training, anything torch):
a CUDA crash, an out-of-memory kill or a hard cancel then never takes the studio down.

Protocol (two ``multiprocessing`` queues):

- child -> parent: ``("progress", fraction, message, preview)``, ``("output", Output)``,
  ``("done", info)``, ``("cancelled",)``, ``("error", kind, message, hint, traceback)``.
- parent -> child: ``("asset", asset_id)`` or ``("asset_error", message)`` answering each
  output (so ``ctx.emit`` in the child returns only once the parent has written the asset),
  and ``("cancel",)``.

Cancel: the parent sends ``("cancel",)`` (the child's ``ctx.check_cancel()`` raises) and, if the
child has not ended after ``grace`` seconds, terminates and then kills it. A child that dies
without a final message gives a :class:`~genstudio.core.errors.JobError` naming its exit code
or signal. The child watches its parent and exits if the parent dies, so no orphan keeps
writing into a project after the studio was killed.

The child gets a fresh interpreter: it imports the generator by its ``"module:Class"`` target,
with the parent's ``sys.path`` and working folder. A frozen (PyInstaller) studio must call
``multiprocessing.freeze_support()`` first thing in its entry point.
"""

from __future__ import annotations

import atexit
import importlib
import json
import logging
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from multiprocessing.reduction import ForkingPickler
from typing import Any

from genstudio.core import errors as _errors
from genstudio.core.errors import Cancelled, GenStudioError, JobError

log = logging.getLogger(__name__)

#: Seconds a cancelled child may take to stop on its own before it is killed.
CANCEL_GRACE = 2.0
_POLL = 0.05


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "exit code unknown"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        extra = " - the system may have run out of memory" if -code == signal.SIGKILL else ""
        return f"killed by {name}{extra}"
    return f"exit code {code}"


def _rebuild_error(kind: str | None, message: str, hint: str | None) -> GenStudioError:
    cls = getattr(_errors, kind, None) if kind else None
    if isinstance(cls, type) and issubclass(cls, GenStudioError) and cls is not Cancelled:
        try:
            return cls(message, hint=hint)
        except TypeError:
            pass
    return JobError(message, hint=hint)


def run_in_process(
    target: str,
    params: dict[str, Any],
    *,
    on_progress: Callable[[float, str, bytes | None], None],
    on_output: Callable[[Any], str],
    cancel_event: threading.Event,
    grace: float | None = None,
) -> dict[str, Any]:
    """Run generator ``target`` ("module:Class") with ``params`` in a spawned child process.

    Blocks the calling (worker) thread. Returns the result's ``info`` dict; raises
    :class:`Cancelled` after a cancel, the child's :class:`GenStudioError` (rebuilt), or
    :class:`JobError` when the child fails unexpectedly or dies.
    """
    grace = CANCEL_GRACE if grace is None else grace
    ctx = multiprocessing.get_context("spawn")
    to_parent = ctx.Queue()
    to_child = ctx.Queue()
    # Not a daemon: training may start DataLoader workers, which daemons cannot have. The
    # child exits by itself when the parent dies, and an atexit hook kills leftovers.
    proc = ctx.Process(
        target=child_main,
        args=(target, params, to_parent, to_child, list(sys.path), os.getcwd()),
        name=f"genstudio-child-{target.rpartition(':')[2]}",
        daemon=False,
    )
    ended_by_child = False  # the child said it is finishing: let it exit on its own
    cancel_sent: float | None = None
    try:
        proc.start()
        _track(proc)
        while True:
            if cancel_event.is_set() and cancel_sent is None:
                cancel_sent = time.monotonic()
                to_child.put(("cancel",))
            if cancel_sent is not None and time.monotonic() - cancel_sent > grace:
                raise Cancelled()  # it ignored the request: killed below
            try:
                msg = to_parent.get(timeout=_POLL)
            except queue.Empty:
                if proc.is_alive():
                    continue
                # Dead: whatever it flushed before dying is still readable for a moment.
                try:
                    msg = to_parent.get(timeout=0.5)
                except queue.Empty:
                    if cancel_sent is not None:
                        raise Cancelled() from None
                    raise JobError(
                        "The worker process stopped unexpectedly "
                        f"({_describe_exit(proc.exitcode)}).",
                        hint="Results written before it stopped are kept. See the log file.",
                    ) from None
            kind = msg[0]
            if kind == "progress":
                on_progress(msg[1], msg[2], msg[3])
            elif kind == "output":
                try:
                    asset_id = on_output(msg[1])
                except GenStudioError as e:
                    to_child.put(("asset_error", e.user_message()))
                    raise
                to_child.put(("asset", asset_id))
            elif kind == "done":
                ended_by_child = True
                return dict(msg[1] or {})
            elif kind == "cancelled":
                ended_by_child = True
                raise Cancelled()
            elif kind == "error":
                ended_by_child = True
                _, ekind, message, hint, tb = msg
                if tb:
                    log.error("generator %s failed in its child process:\n%s", target, tb)
                raise _rebuild_error(ekind, message, hint)
            else:
                log.warning("unknown message from child process: %r", kind)
    finally:
        if proc.pid is not None:
            _stop(proc, grace if ended_by_child else 0.0)
            _untrack(proc)
        for q in (to_parent, to_child):
            q.cancel_join_thread()  # never block on a pipe nobody reads any more
            q.close()
        proc.close()


def _stop(proc: Any, grace: float) -> None:
    proc.join(grace)
    if proc.is_alive():
        proc.terminate()
        proc.join(1.0)
    if proc.is_alive():
        proc.kill()
        proc.join()


_live: set[Any] = set()
_live_lock = threading.Lock()
_atexit_registered = False


def _track(proc: Any) -> None:
    global _atexit_registered
    with _live_lock:
        _live.add(proc)
        if not _atexit_registered:
            # Registered after multiprocessing's own exit hook, so it runs first (LIFO) and
            # the interpreter never waits at exit for a child nobody will read.
            atexit.register(_kill_live)
            _atexit_registered = True


def _untrack(proc: Any) -> None:
    with _live_lock:
        _live.discard(proc)


def _kill_live() -> None:
    with _live_lock:
        procs = list(_live)
    for p in procs:
        try:
            _stop(p, 0.0)
        except Exception:
            pass


# ----------------------------------------------------------------------------- child side


def _watch_parent() -> None:
    parent = multiprocessing.parent_process()
    if parent is None:
        return
    parent.join()  # returns when the parent has gone
    os._exit(70)


def child_main(
    target: str,
    params: dict[str, Any],
    to_parent: Any,
    to_child: Any,
    sys_path: list[str],
    cwd: str,
) -> None:
    """Entry point of the child process (module level, so spawn can import it)."""
    for p in reversed(sys_path):
        if p not in sys.path:
            sys.path.insert(0, p)
    try:
        os.chdir(cwd)
    except OSError:
        pass
    threading.Thread(target=_watch_parent, name="parent-watch", daemon=True).start()

    cancel = threading.Event()
    replies: queue.Queue[tuple[Any, ...]] = queue.Queue()

    def reader() -> None:
        while True:
            try:
                msg = to_child.get()
            except (EOFError, OSError):
                return
            if msg[0] == "cancel":
                cancel.set()
            else:
                replies.put(msg)

    threading.Thread(target=reader, name="parent-reader", daemon=True).start()

    def emit(output: Any) -> str:
        try:  # fail here, with a message, rather than in the queue's feeder thread
            ForkingPickler.dumps(output)
        except Exception as e:
            raise JobError(f"This output cannot be sent to the studio: {e}") from e
        to_parent.put(("output", output))
        reply = replies.get()
        if reply[0] == "asset_error":
            raise GenStudioError(str(reply[1]))
        return str(reply[1])

    def progress(fraction: float, message: str, preview: bytes | None) -> None:
        to_parent.put(("progress", fraction, message, preview))

    try:
        module_name, _, cls_name = target.partition(":")
        obj: Any = importlib.import_module(module_name)
        for part in cls_name.split("."):
            obj = getattr(obj, part)
        gen = obj()
        p = gen.Params.from_dict(params)
        run_context = importlib.import_module("genstudio.generators.base").RunContext
        ctx = run_context(progress=progress, emit=emit, cancel_event=cancel)
        result = gen.run(p, ctx)
        info = getattr(result, "info", None)
        info = json.loads(json.dumps(info, default=str)) if isinstance(info, dict) else {}
        to_parent.put(("done", info))
    except Cancelled:
        to_parent.put(("cancelled",))
    except GenStudioError as e:
        to_parent.put(("error", type(e).__name__, e.message, e.hint, None))
    except BaseException as e:
        to_parent.put(
            (
                "error",
                None,
                f"Unexpected error: {type(e).__name__}: {e} (details in the log file)",
                None,
                traceback.format_exc(),
            )
        )
    finally:
        to_parent.close()
        to_parent.join_thread()  # flush the last message before the process exits
