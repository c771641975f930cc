"""Run one generator in a separate Python interpreter that speaks JSON lines.

Used by the job runner for generators with ``needs_process = True`` (training, anything torch):
a CUDA crash, an out-of-memory kill or a hard cancel then never takes the studio down, and the
interpreter may be another one than the studio's (a frozen, torch-free studio can drive a
separate training environment that has GenStudio and torch installed).

The child is ``[python, "-u", "-m", "genstudio.core.childmain"]`` where ``python`` is, first
found: the ``python=`` argument of :func:`run_in_process`, the ``GENSTUDIO_TRAIN_PYTHON``
environment variable, the ``training_python`` setting, the studio's own ``sys.executable``. It
gets the studio's environment plus ``PYTHONPATH`` (the studio's ``sys.path``; for another
interpreter without the studio's own stdlib and site-packages), ``ORT_DISABLE_TELEMETRY=1``
and ``GENSTUDIO_CHILD=1``. On POSIX it starts in a session (process group) of its own, so a
Ctrl-C in a terminal does not reach it twice, and a hard stop kills the whole group.

Protocol (version 1): one JSON object per line, UTF-8, on the child's stdin and stdout. The
child's stdout is kept for protocol lines only (:mod:`genstudio.core.childmain` moves fd 1 to a
private fd and points fd 1 at stderr, so a ``print`` or a C library writing to stdout cannot
break it). The child's stderr is read by a thread here and logged line by line under the
``genstudio.child`` logger. A line that is not JSON, or of an unknown type, is logged and
ignored; a line over :data:`MAX_LINE` bytes is an error.

- parent -> child, first line: ``{"type": "start", "protocol": 1, "target": "module:Class",
  "params": {...}, "sys_path": [...], "cwd": "..."}``; then ``{"type": "cancel"}``,
  ``{"type": "pause"}``, ``{"type": "resume"}``, and one answer to each output:
  ``{"type": "asset", "id": "..."}`` or ``{"type": "asset_error", "message": "..."}`` (so
  ``ctx.emit`` in the child returns only once the parent has written the asset).
- child -> parent: ``{"type": "progress", "fraction": f, "message": s, "preview": base64|null}``,
  ``{"type": "output", "output": {"kind", "data" (base64), "ext", "params", "seed",
  "model_id", "model_sha256", "parent", "extra", "name_hint"}}``, ``{"type": "event", "name": s,
  "data": {...}}`` (generic: loss, preview, checkpoint, paused, resumed ...), and one final
  message: ``{"type": "done", "info": {...}}``, ``{"type": "cancelled"}`` or ``{"type": "error",
  "kind": s|null, "message": s, "hint": s|null, "traceback": s|null}`` (``kind`` is the class
  name of the :class:`~genstudio.core.errors.GenStudioError` raised, rebuilt here; an extra
  ``"module"`` names the module that defines it). Fields a side does not know are ignored.

Pause: ``pause`` makes the child's next ``ctx.check_cancel()`` block (it sends the event
``paused`` once) until ``resume`` (event ``resumed``) or ``cancel``. Cancel: the parent sends
``cancel`` (the child's ``ctx.check_cancel()`` raises) and, if the child has not ended after
``grace`` seconds, terminates and then kills it (its whole process group). A child that dies
without a final message gives a :class:`~genstudio.core.errors.JobError` naming its exit code
or signal. When the parent goes away the child's stdin ends: the child cancels, and exits with
code 70 if it has not finished 10 s later, so no orphan keeps writing into a project after the
studio was killed. Children still running when the studio exits are killed by an atexit hook.
"""

from __future__ import annotations

import atexit
import base64
import binascii
import importlib
import json
import logging
import os
import queue
import signal
import site
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import IO, Any

from genstudio.core import errors as _errors
from genstudio.core.errors import Cancelled, GenStudioError, JobError

log = logging.getLogger(__name__)
child_log = logging.getLogger("genstudio.child")

