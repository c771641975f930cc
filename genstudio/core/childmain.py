"""Entry point of a child process: ``python -u -m genstudio.core.childmain``.

Started by :func:`genstudio.core.procrunner.run_in_process`, which describes the protocol (JSON
lines on stdin and stdout). This side:

- first of all moves the protocol channel out of reach: fd 1 is duplicated to a private fd used
  only for protocol lines, then fd 1 is pointed at stderr, so a ``print`` or a C library writing
  to stdout lands in the studio's log instead of in the protocol; stdin likewise becomes a
  private fd and fd 0 reads from the null device;
- reads the ``start`` line, imports the generator by its ``"module:Class"`` target (with the
  studio's ``sys.path`` and working folder) and runs it with a ``RunContext`` whose progress,
  emit and events become protocol lines;
- reads the parent's later lines in a thread: ``cancel`` sets the cancel event, ``pause`` makes
  the next ``ctx.check_cancel()`` block until ``resume`` or ``cancel``; the end of stdin (the
  studio has gone) counts as a cancel, and the process exits with code 70 if it has not
  finished 10 s later.

Nothing heavy is imported here (stdlib and ``genstudio.core.errors``): the generator brings
what it needs.
"""

from __future__ import annotations

import base64
import importlib
import json
import logging
import os
import queue
import sys
import threading
import time
import traceback
from typing import IO, Any

from genstudio.core.errors import Cancelled, GenStudioError, JobError

PROTOCOL = 1
#: niceness added to the child (training is background work)
CHILD_NICE = 10
MAX_LINE = 64 * 1024 * 1024
#: Seconds the child may go on after its parent has gone before it exits by force.
ORPHAN_GRACE = 10.0
ORPHAN_EXIT_CODE = 70

log = logging.getLogger("genstudio.core.childmain")


def _json_default(obj: Any) -> Any:
    item = getattr(obj, "item", None)  # numpy scalars
    if callable(item) and getattr(obj, "shape", None) == ():
        return item()
    tolist = getattr(obj, "tolist", None)  # numpy arrays
    if callable(tolist):
        return tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, set | frozenset):
        return sorted(obj, key=repr)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def encode_line(msg: dict[str, Any]) -> bytes:
    text = json.dumps(msg, separators=(",", ":"), ensure_ascii=True, default=_json_default)
    return (text + "\n").encode("utf-8")


class _Channel:
    """The protocol's write end: whole lines, one writer at a time."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def send(self, msg: dict[str, Any]) -> None:
        """Raises ``TypeError``/``ValueError`` for data that is not JSON, ``OSError`` when the
        parent has gone."""
        data = encode_line(msg)
        with self._lock:
            self._stream.write(data)
            self._stream.flush()


class _Child:
    def __init__(self, channel: _Channel, stdin: IO[bytes]) -> None:
        self.channel = channel
        self.stdin = stdin
        self.cancel = threading.Event()
        self.pause = threading.Event()
        self.replies: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.parent_gone = threading.Event()
        self._emit_lock = threading.Lock()

    # --- parent -> child ---------------------------------------------------------------

    def read_parent(self) -> None:
        """Thread: the parent's lines after ``start``."""
        while True:
            try:
                line = self.stdin.readline(MAX_LINE + 1)
            except (OSError, ValueError):
                line = b""
            if not line or len(line) > MAX_LINE:
                self._orphaned()
                return
            try:
                msg = json.loads(line)
                kind = msg.get("type") if isinstance(msg, dict) else None
            except ValueError:
                kind = None
            if kind == "cancel":
                self.cancel.set()
            elif kind == "pause":
                self.pause.set()
            elif kind == "resume":
                self.pause.clear()
            elif kind in ("asset", "asset_error"):
                self.replies.put(msg)
            else:
                log.warning("ignored a line from the studio: %.200r", line)

    def _orphaned(self) -> None:
        self.parent_gone.set()
        self.cancel.set()
        self.replies.put(None)  # an emit waiting for its answer gets none

        def force_exit() -> None:
            time.sleep(ORPHAN_GRACE)
            os._exit(ORPHAN_EXIT_CODE)

        threading.Thread(target=force_exit, name="orphan-exit", daemon=True).start()

    # --- child -> parent ---------------------------------------------------------------

    def send(self, msg: dict[str, Any]) -> None:
        try:
            self.channel.send(msg)
        except OSError:
            self.parent_gone.set()
            self.cancel.set()
            raise Cancelled() from None

    def progress(self, fraction: float, message: str, preview: bytes | None) -> None:
        self.send(
            {
                "type": "progress",
                "fraction": fraction,
                "message": message,
                "preview": None if preview is None else base64.b64encode(preview).decode(),
            }
        )

    def event(self, name: str, data: dict[str, Any]) -> None:
        try:
            encode_line({"data": data})
        except (TypeError, ValueError) as e:
            raise JobError(
                f"The data of the event {name!r} cannot be sent to the studio: {e}"
            ) from e
        self.send({"type": "event", "name": str(name), "data": data})

    def emit(self, output: Any) -> str:
        payload = {
            "kind": output.kind,
            "data": base64.b64encode(bytes(output.data)).decode(),
            "ext": output.ext,
            "params": output.params,
            "seed": output.seed,
            "model_id": output.model_id,
            "model_sha256": output.model_sha256,
            "parent": output.parent,
            "extra": output.extra,
            "name_hint": output.name_hint,
        }
        try:
            encode_line(payload)
        except (TypeError, ValueError) as e:
            raise JobError(f"This output cannot be sent to the studio: {e}") from e
        with self._emit_lock:  # answers come in order: one output in flight at a time
            self.send({"type": "output", "output": payload})
            reply = self.replies.get()
        if reply is None:
            raise Cancelled()
        if reply.get("type") == "asset_error":
            raise GenStudioError(str(reply.get("message") or "The studio could not save it."))
        return str(reply.get("id"))

    def finish(self, msg: dict[str, Any]) -> None:
        try:
            self.channel.send(msg)
        except (OSError, TypeError, ValueError):
            pass


