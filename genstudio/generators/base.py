"""The one interface every generator implements.

A generator takes a frozen params dataclass, reports progress and checks for cancellation
through a :class:`RunContext`, and hands each finished output to ``ctx.emit`` the moment it
exists, so that the job runner writes it as an asset before anything else can go wrong.

    class MyGenerator(Generator):
        name = "sprites.procedural"      # registry key, stored in every sidecar
        kind = "sprite"                   # asset kind it produces
        Params = MyParams                 # frozen dataclass with from_dict()/to_dict()

        def run(self, params, ctx):
            for i in range(params.count):
                ctx.check_cancel()
                ...
                ctx.progress((i + 1) / params.count, f"sheet {i + 1}", preview=png_bytes)
                ctx.emit(Output(kind="sprite", data=png_bytes, ext="png", params=..., seed=...))
            return GenerationResult()
"""

from __future__ import annotations

import dataclasses
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

from genstudio.core.errors import Cancelled, InvalidParamsError


def _check_text(name: str, value: Any, depth: int = 0) -> None:
    """Every string in a parameter must be text that a file (UTF-8 JSON sidecar) and a model's
    tokenizer can take: invalid UTF-8 from a terminal arrives as lone surrogates."""
    if depth > 8:
        raise InvalidParamsError(f"The parameter {name!r} is nested too deeply.")
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidParamsError(
                f"The {name.replace('_', ' ')} is not valid text (it holds bytes that are not "
                "UTF-8).",
                hint="Type it again, or rename the file it names.",
            ) from None
    elif isinstance(value, dict):
        for k, v in value.items():
            _check_text(name, k, depth + 1)
            _check_text(name, v, depth + 1)
    elif isinstance(value, list | tuple):
        for v in value:
            _check_text(name, v, depth + 1)


def refuse_unknown(cls: type, data: dict[str, Any], what: str, known: str) -> None:
    """InvalidParamsError naming the keys of ``data`` that are not fields of dataclass ``cls``."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise InvalidParamsError(
            f"Unknown {what}: {', '.join(unknown)}", hint=f"{known}: {', '.join(sorted(names))}"
        )


@dataclass(frozen=True)
class GenParams:
    """Base of generator params: each field declared once with ``fields.param`` (type, range,
    label, help, CLI flag ...); an object is checked when it is made, so a params object that
    exists is valid - the job carries it, nothing checks it again. JSON round trip with
    unknown-key and type errors as values."""

    def __post_init__(self) -> None:
        self.validate()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        refuse_unknown(cls, data, f"parameter(s) for {cls.__name__}", "Known parameters")
        for key, value in data.items():
            _check_text(key, value)
        try:
            return cls(**data)
        except TypeError as e:
            raise InvalidParamsError(f"Bad parameters for {cls.__name__}: {e}") from e

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def validate(self) -> None:
        """Check every field against its spec, then :meth:`check`; InvalidParamsError says what
        to change."""
        from genstudio.generators import fields

        fields.check_fields(self)
        self.check()

    def check(self) -> None:
        """What the field specs cannot say (rules across fields); InvalidParamsError."""


@dataclass
class Output:
    """One finished result, handed to ``RunContext.emit``; written as an asset at once."""

    kind: str  # "sprite", "image", "music", "audio", ...
    data: bytes
    ext: str  # file extension without dot: "png", "mid", "wav"
    params: dict[str, Any]
    seed: int | None = None
    model_id: str | None = None
    model_sha256: str | None = None
    parent: str | None = None  # asset id this one was derived from
    extra: dict[str, Any] = field(default_factory=dict)  # generator-specific metadata
    name_hint: str | None = None


@dataclass
class GenerationResult:
    asset_ids: list[str] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)


ProgressFn = Callable[[float, str, bytes | None], None]
EmitFn = Callable[[Output], str]
EventFn = Callable[[str, dict[str, Any]], None]


class RunContext:
    """What a running generator may touch: progress, cancellation, emit, events.

    ``event(name, **data)`` sends a generic event (training: loss, preview, checkpoint ...) to
    whoever runs the job; ``data`` must be JSON-serialisable. It does nothing when nobody
    listens. ``pause_event``, when given and set, makes :meth:`check_cancel` wait (after the
    event ``paused``) until it is cleared (event ``resumed``) or the job is cancelled; jobs run
    in the studio's own process are never paused.
    """

    #: seconds between looks at the cancel and pause flags while paused
    PAUSE_POLL = 0.05

    def __init__(
        self,
        *,
        progress: ProgressFn | None = None,
        emit: EmitFn | None = None,
        cancel_event: threading.Event | None = None,
        on_event: EventFn | None = None,
        pause_event: threading.Event | None = None,
    ) -> None:
        self._progress = progress
        self._emit = emit
        self._on_event = on_event
        self.cancel_event = cancel_event or threading.Event()
        self.pause_event = pause_event
        self.emitted: list[str] = []

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    @property
    def paused(self) -> bool:
        return self.pause_event is not None and self.pause_event.is_set()

    def check_cancel(self) -> None:
        """Raise :class:`Cancelled` if the job was cancelled; while it is paused, wait."""
        if self.cancel_event.is_set():
            raise Cancelled()
        pause = self.pause_event
        if pause is None or not pause.is_set():
            return
        self.event("paused")
        while pause.is_set():
            if self.cancel_event.wait(self.PAUSE_POLL):
                raise Cancelled()
        if self.cancel_event.is_set():
            raise Cancelled()
        self.event("resumed")

    def progress(self, fraction: float, message: str = "", preview: bytes | None = None) -> None:
        if self._progress is not None:
            self._progress(min(1.0, max(0.0, float(fraction))), message, preview)

    def event(self, name: str, **data: Any) -> None:
        """Send the event ``name`` with JSON-serialisable ``data`` (a no-op when unheard)."""
        if self._on_event is not None:
            self._on_event(name, data)

    def emit(self, output: Output) -> str:
        """Write ``output`` as an asset now; returns its asset id ('' when nothing stores it)."""
        asset_id = self._emit(output) if self._emit is not None else ""
        self.emitted.append(asset_id)
        return asset_id


class Generator(ABC):
    name: ClassVar[str]
    kind: ClassVar[str]
    Params: ClassVar[type[GenParams]]
    #: True for work that must run in a child process (training, torch).
    needs_process: ClassVar[bool] = False

    @abstractmethod
    def run(self, params: GenParams, ctx: RunContext) -> GenerationResult: ...