PROTOCOL = 1
#: Seconds a cancelled child may take to stop on its own before it is killed.
CANCEL_GRACE = 2.0
#: The longest protocol line accepted (bytes); a longer one is an error.
MAX_LINE = 64 * 1024 * 1024
#: Environment variable naming the interpreter for child processes.
PYTHON_ENV = "GENSTUDIO_TRAIN_PYTHON"
#: Child stderr lines are logged up to this many characters.
LOG_LINE_LIMIT = 2000
_POLL = 0.05
_OUTPUT_FIELDS = (
    "kind",
    "data",
    "ext",
    "params",
    "seed",
    "model_id",
    "model_sha256",
    "parent",
    "extra",
    "name_hint",
)


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


def _error_class(kind: str | None, module: str | None) -> type | None:
    if not kind:
        return None
    cls = getattr(_errors, kind, None)
    if cls is None and module and module in sys.modules:  # only what the studio has loaded
        cls = getattr(sys.modules[module], kind, None)
    if cls is None:  # any subclass the studio knows by that name
        stack = list(GenStudioError.__subclasses__())
        while stack:
            c = stack.pop()
            if c.__name__ == kind:
                return c
            stack.extend(c.__subclasses__())
    return cls


def _rebuild_error(
    kind: str | None, message: str, hint: str | None, module: str | None = None
) -> GenStudioError:
    cls = _error_class(kind, module)
    if isinstance(cls, type) and issubclass(cls, GenStudioError) and cls is not Cancelled:
        try:
            return cls(message, hint=hint)
        except TypeError:
            pass
    return JobError(message, hint=hint)


def _settings_python() -> str:
    try:
        from genstudio.core.settings import load_settings

        return str(load_settings().training_python or "")
    except Exception as e:  # settings never stop a job
        log.warning("could not read the training_python setting: %s", e)
        return ""


def resolve_python(python: str | None = None) -> str:
    """The interpreter a child process runs: ``python``, else ``$GENSTUDIO_TRAIN_PYTHON``, else
    the ``training_python`` setting, else ``sys.executable``."""
    for candidate in (python, os.environ.get(PYTHON_ENV), _settings_python()):
        if candidate and str(candidate).strip():
            return str(candidate).strip()
    return sys.executable


def _norm(p: str) -> str:
    return os.path.normcase(os.path.abspath(p))


def _same_interpreter(python: str) -> bool:
    found = python
    if not os.path.dirname(python):
        import shutil

        found = shutil.which(python) or python
    return bool(sys.executable) and _norm(found) == _norm(sys.executable)


def _path_entries(python: str) -> list[str]:
    """The studio's ``sys.path`` for the child. Another interpreter (a training environment)
    gets only the entries outside the studio's own installation (stdlib, site-packages), so
    that its own packages are never shadowed by the studio's."""
    entries = [os.getcwd() if p == "" else p for p in sys.path if isinstance(p, str)]
    if not _same_interpreter(python):
        prefixes = {
            _norm(p)
            for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)
            if p
        }
        try:
            prefixes.add(_norm(site.getusersitepackages()))
        except Exception:
            pass

        def inside(p: str) -> bool:
            n = _norm(p)
            return any(n == pre or n.startswith(pre.rstrip(os.sep) + os.sep) for pre in prefixes)

        entries = [p for p in entries if not inside(p)]
    out: list[str] = []
    for p in entries:
        if p not in out:
            out.append(p)
    return out


def _child_env(path_entries: list[str]) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(path_entries)
    env["ORT_DISABLE_TELEMETRY"] = "1"
    env["GENSTUDIO_CHILD"] = "1"
    env.pop("PYTHONSTARTUP", None)
    return env


def encode_line(msg: dict[str, Any]) -> bytes:
    """One protocol line (ASCII-safe JSON, so even lone surrogates travel)."""
    return (json.dumps(msg, separators=(",", ":"), ensure_ascii=True) + "\n").encode("utf-8")


