"""``sprites.procedural``: instant procedural character sheets (the studio's "Procedural" mode).

Params: :class:`SpriteParams` - each field's type, range, label, help and CLI flag are declared
once there (``fields.param``); the prompt's known words set attributes (``procedural.parse_prompt``),
others are reported in ``Output.extra["prompt_unknown"]``; ``attrs`` wins over the prompt; sheet
``i`` of a batch uses ``seed + i``; sizes other than the native 32 px are nearest-scaled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from genstudio.core.errors import InvalidParamsError
from genstudio.generators import fields, palettes
from genstudio.generators.base import GenerationResult, Generator, GenParams, Output, RunContext
from genstudio.generators.fields import param, seed_param
from genstudio.generators.sprites import export, postprocess, procedural

SIZES = (16, 32, 48, 64)
MAX_COUNT = 64
MAX_SEED = fields.MAX_SEED


def _palette_file(path: str) -> None:
    if path:
        palettes.read_palette(path)  # raises InvalidParamsError


def _outline_color(text: str) -> None:
    if text and not re.fullmatch(r"#?[0-9a-fA-F]{6}", text):
        raise InvalidParamsError(f"The outline colour must be '' or '#rrggbb', got {text!r}.")


@dataclass(frozen=True)
class SpriteParams(GenParams):
    prompt: str = param(
        "", "Prompt", max_len=procedural.MAX_PROMPT_CHARS, kind="text", group="Character",
        help="Describe the character in a few words, e.g. 'stocky knight, red hair'.",
    )  # fmt: skip
    attrs: dict[str, str] = param(
        {}, "Locked attributes", cli="--attr", check=procedural.validate_attributes, ui=False,
        help="Attributes that win over the prompt, e.g. hair_color=red (repeatable)",
    )  # fmt: skip
    seed: int = seed_param(help="Sheet i of a batch uses seed + i.")
    count: int = param(
        1, "Count", lo=1, hi=MAX_COUNT, group="Batch", unit=" characters", ui_default=8,
        help="Sheets in one batch; generate larger sets in several batches.",
    )  # fmt: skip
    size: int = param(
        32, "Frame size", choices=SIZES, unit=" px", group="Sheet",
        help="Frame size in pixels (32 is the native size; others are scaled).",
    )  # fmt: skip
    palette_colors: int = param(
        0, "Colours", lo=2, hi=64, special=(0,), special_label="no limit", cli="--colors", unit=" colours",
        group="Sheet", help="Limit the palette to this many colours",
    )  # fmt: skip
    palette_file: str = param(
        "", "Palette file", check=_palette_file, cli="--palette", kind="path", group="Sheet",
        cli_metavar="FILE", help="A .gpl, .pal, .hex or palette .png to lock the colours to",
    )  # fmt: skip
    outline: bool = param(True, "Outline", group="Sheet", help="Draw the 1-px dark outline")
    shadow: bool = param(
        False, "Ground shadow", group="Sheet", help="A dark oval on the ground under the feet"
    )  # fmt: skip
    outline_color: str = param(
        "", "Outline colour", check=_outline_color, kind="color", group="Sheet", ui=False,
        help="'' = the built-in dark outline, or '#rrggbb'",
    )  # fmt: skip
    remove_strays: bool = param(
        True, "Remove stray pixels", group="Sheet", ui=False,
        help="Drop isolated opaque pixels",
    )  # fmt: skip
    #: asset id this batch varies (Variations); recorded in each sidecar
    parent: str = param("", "Varies", max_len=200, cli=None, ui=False, reuse=False)

    def check(self) -> None:
        if self.seed + self.count - 1 > MAX_SEED:
            raise InvalidParamsError("seed + count runs past the largest seed.")


def sheet_layout(size: int = 32) -> dict[str, Any]:
    lay = procedural.layout()
    lay["frame_w"] = lay["frame_h"] = size
    lay["baseline_y"] = size - 1
    lay["pivot"] = [size // 2, size - 1]
    lay["sheet_w"] = size * lay["columns"]
    lay["sheet_h"] = size * lay["rows"]
    return lay


def render_processed(
    attrs: dict[str, str],
    *,
    size: int = 32,
    palette_colors: int = 0,
    palette: np.ndarray | None = None,
    outline: bool = True,
    outline_color: str = "",
    remove_strays: bool = True,
    shadow: bool = False,
) -> np.ndarray:
    """Full attributes -> post-processed (4, 6, size, size, 4) sheet."""
    custom_outline = outline and bool(outline_color)
    sheet = procedural.render_sheet(attrs, 0, outline=outline and not custom_outline)
    if shadow:
        sheet = postprocess.ground_shadow(sheet)
    sheet = postprocess.clean_sheet(
        sheet,
        colors=palette_colors,
        palette=palette,
        outline=outline_color if custom_outline else None,
        strays=remove_strays,
    )
    if size != procedural.FRAME:
        sheet = postprocess.resize_nearest(sheet, size, procedural.FRAME)
    return sheet


class ProceduralSpriteGenerator(Generator):
    name = "sprites.procedural"
    kind = "sprite"
    Params = SpriteParams

    def render(
        self, attrs: dict[str, str], seed: int, params: SpriteParams, palette: np.ndarray | None
    ) -> np.ndarray:
        """Full attributes -> the finished (4, 6, size, size, 4) sheet; subclasses swap the
        renderer and keep the post-processing, params, metadata and emit logic."""
        return render_processed(
            attrs,
            size=params.size,
            palette_colors=params.palette_colors,
            palette=palette,
            outline=params.outline,
            outline_color=params.outline_color,
            remove_strays=params.remove_strays,
            shadow=params.shadow,
        )

    def run(self, params: GenParams, ctx: RunContext) -> GenerationResult:
        if not isinstance(params, SpriteParams):
            raise InvalidParamsError("sprites.procedural needs SpriteParams.")
        parsed = procedural.parse_prompt(params.prompt)
        fixed = dict(parsed.attrs)
        fixed.update(params.attrs)
        palette = palettes.read_palette(params.palette_file) if params.palette_file else None
        layout = sheet_layout(params.size)
        base = params.to_dict()
        result = GenerationResult(info={"prompt_unknown": list(parsed.unknown)})
        for i in range(params.count):
            ctx.check_cancel()
            seed = params.seed + i
            attrs = procedural.resolve_attributes(fixed, seed)
            sheet = self.render(attrs, seed, params, palette)
            png = export.encode_png(export.sheet_image(sheet))
            ctx.check_cancel()
            ctx.progress((i + 1) / params.count, f"sheet {i + 1}/{params.count}", png)
            # params = exactly what reproduces this sheet (the user's locks, this seed);
            # the resolved attributes go to extra["attrs"]
            out_params = dict(base, seed=seed, count=1)
            asset_id = ctx.emit(
                Output(
                    kind="sprite",
                    data=png,
                    ext="png",
                    params=out_params,
                    seed=seed,
                    parent=params.parent or None,
                    extra={
                        "layout": layout,
                        "attrs": attrs,
                        "prompt_matched": list(parsed.matched),
                        "prompt_unknown": list(parsed.unknown),
                    },
                    name_hint=f"sprite_{seed}",
                )
            )
            result.asset_ids.append(asset_id)
        return result
