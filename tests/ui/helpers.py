"""Test doubles for the UI tests: a slow generator and a mode panel that records calls."""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtWidgets import QLabel, QVBoxLayout

from genstudio.core.errors import InvalidParamsError
from genstudio.generators.base import GenerationResult, Generator, GenParams, Output, RunContext
from genstudio.ui.modes.base import ModePanel


def tiny_png(color: tuple[int, int, int] = (200, 60, 60), size: int = 16) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (size, size), color).save(buf, "PNG")
    return buf.getvalue()


@dataclass(frozen=True)
class SlowParams(GenParams):
    prompt: str = ""
    steps: int = 5
    delay: float = 0.02
    seed: int = 0

    def validate(self) -> None:
        if self.steps < 1:
            raise InvalidParamsError("steps must be at least 1")


class SlowGen(Generator):
    """Reports `steps` progress steps with small sleeps, checks cancel, emits one PNG."""

    name = "test.slow"
    kind = "image"
    Params = SlowParams

    def run(self, params: GenParams, ctx: RunContext) -> GenerationResult:
        assert isinstance(params, SlowParams)
        for i in range(params.steps):
            ctx.check_cancel()
            time.sleep(params.delay)
            ctx.progress((i + 1) / (params.steps + 1), f"step {i + 1}/{params.steps}")
        ctx.check_cancel()
        color = (params.seed * 40 % 256, 120, 200)
        asset_id = ctx.emit(
            Output(
                kind="image",
                data=tiny_png(color),
                ext="png",
                params=params.to_dict(),
                seed=params.seed,
                model_id="test-model",
            )
        )
        return GenerationResult(asset_ids=[asset_id])


class RecordingPanel(ModePanel):
    """A registered mode for the tests: records reuse requests, drops and generate calls."""

    def __init__(self, ctx, parent=None) -> None:
        super().__init__(ctx, parent)
        QVBoxLayout(self).addWidget(QLabel("test mode"))
        self.applied: list = []
        self.dropped: list[Path] = []
        self.generated = 0
        self.prompt = "from the test panel"

    def apply_settings(self, record) -> None:
        self.applied.append(record)
        self.prompt = record.params.get("prompt", "")

    def generate(self) -> bool:
        self.generated += 1
        self.submit("test.slow", {"prompt": self.prompt, "steps": 2, "delay": 0.01})
        return True

    def accepts_drop(self, path: Path) -> bool:
        return path.suffix == ".testdrop"

    def handle_drop(self, path: Path) -> None:
        self.dropped.append(path)