class _Sender:
    """Writes protocol lines to the child's stdin, one whole line at a time, from any thread.
    A child that has gone away makes every later send a no-op."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._broken = False

    def send(self, msg: dict[str, Any]) -> bool:
        data = encode_line(msg)
        with self._lock:
            if self._broken:
                return False
            try:
                self._stream.write(data)
                self._stream.flush()
                return True
            except (OSError, ValueError):  # the child closed its end, or we did
                self._broken = True
                return False

    def close(self) -> None:
        with self._lock:
            self._broken = True
            try:
                self._stream.close()
            except (OSError, ValueError):
                pass


class ProcessControl:
    """Pause and resume for one child process, usable from any thread.

    The job runner makes one per job and passes it to :func:`run_in_process`, which connects
    it to the child once it runs. A pause asked before that is sent as soon as it starts.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sender: _Sender | None = None
        self._paused = False

    @property
    def paused(self) -> bool:
        """Whether a pause was asked (the child confirms with its ``paused`` event)."""
        return self._paused

    @property
    def attached(self) -> bool:
        return self._sender is not None

    def pause(self) -> None:
        with self._lock:
            if self._paused:
                return
            self._paused = True
            if self._sender is not None:
                self._sender.send({"type": "pause"})

    def resume(self) -> None:
        with self._lock:
            if not self._paused:
                return
            self._paused = False
            if self._sender is not None:
                self._sender.send({"type": "resume"})

    def _attach(self, sender: _Sender) -> None:
        with self._lock:
            self._sender = sender
            if self._paused:
                sender.send({"type": "pause"})

    def _detach(self) -> None:
        with self._lock:
            self._sender = None


# ----------------------------------------------------------------------------- readers

_EOF = object()


def _read_protocol(stream: IO[bytes], out: queue.Queue[Any], pid: int) -> None:
    """Thread: parse the child's protocol lines into ``out``; ``_EOF`` at the end."""
    try:
        while True:
            try:
                line = stream.readline(MAX_LINE + 1)
            except (OSError, ValueError):
                break
            if not line:
                break
            if len(line) > MAX_LINE:
                out.put(JobError(f"The worker process sent a message over {MAX_LINE} bytes."))
                return  # the caller kills the child; nobody reads the rest
            try:
                msg = json.loads(line)
            except ValueError:
                text = line.decode("utf-8", "replace").rstrip()[:LOG_LINE_LIMIT]
                log.warning("child %d: not a protocol line, ignored: %r", pid, text)
                continue
            if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
                log.warning("child %d: protocol line without a type, ignored: %.200r", pid, msg)
                continue
            out.put(msg)
    finally:
        out.put(_EOF)
        try:
            stream.close()
        except (OSError, ValueError):
            pass


def _read_stderr(stream: IO[bytes], pid: int) -> None:
    """Thread: log each line the child writes to stderr (or to stdout, redirected)."""
    try:
        while True:
            try:
                line = stream.readline(64 * 1024)
            except (OSError, ValueError):
                return
            if not line:
                return
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            if len(text) > LOG_LINE_LIMIT:
                text = text[:LOG_LINE_LIMIT] + "..."
            child_log.info("[%d] %s", pid, text)
    finally:
        try:
            stream.close()
        except (OSError, ValueError):
            pass


# ----------------------------------------------------------------------------- messages


def _b64(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise JobError(f"The worker process sent a bad {what} (not base64 text).")
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError) as e:
        raise JobError(f"The worker process sent a bad {what}: {e}") from e


def _decode_output(raw: Any) -> Any:
    if not isinstance(raw, dict):
        raise JobError("The worker process sent an output that is not an object.")
    missing = [k for k in ("kind", "data", "ext", "params") if k not in raw]
    if missing:
        raise JobError(f"The worker process sent an output without {', '.join(missing)}.")
    fields = {k: raw[k] for k in _OUTPUT_FIELDS if k in raw and raw[k] is not None}
    fields["data"] = _b64(raw["data"], "output")
    if not isinstance(fields["params"], dict) or not isinstance(fields.get("extra", {}), dict):
        raise JobError("The worker process sent an output with bad params or extra.")
    output_cls = importlib.import_module("genstudio.generators.base").Output
    try:
        return output_cls(**fields)
    except TypeError as e:
        raise JobError(f"The worker process sent a bad output: {e}") from e


# ----------------------------------------------------------------------------- parent side


