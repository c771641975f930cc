"""``sprites.procedural``: instant procedural character sheets (the studio's "Procedural" mode).

Params (all JSON round-trip through ``to_dict``/``from_dict``):

=================  =====================================================================
prompt             text; known words set attributes (``procedural.parse_prompt``), others
                   are ignored and reported in ``Output.extra["prompt_unknown"]``;
                   at most 2000 characters
attrs              ``{attribute: value}`` (``procedural.ATTRIBUTES``); wins over the prompt
seed               0 .. 2**63-1; sheet ``i`` of a batch uses ``seed + i``
count              1 .. 64 sheets
size               16, 32 (native), 48 or 64 px frames (others by nearest scaling; the
                   feet stay on the last row)
palette_colors     0 = no limit, else 2 .. 64 colours per sheet
palette_file       "" or a .gpl / .pal / .hex / palette .png to lock the colours to
outline            draw the 1-px dark outline
outline_color      "" = the built-in dark outline, or "#rrggbb"
remove_strays      drop isolated opaque pixels
parent             "" or the asset id this batch is a variation of
=================  =====================================================================
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from genstudio.core.errors import InvalidParamsError
from genstudio.generators.base import GenerationResult, Generator, GenParams, Output, RunContext
from genstudio.generators.sprites import export, palettes, postprocess, procedural

SIZES = (16, 32, 48, 64)
MAX_COUNT = 64
MAX_SEED = 2**63 - 1


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


@dataclass(frozen=True)
class SpriteParams(GenParams):
    prompt: str = ""
    attrs: dict[str, str] = field(default_factory=dict)
    seed: int = 0
    count: int = 1
    size: int = 32
    palette_colors: int = 0
    palette_file: str = ""
    outline: bool = True
    outline_color: str = ""
    remove_strays: bool = True
    parent: str = ""  # asset id this batch varies (Variations); recorded in each sidecar

    def validate(self) -> None:
        if not isinstance(self.prompt, str):
            raise InvalidParamsError("prompt must be text.")
        if len(self.prompt) > procedural.MAX_PROMPT_CHARS:
            raise InvalidParamsError(
                f"The prompt is {len(self.prompt)} characters long; the limit is "
                f"{procedural.MAX_PROMPT_CHARS}.",
                hint="Describe the character in a few words, e.g. 'stocky knight, red hair'.",
            )
        if isinstance(self.attrs, list | tuple):
            try:
                object.__setattr__(self, "attrs", {str(k): v for k, v in self.attrs})
            except (TypeError, ValueError):
                raise InvalidParamsError("attrs must be a mapping of name -> value.") from None
        procedural.validate_attributes(self.attrs)
        if not _is_int(self.seed) or not 0 <= self.seed <= MAX_SEED:
            raise InvalidParamsError(f"seed must be a whole number 0..{MAX_SEED}.")
        if not _is_int(self.count) or not 1 <= self.count <= MAX_COUNT:
            raise InvalidParamsError(
                f"count must be 1..{MAX_COUNT} sheets, got {self.count!r}.",
                hint="Generate larger sets in several batches.",
            )
        if self.seed + self.count - 1 > MAX_SEED:
            raise InvalidParamsError("seed + count runs past the largest seed.")
        if not _is_int(self.size) or self.size not in SIZES:
            raise InvalidParamsError(
                f"size must be one of {', '.join(map(str, SIZES))} px, got {self.size!r}."
            )
        if not _is_int(self.palette_colors) or not (
            self.palette_colors == 0 or 2 <= self.palette_colors <= 64
        ):
            raise InvalidParamsError(
                f"palette_colors must be 0 (no limit) or 2..64, got {self.palette_colors!r}."
            )
        if not isinstance(self.palette_file, str):
            raise InvalidParamsError("palette_file must be a path (text).")
        if self.palette_file:
            palettes.read_palette(self.palette_file)  # raises InvalidParamsError
        if not isinstance(self.parent, str) or len(self.parent) > 200:
            raise InvalidParamsError("parent must be an asset id (text).")
        if not isinstance(self.outline, bool) or not isinstance(self.remove_strays, bool):
            raise InvalidParamsError("outline and remove_strays are true/false.")
        if not isinstance(self.outline_color, str) or (
            self.outline_color and not re.fullmatch(r"#?[0-9a-fA-F]{6}", self.outline_color)
        ):
            raise InvalidParamsError(
                f"outline_color must be '' or '#rrggbb', got {self.outline_color!r}."
            )

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d["attrs"] = dict(self.attrs)
        return d


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
) -> np.ndarray:
    """Full attributes -> post-processed (4, 6, size, size, 4) sheet."""
    custom_outline = outline and bool(outline_color)
    sheet = procedural.render_sheet(attrs, 0, outline=outline and not custom_outline)
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
        )

    def run(self, params: GenParams, ctx: RunContext) -> GenerationResult:
        if not isinstance(params, SpriteParams):
            raise InvalidParamsError("sprites.procedural needs SpriteParams.")
        params.validate()
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
