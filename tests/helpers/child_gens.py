"""Generators for tests/core/test_procrunner.py, run in a real child interpreter.

The child imports them as ``tests.helpers.child_gens:<Class>`` through the ``sys_path`` the
parent sends. They talk back through files (``counter`` / ``pid_file``) and events, so tests
wait on conditions, never on sleeps.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

from genstudio.core.errors import ModelPackError
from genstudio.generators.base import GenerationResult, Generator, GenParams, Output, RunContext
from tests.helpers.gens import tiny_png


@dataclass(frozen=True)
class ChildParams(GenParams):
    count: int = 2
    seed: int = 0
    counter: str = ""  # file the looping generators write their tick count to
    pid_file: str = ""  # file the generator writes its pid (and a grandchild's) to
    ignore_cancel: bool = False
    grandchild: bool = False  # start a long `sleep` in the child's process group
    big_event: int = 0  # send an event with a string of this many characters


class _Base(Generator):
    kind = "sprite"
    Params = ChildParams
    needs_process = True

    @staticmethod
    def _write_pid(params: ChildParams, extra: str = "") -> None:
        if params.pid_file:
            with open(params.pid_file, "w", encoding="utf-8") as f:
                f.write(f"{os.getpid()}{extra}\n")


class TwoOutputs(_Base):
    """Progress and ``count`` outputs; the info says which outputs got which ids."""

    name = "test.child.outputs"

    def run(self, params: ChildParams, ctx: RunContext) -> GenerationResult:  # type: ignore[override]
        ids = []
        for i in range(params.count):
            ctx.check_cancel()
            ctx.progress((i + 1) / params.count, f"output {i + 1}", tiny_png(i))
            ids.append(
                ctx.emit(
                    Output(
                        kind="sprite",
                        data=tiny_png(params.seed + i),
                        ext="png",
                        params=params.to_dict(),
                        seed=params.seed + i,
                        model_id="m",
                        model_sha256="ab" * 32,
                        parent=None,
                        extra={"i": i, "pid": os.getpid(), "text": "snowman \u2603"},
                        name_hint=f"n{i}",
                    )
                )
            )
        return GenerationResult(info={"ids": ids, "pid": os.getpid()})


class Junk(_Base):
    """Writes to stdout every way it can, then one output: the protocol must survive."""

    name = "test.child.junk"

    def run(self, params: ChildParams, ctx: RunContext) -> GenerationResult:  # type: ignore[override]
        print("junk from print {not json")
        print('{"type": "done", "info": {"fake": true}}')
        sys.stdout.flush()
        os.write(1, b'{"type":"error","kind":null,"message":"fake","hint":null}\n')
        os.write(1, b"raw bytes on fd 1 \xff\xfe\n")
        subprocess.run([sys.executable, "-c", "print('from a grandchild on stdout')"], check=False)
        # Lines on the protocol channel itself that are not protocol: logged and ignored.
        channel = ctx._on_event.__self__.channel  # type: ignore[union-attr]
        channel._stream.write(b"this is not json\n")
        channel._stream.write(b'["no", "type"]\n')
        channel._stream.flush()
        channel.send({"type": "from-the-future", "x": 1})
        ctx.emit(Output(kind="sprite", data=tiny_png(1), ext="png", params={}, seed=1))
        return GenerationResult(info={"real": True})


class Events(_Base):
    name = "test.child.events"

    def run(self, params: ChildParams, ctx: RunContext) -> GenerationResult:  # type: ignore[override]
        for step in range(params.count):
            ctx.event("loss", step=step, loss=1.0 / (step + 1), lr=1e-3)
        ctx.event("checkpoint", step=params.count, path="ckpt/last.safetensors")
        ctx.event("nan", loss=float("nan"))
        if params.big_event:
            ctx.event("big", text="x" * params.big_event)
        return GenerationResult(info={"events": params.count + 2})


class Looper(_Base):
    """Ticks until cancelled: writes the tick count to ``counter`` and sends a ``tick`` event
    each time. With ``ignore_cancel`` it never stops by itself."""

    name = "test.child.looper"

    def run(self, params: ChildParams, ctx: RunContext) -> GenerationResult:  # type: ignore[override]
        extra = ""
        if params.grandchild:
            sleeper = subprocess.Popen(["sleep", "300"], stdout=subprocess.DEVNULL)
            extra = f" {sleeper.pid}"
        self._write_pid(params, extra)
        tick = 0
        while True:
            if not params.ignore_cancel:
                ctx.check_cancel()
            tick += 1
            if params.counter:
                tmp = params.counter + ".tmp"
                with open(tmp, "w", encoding="utf-8") as f:
                    f.write(str(tick))
                os.replace(tmp, params.counter)
            ctx.event("tick", n=tick)
            time.sleep(0.01)


class UserError(_Base):
    name = "test.child.user_error"

    def run(self, params: ChildParams, ctx: RunContext) -> GenerationResult:  # type: ignore[override]
        ctx.emit(Output(kind="sprite", data=tiny_png(0), ext="png", params={}, seed=0))
        raise ModelPackError("The model pack is broken.", hint="Install it again.")


class Bug(_Base):
    name = "test.child.bug"

    def run(self, params: ChildParams, ctx: RunContext) -> GenerationResult:  # type: ignore[override]
        raise ValueError("a bug in the generator")


class SelfKill(_Base):
    name = "test.child.selfkill"

    def run(self, params: ChildParams, ctx: RunContext) -> GenerationResult:  # type: ignore[override]
        ctx.emit(Output(kind="sprite", data=tiny_png(0), ext="png", params={}, seed=0))
        os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(60)
        return GenerationResult()


class BadOutput(_Base):
    name = "test.child.bad_output"

    def run(self, params: ChildParams, ctx: RunContext) -> GenerationResult:  # type: ignore[override]
        ctx.emit(Output(kind="sprite", data=b"x", ext="png", params={"f": object()}))
        return GenerationResult()