def run_in_process(
    target: str,
    params: dict[str, Any],
    *,
    on_progress: Callable[[float, str, bytes | None], None],
    on_output: Callable[[Any], str],
    cancel_event: threading.Event,
    on_event: Callable[[str, dict[str, Any]], None] | None = None,
    control: ProcessControl | None = None,
    python: str | None = None,
    grace: float | None = None,
) -> dict[str, Any]:
    """Run generator ``target`` ("module:Class") with ``params`` in a child interpreter.

    Blocks the calling (worker) thread. ``on_progress(fraction, message, preview)``,
    ``on_output(Output) -> asset id`` and ``on_event(name, data)`` are called on this thread;
    ``control`` (a :class:`ProcessControl`) pauses and resumes the child from other threads.
    Returns the result's ``info`` dict; raises :class:`Cancelled` after a cancel, the child's
    :class:`GenStudioError` (rebuilt), or :class:`JobError` when the child cannot start, fails
    unexpectedly or dies.
    """
    grace = CANCEL_GRACE if grace is None else grace
    exe = resolve_python(python)
    entries = _path_entries(exe)
    cmd = [exe, "-u", "-m", "genstudio.core.childmain"]
    kwargs: dict[str, Any] = {}
    if os.name == "posix":
        kwargs["start_new_session"] = True
    else:
        kwargs["creationflags"] = getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)
    try:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_child_env(entries),
            close_fds=True,
            **kwargs,
        )
    except OSError as e:
        raise JobError(
            f"Could not start the worker process with the Python interpreter {exe!r}: "
            f"{e.strerror or e}.",
            hint=(
                f"Set the training_python setting (or {PYTHON_ENV}) to a Python executable "
                "that has GenStudio and the generator's dependencies installed, or leave it "
                "empty to use the studio's own interpreter."
            ),
        ) from e
    _track(proc)
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    sender = _Sender(proc.stdin)
    messages: queue.Queue[Any] = queue.Queue()
    readers = [
        threading.Thread(
            target=_read_protocol,
            args=(proc.stdout, messages, proc.pid),
            name=f"genstudio-child-out-{proc.pid}",
            daemon=True,
        ),
        threading.Thread(
            target=_read_stderr,
            args=(proc.stderr, proc.pid),
            name=f"genstudio-child-err-{proc.pid}",
            daemon=True,
        ),
    ]
    for t in readers:
        t.start()
    ended_by_child = False  # the child said it is finishing: let it exit on its own
    heard = False  # any protocol message came back (the interpreter did start the child)
    cancel_sent: float | None = None
    dead_since: float | None = None
    try:
        sender.send(
            {
                "type": "start",
                "protocol": PROTOCOL,
                "target": target,
                "params": params,
                "sys_path": entries,
                "cwd": os.getcwd(),
            }
        )
        if control is not None:
            control._attach(sender)
        while True:
            if cancel_event.is_set() and cancel_sent is None:
                cancel_sent = time.monotonic()
                sender.send({"type": "cancel"})
            if cancel_sent is not None and time.monotonic() - cancel_sent > grace:
                raise Cancelled()  # it ignored the request: killed below
            try:
                msg = messages.get(timeout=_POLL)
            except queue.Empty:
                # Normally the end of stdout says the child is gone; a forked grandchild may
                # keep the pipe open, so the exit itself counts too (after a moment to drain).
                if proc.poll() is None:
                    continue
                if dead_since is None:
                    dead_since = time.monotonic()
                if time.monotonic() - dead_since < 1.0:
                    continue
                msg = _EOF
            if isinstance(msg, JobError):
                raise msg
            if msg is _EOF:
                try:
                    code = proc.wait(timeout=max(1.0, grace))
                except subprocess.TimeoutExpired:
                    code = None  # closed its stdout but lives on: killed below
                if cancel_sent is not None:
                    raise Cancelled()
                if not heard:
                    raise JobError(
                        "The worker process stopped before it could run the generator "
                        f"({_describe_exit(code)}).",
                        hint=(
                            f"It ran {exe!r}: it must be a Python with GenStudio installed "
                            f"(see the training_python setting and {PYTHON_ENV}). "
                            "The log file has its messages."
                        ),
                    )
                raise JobError(
                    f"The worker process stopped unexpectedly ({_describe_exit(code)}).",
                    hint="Results written before it stopped are kept. See the log file.",
                )
            heard = True
            kind = msg["type"]
            if kind == "progress":
                try:
                    fraction = float(msg.get("fraction", 0.0))
                    message = str(msg.get("message") or "")
                    raw = msg.get("preview")
                    preview = None if raw is None else _b64(raw, "preview")
                except (TypeError, ValueError, JobError) as e:
                    log.warning("child %d: bad progress message ignored: %s", proc.pid, e)
                    continue
                on_progress(fraction, message, preview)
            elif kind == "output":
                try:
                    output = _decode_output(msg.get("output"))
                    asset_id = on_output(output)
                except GenStudioError as e:
                    sender.send({"type": "asset_error", "message": e.user_message()})
                    raise
                sender.send({"type": "asset", "id": str(asset_id)})
            elif kind == "event":
                name, data = msg.get("name"), msg.get("data")
                if not isinstance(name, str) or not isinstance(data, dict | None):
                    log.warning("child %d: bad event message ignored", proc.pid)
                    continue
                if on_event is not None:
                    on_event(name, dict(data or {}))
            elif kind == "done":
                ended_by_child = True
                info = msg.get("info")
                return dict(info) if isinstance(info, dict) else {}
            elif kind == "cancelled":
                ended_by_child = True
                raise Cancelled()
            elif kind == "error":
                ended_by_child = True
                tb = msg.get("traceback")
                if tb:
                    log.error("generator %s failed in its child process:\n%s", target, tb)
                raise _rebuild_error(
                    msg.get("kind") if isinstance(msg.get("kind"), str) else None,
                    str(msg.get("message") or "The worker process failed."),
                    msg.get("hint") if isinstance(msg.get("hint"), str) else None,
                    msg.get("module") if isinstance(msg.get("module"), str) else None,
                )
            else:
                log.warning("child %d: unknown message type %r ignored", proc.pid, kind)
    finally:
        if control is not None:
            control._detach()
        sender.close()  # the child's stdin ends: it knows nobody will answer any more
        _stop(proc, grace if ended_by_child else 0.0)
        _untrack(proc)
        # The child's last words reach the log before the caller goes on (a grandchild that
        # inherited the pipes may hold them open: not for long).
        for t in readers:
            t.join(1.0)


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    if proc.poll() is not None:
        return  # reaped: its pid (and group id) may belong to someone else by now
    try:
        if os.name == "posix":
            os.killpg(proc.pid, sig)  # its own session: the group id is its pid
        elif sig == getattr(signal, "SIGKILL", None):
            proc.kill()
        else:
            proc.terminate()
    except (ProcessLookupError, PermissionError):
        pass
    except OSError as e:
        log.debug("could not signal child %d: %s", proc.pid, e)


def _stop(proc: subprocess.Popen[bytes], grace: float) -> None:
    """Let ``proc`` exit within ``grace`` seconds, then terminate it, then kill its group."""
    try:
        proc.wait(grace)
        return
    except subprocess.TimeoutExpired:
        pass
    _signal_group(proc, signal.SIGTERM)
    try:
        proc.wait(1.0)
        return
    except subprocess.TimeoutExpired:
        pass
    _signal_group(proc, getattr(signal, "SIGKILL", signal.SIGTERM))
    try:
        proc.wait(10.0)
    except subprocess.TimeoutExpired:
        log.error("child process %d did not die after SIGKILL", proc.pid)


_live: set[subprocess.Popen[bytes]] = set()
_live_lock = threading.Lock()
_atexit_registered = False


def _track(proc: subprocess.Popen[bytes]) -> None:
    global _atexit_registered
    with _live_lock:
        _live.add(proc)
        if not _atexit_registered:
            atexit.register(_kill_live)
            _atexit_registered = True


def _untrack(proc: subprocess.Popen[bytes]) -> None:
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