def _load_generator(target: str) -> Any:
    module_name, _, cls_name = target.partition(":")
    if not module_name or not cls_name:
        raise JobError(f"Bad generator target {target!r} (expected 'module:Class').")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in cls_name.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as e:
        raise JobError(
            f"The worker process could not load the generator {target}: {type(e).__name__}: {e}",
            hint="Its Python must have GenStudio and the generator's dependencies installed.",
        ) from e
    return obj()


def _run(child: _Child, start: dict[str, Any]) -> dict[str, Any]:
    """Run the generator named by the ``start`` message; returns the final message."""
    try:
        if start.get("type") != "start":
            raise JobError(f"The studio's first message was not 'start' ({start.get('type')!r}).")
        if start.get("protocol") != PROTOCOL:
            raise JobError(
                f"The studio speaks protocol {start.get('protocol')!r}, this worker {PROTOCOL}.",
                hint="Use the same GenStudio version in the studio and the training Python.",
            )
        sys_path = start.get("sys_path") or []
        for p in reversed([p for p in sys_path if isinstance(p, str)]):
            if p not in sys.path:
                sys.path.insert(0, p)
        cwd = start.get("cwd")
        if isinstance(cwd, str):
            try:
                os.chdir(cwd)
            except OSError:
                pass
        params = start.get("params")
        if not isinstance(params, dict):
            raise JobError("The studio sent no params object.")
        gen = _load_generator(str(start.get("target")))
        p = gen.Params.from_dict(params)
        run_context = importlib.import_module("genstudio.generators.base").RunContext
        ctx = run_context(
            progress=child.progress,
            emit=child.emit,
            cancel_event=child.cancel,
            on_event=child.event,
            pause_event=child.pause,
        )
        result = gen.run(p, ctx)
        info = getattr(result, "info", None)
        info = json.loads(json.dumps(info, default=str)) if isinstance(info, dict) else {}
        return {"type": "done", "info": info}
    except Cancelled:
        return {"type": "cancelled"}
    except GenStudioError as e:
        return {
            "type": "error",
            "kind": type(e).__name__,
            "module": type(e).__module__,
            "message": e.message,
            "hint": e.hint,
            "traceback": None,
        }
    except BaseException as e:
        return {
            "type": "error",
            "kind": None,
            "message": f"Unexpected error: {type(e).__name__}: {e} (details in the log file)",
            "hint": None,
            "traceback": traceback.format_exc(),
        }


def main() -> int:
    # The protocol channel first, before anything can write to stdout or read stdin.
    # below the studio's priority: on a machine with few cores the window must stay responsive
    # while training takes every core (the OS then gives the GUI thread its turn first)
    try:
        os.nice(CHILD_NICE)
    except (AttributeError, OSError):
        pass
    proto_out = os.dup(1)
    os.dup2(2, 1)
    proto_in = os.dup(0)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    out = os.fdopen(proto_out, "wb")
    inp = os.fdopen(proto_in, "rb")
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )

    child = _Child(_Channel(out), inp)
    line = inp.readline(MAX_LINE + 1)
    if not line:
        return ORPHAN_EXIT_CODE  # the studio went away before it said anything
    try:
        start = json.loads(line)
        if not isinstance(start, dict):
            raise ValueError("not an object")
    except ValueError as e:
        start = {"type": f"<not JSON: {e}>"}
    threading.Thread(target=child.read_parent, name="parent-reader", daemon=True).start()
    final = _run(child, start)
    child.finish(final)
    try:
        out.close()
    except OSError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
