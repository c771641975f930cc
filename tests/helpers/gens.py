"""Tiny, fast, dependency-free generators for job-runner tests.

They are importable as ``tests.helpers.gens:<Class>`` so that a spawned child process (which
starts with an empty generator registry) can import them from the repository root.
"""

from __future__ import annotations

import os
import struct
import time
import zlib
from dataclasses import dataclass

from genstudio.core.errors import GenStudioError, InvalidParamsError
from genstudio.generators.base import GenerationResult, Generator, GenParams, Output, RunContext


def tiny_png(seed: int, size: int = 4) -> bytes:
    """A valid size x size grey PNG whose pixels depend on ``seed`` (no Pillow needed)."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        body = tag + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(
        b"\x00" + bytes((seed * 31 + y * size + x) % 256 for x in range(size)) for y in range(size)
    )
    ihdr = struct.pack(">IIBBBBB", size, size, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@dataclass(frozen=True)
class SlowParams(GenParams):
    steps: int = 3
    delay: float = 0.0  # seconds per step
    emit_every: int = 1  # emit an output every n steps (0 = never)
    seed: int = 0
    fail_at: int = -1  # raise at this step ...
    fail_kind: str = "user"  # ... a GenStudioError ("user") or a RuntimeError ("bug")
    exit_at: int = -1  # os._exit(3) at this step (child-process tests: the child dies)
    ignore_cancel: bool = False  # never call check_cancel (to test kill after the grace time)
    wait_cancel: bool = False  # after the steps, spin until cancelled

    def validate(self) -> None:
        if self.steps < 1:
            raise InvalidParamsError("steps must be at least 1", hint="Use 1 or more steps.")
        if self.delay < 0:
            raise InvalidParamsError("delay must not be negative")


class SlowGen(Generator):
    """Emits one tiny PNG every ``emit_every`` steps, sleeping ``delay`` per step."""

    name = "test.slow"
    kind = "sprite"
    Params = SlowParams

    def run(self, params: SlowParams, ctx: RunContext) -> GenerationResult:  # type: ignore[override]
        for i in range(params.steps):
            if not params.ignore_cancel:
                ctx.check_cancel()
            if params.delay:
                time.sleep(params.delay)
            if i == params.fail_at:
                if params.fail_kind == "user":
                    raise GenStudioError("The tiny generator failed.", hint="Change its params.")
                raise RuntimeError("boom")
            if i == params.exit_at:
                os._exit(3)
            ctx.progress((i + 1) / params.steps, f"step {i + 1}/{params.steps}", tiny_png(i))
            if params.emit_every and (i + 1) % params.emit_every == 0:
                ctx.emit(
                    Output(
                        kind="sprite",
                        data=tiny_png(params.seed * 1000 + i),
                        ext="png",
                        params=params.to_dict(),
                        seed=params.seed,
                        extra={"step": i, "pid": os.getpid()},
                    )
                )
        while params.wait_cancel:
            if not params.ignore_cancel:
                ctx.check_cancel()
            time.sleep(0.01)
        return GenerationResult(info={"steps": params.steps, "pid": os.getpid()})


class ProcSlowGen(SlowGen):
    """The same generator, run in a child process by the job runner."""

    name = "test.proc"
    needs_process = True
