"""``sprites.lpc``: characters composited from the Universal LPC layers (real artist-made art).

One sheet = the LPC layout (:func:`layout.lpc`): spellcast, thrust, walk, slash, shoot and hurt
as LPC tools expect them, plus GenStudio's 2-frame idle rows (the standing walk frame and a
breath: the upper body 1 px lower). 64 px is the art's own size; 32 px is a pixel-art
reduction (:func:`postprocess.reduce_half`), not a subsample.

The prompt is read by :mod:`.prompt` (phrases, then meaning); ``attrs`` wins over it; the seed,
mixed with the prompt's content words, fills in the rest (:func:`character.sample`). Garments
that the art draws only for some animations (e.g. the female belts have no thrust/shoot frames)
leave those animations out of that sheet's layout, and the sidecar says why.

License: every sheet is GPL 3.0 / CC-BY-SA 3.0 art; ``extra["credits"]`` holds the credits
text and ``extra["license"]`` the license, and the export writes ``<stem>.CREDITS.txt``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from genstudio.core.errors import InvalidParamsError
from genstudio.generators import fields, palettes
from genstudio.generators.base import GenerationResult, Generator, GenParams, Output, RunContext
from genstudio.generators.fields import param, seed_param
from genstudio.generators.sprites import export, layout, postprocess
from genstudio.generators.sprites.generator import SpriteParams
from genstudio.generators.sprites.lpc import catalog, character, prompt

SIZES = (32, 64)
WAIST = 40  # rows above this (of a 64 px frame) bob down in the idle's breath frame


def _attrs(value: dict[str, str]) -> None:
    character.validate(value)


@dataclass(frozen=True)
class LpcParams(GenParams):
    prompt: str = fields.like(
        SpriteParams, "prompt", max_len=prompt.MAX_PROMPT_CHARS,
        help="Describe the character, e.g. 'elf archer with a green cloak'.",
    )  # fmt: skip
    attrs: dict[str, str] = fields.like(
        SpriteParams, "attrs", check=_attrs, help="LPC attributes that win over the prompt, "
        "e.g. hair=ponytail (repeatable)",
    )  # fmt: skip
    seed: int = seed_param(help="Sheet i of a batch uses seed + i (mixed with the prompt's words).")
    count: int = fields.like(SpriteParams, "count")
    size: int = param(
        64, "Frame size", choices=SIZES, unit=" px", group="Sheet",
        help="64 is the art's own size; 32 is a pixel-art reduction of it.",
    )  # fmt: skip
    palette_colors: int = fields.like(SpriteParams, "palette_colors")
    palette_file: str = fields.like(SpriteParams, "palette_file")
    remove_strays: bool = fields.like(SpriteParams, "remove_strays")
    parent: str = fields.like(SpriteParams, "parent")

    def check(self) -> None:
        if self.seed + self.count - 1 > fields.MAX_SEED:
            raise InvalidParamsError("seed + count runs past the largest seed.")


def idle_rows(sheet: np.ndarray) -> np.ndarray:
    """(4 * 64, 2 * 64, 4): per direction (up, left, down, right) the standing walk frame and
    the breath frame."""
    f = catalog.FRAME
    rows = []
    for k in range(len(layout.LPC_DIRECTIONS)):
        y = (8 + k) * f
        stand = sheet[y : y + f, 0:f]
        breath = stand.copy()
        breath[1 : WAIST + 1] = stand[0:WAIST]
        breath[0] = 0
        rows.append(np.concatenate([stand, breath], 1))
    block = np.concatenate(rows, 0)
    out = np.zeros((block.shape[0], layout.LPC_COLUMNS * f, 4), np.uint8)
    out[:, : 2 * f] = block
    return out


def render(ch: character.Character, *, size: int = 64, cat: catalog.Catalog | None = None,
           palette_colors: int = 0, palette: np.ndarray | None = None,
           strays: bool = True) -> np.ndarray:  # fmt: skip
    """A character -> the (25 * size, 13 * size, 4) sheet image, cleaned."""
    cat = cat or catalog.load()
    img = catalog.compose(cat, ch.picks)
    img = np.concatenate([img, idle_rows(img)], 0)
    f = catalog.FRAME
    frames = img.reshape(img.shape[0] // f, f, layout.LPC_COLUMNS, f, 4).transpose(0, 2, 1, 3, 4)
    frames = postprocess.clean_sheet(frames, colors=palette_colors, palette=palette, strays=strays)
    if size == 32:
        frames = postprocess.reduce_half(frames)
        if strays:
            frames = postprocess.remove_strays(frames)
    return export.sheet_image(frames)


def sheet_layout(
    ch: character.Character, size: int
) -> tuple[layout.SheetLayout, dict[str, list[str]]]:
    """The LPC layout without the animations a garment of ``ch`` has no frames for."""
    lay = layout.lpc(size)
    missing = character.missing_animations(ch)
    if missing:
        lay = replace(lay, tracks=tuple(t for t in lay.tracks if t.animation not in missing))
    return lay, missing


class LpcSpriteGenerator(Generator):
    name = "sprites.lpc"
    kind = "sprite"
    Params = LpcParams

    def run(self, params: GenParams, ctx: RunContext) -> GenerationResult:
        if not isinstance(params, LpcParams):
            raise InvalidParamsError("sprites.lpc needs LpcParams.")
        cat = catalog.load()
        parsed = prompt.parse(params.prompt)
        fixed = dict(parsed.attrs)
        fixed.update(params.attrs)
        pal = palettes.read_palette(params.palette_file) if params.palette_file else None
        key = prompt.content_key(params.prompt)
        base = params.to_dict()
        result = GenerationResult(
            info={"prompt_unknown": list(parsed.unknown), "license": catalog.LICENSE}
        )
        for i in range(params.count):
            ctx.check_cancel()
            seed = params.seed + i
            attrs = character.sample(fixed, (seed ^ key) & fields.MAX_SEED, cat)
            ch = character.build(attrs, cat)
            img = render(ch, size=params.size, cat=cat, palette_colors=params.palette_colors,
                         palette=pal, strays=params.remove_strays)  # fmt: skip
            lay, missing = sheet_layout(ch, params.size)
            png = export.encode_png(img)
            ctx.check_cancel()
            ctx.progress((i + 1) / params.count, f"sheet {i + 1}/{params.count}", png)
            notes = list(ch.notes) + [
                f"no {a} frames: {', '.join(sorted(set(ids)))} has none"
                for a, ids in missing.items()
            ]
            asset_id = ctx.emit(
                Output(
                    kind="sprite",
                    data=png,
                    ext="png",
                    params=dict(base, seed=seed, count=1),
                    seed=seed,
                    parent=params.parent or None,
                    extra={
                        "style": "lpc",
                        "layout": lay.to_dict(),
                        "attrs": ch.attrs,
                        "layers": catalog.describe(ch.layers),
                        "prompt_matched": list(parsed.matched),
                        "prompt_by_meaning": dict(parsed.by_meaning),
                        "prompt_unknown": list(parsed.unknown),
                        "notes": notes,
                        "license": catalog.LICENSE,
                        "credits": catalog.credits_text(ch.layers),
                    },
                    name_hint=f"lpc_{seed}",
                )
            )
            result.asset_ids.append(asset_id)
        return result
