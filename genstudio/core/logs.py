"""Logging and crash reporting, Qt-free.

Tracebacks go to a rotating log file in the user's data folder; ``sys.excepthook`` and
``threading.excepthook`` route to :func:`notify_error`, whose listeners (the studio's log panel
and message bar, or the terminal) tell the user. A GenStudioError is shown by its message only.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
import threading
from collections.abc import Callable
from types import TracebackType

from genstudio.core.errors import GenStudioError

log = logging.getLogger("genstudio")
ErrorListener = Callable[[str, BaseException | None], None]
_listeners: list[ErrorListener] = []
_configured = False


def add_error_listener(fn: ErrorListener) -> Callable[[], None]:
    _listeners.append(fn)
    return lambda: _listeners.remove(fn) if fn in _listeners else None


def notify_error(message: str, exc: BaseException | None = None) -> None:
    for fn in list(_listeners):
        try:
            fn(message, exc)
        except Exception:  # a broken listener must not hide the original error
            log.exception("error listener failed")


def describe(exc: BaseException) -> str:
    if isinstance(exc, GenStudioError):
        return exc.user_message()
    return f"Unexpected error: {type(exc).__name__}: {exc} (details in the log file)"


def _excepthook(etype: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
    if issubclass(etype, KeyboardInterrupt):
        sys.__excepthook__(etype, value, tb)
        return
    log.error("uncaught exception", exc_info=(etype, value, tb))
    notify_error(describe(value), value)


def _thread_excepthook(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is None or issubclass(args.exc_type, SystemExit):
        return
    log.error(
        "uncaught exception in thread %s",
        args.thread.name if args.thread else "?",
        exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
    )
    notify_error(describe(args.exc_value), args.exc_value)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time of the record (it may be replaced after
    logging was set up, e.g. by a test's capture or a redirect), never to a closed stream."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self):  # noqa: ANN201
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:  # noqa: ANN001
        pass

    def format(self, record: logging.LogRecord) -> str:
        # names and prompts in messages come from files anyone can edit: control characters
        # and terminal escape sequences are shown escaped, never sent to the terminal
        return "".join(
            c
            if c in "\n\t" or not is_control(ord(c))
            else f"\\x{ord(c):02x}"
            if ord(c) < 0x100
            else f"\\u{ord(c):04x}"
            for c in super().format(record)
        )


def is_control(o: int) -> bool:
    """A code point that must not reach a terminal raw: C0/C1 controls (ESC, CSI, BEL ...), lone
    surrogates, line/paragraph separators and the bidirectional overrides that reorder text."""
    return (
        o < 0x20
        or 0x7F <= o < 0xA0
        or 0xD800 <= o < 0xE000
        or o in (0x2028, 0x2029)
        or 0x202A <= o <= 0x202E
        or 0x2066 <= o <= 0x2069
    )


class _QuietFileHandler(logging.handlers.RotatingFileHandler):
    """The log file is a help, never a failure: a full or read-only disk drops the record
    silently instead of printing logging's own traceback on the terminal."""

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging API
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handleError(record)


def log_file_path():
    from genstudio.core.settings import data_dir

    return data_dir() / "logs" / "genstudio.log"


def setup_logging(*, verbose: bool = False, to_file: bool = True) -> None:
    global _configured
    if _configured:
        return
    _configured = True
    root = logging.getLogger("genstudio")
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    console = _StderrHandler()
    console.setLevel(logging.DEBUG if verbose else logging.WARNING)
    console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root.addHandler(console)
    if to_file:
        try:
            path = log_file_path()
            path.parent.mkdir(parents=True, exist_ok=True)
            fh = _QuietFileHandler(
                path, maxBytes=2_000_000, backupCount=3, encoding="utf-8", errors="backslashreplace"
            )
            fh.setFormatter(
                logging.Formatter("%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s")
            )
            fh.setLevel(logging.DEBUG)
            root.addHandler(fh)
        except OSError as e:
            root.warning("no log file (%s); logging to the terminal only", e)
    sys.excepthook = _excepthook
    threading.excepthook = _thread_excepthook
