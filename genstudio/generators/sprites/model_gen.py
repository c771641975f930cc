"""Sprite sheets from the trained SpriteNet model pack, through ONNX Runtime only.

The pack (``resources/models/sprites-spritenet``) holds ``sprites.onnx`` (attributes + latent ->
material codes for every frame of every sheet) and the attribute vocabulary. The codes become
colours through the palette ramps the attributes select (``procedural.color_lut``). The latent is drawn in numpy from the seed (PCG64), so a seed gives the same sheet on
any machine and provider. Attributes not given are drawn from the procedural generator's
distribution with the same seed, so "Procedural" and "Model" modes agree on what a seed means.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from genstudio.core.errors import ModelPackError
from genstudio.core.paths import shipped_models_dir
from genstudio.generators.sprites.generator import ProceduralSpriteGenerator, SpriteParams

PACK_ID = "sprites-spritenet"
_lock = threading.Lock()
_cache: dict[str, tuple[Any, Any, dict[str, list[str]], int]] = {}
OUTPUT_SPACE = "material_codes"


def default_pack_dir() -> Path:
    return shipped_models_dir() / PACK_ID


def _load(pack_dir: Path | None):
    from genstudio.runtime.packs import load_pack
    from genstudio.runtime.sessions import shared_cache

    root = Path(pack_dir) if pack_dir else default_pack_dir()
    key = str(root.resolve())
    with _lock:
        if key not in _cache:
            if not (root / "model.json").exists():
                raise ModelPackError(
                    f"The sprite model pack is missing at {root}.",
                    hint="Use the Procedural mode, or train it: genstudio ml train sprites",
                )
            pack = load_pack(root)
            if pack.raw.get("output") != OUTPUT_SPACE:
                raise ModelPackError(
                    f"The sprite model pack at {root} predates this version of GenStudio "
                    f"(its output is {pack.raw.get('output', 'palette indices')!r}).",
                    hint="Export it again: genstudio ml export sprites --run RUN --out DIR",
                )
            from genstudio.generators.sprites.procedural import TEMPLATE_VERSION

            # packs from before versioning were trained on version 1 of the templates
            trained_on = pack.raw.get("template_version", 1)
            if trained_on != TEMPLATE_VERSION:
                raise ModelPackError(
                    f"The sprite model pack at {root} was trained on version {trained_on!r} of "
                    f"the character templates; this GenStudio draws version {TEMPLATE_VERSION}, "
                    "so its output would no longer match the parts and palettes.",
                    hint="Train it again: genstudio ml train sprites, then genstudio ml export "
                    "sprites --run RUN --out DIR (or use the Procedural style).",
                )
            session = shared_cache().get(pack, "sprites.onnx")
            vocab = pack.raw["vocab"]
            z_dim = int(pack.raw["inputs"][1]["shape"][1])
            _cache[key] = (pack, session, vocab, z_dim)
        return _cache[key]


def latent(seed: int, z_dim: int) -> np.ndarray:
    rng = np.random.Generator(np.random.PCG64(seed))
    return rng.standard_normal(z_dim).astype(np.float32)


def raw_sheets(
    attrs_list: list[dict[str, str]], seeds: list[int], pack_dir: Path | None = None
) -> np.ndarray:
    """(S, D, F, 32, 32, 4) uint8 straight from the model (already ramp-exact pixel art)."""
    pack, session, vocab, z_dim = _load(pack_dir)
    from genstudio.generators.sprites import procedural

    a = np.array(
        [[vocab[k].index(attrs[k]) for k in vocab] for attrs in attrs_list], dtype=np.int64
    )
    z = np.stack([latent(s, z_dim) for s in seeds])
    out = []
    for i in range(0, len(a), 16):
        (idx,) = session.run(["indices"], {"attrs": a[i : i + 16], "z": z[i : i + 16]})
        for j, codes in enumerate(idx):
            out.append(procedural.color_lut(attrs_list[i + j])[codes])
    sheets = np.stack(out)  # (S, P, 32, 32, 4)
    d, f = procedural.DIRECTIONS_COUNT, procedural.FRAMES_COUNT
    return sheets.reshape(len(a), d, f, 32, 32, 4)


def peel_outline(sheet: np.ndarray) -> np.ndarray:
    """Remove the model's dark outline: outline-coloured pixels that touch transparency."""
    from genstudio.generators import palettes

    out = sheet.copy()
    rgb = np.array(palettes.OUTLINE_RGB, dtype=np.uint8)
    is_line = (out[..., :3] == rgb).all(-1) & (out[..., 3] == 255)
    clear = out[..., 3] == 0
    pad = np.pad(clear, [(0, 0)] * (clear.ndim - 2) + [(1, 1), (1, 1)], constant_values=True)
    touches = pad[..., :-2, 1:-1] | pad[..., 2:, 1:-1] | pad[..., 1:-1, :-2] | pad[..., 1:-1, 2:]
    out[is_line & touches] = 0
    return out


def generate_sheets(
    attrs_list: list[dict[str, str]],
    seeds: list[int],
    *,
    pack_dir: Path | None = None,
    palette_colors: int = 0,
) -> np.ndarray:
    """Model sheets with the same pixel post-processing as the studio applies."""
    from genstudio.generators.sprites import postprocess

    sheets = raw_sheets(attrs_list, seeds, pack_dir)
    return np.stack([postprocess.clean_sheet(s, colors=palette_colors) for s in sheets])


class SpriteNetGenerator(ProceduralSpriteGenerator):
    """``sprites.spritenet``: the trained model renders the sheet; the params, prompt parsing,
    post-processing, metadata and exports are the procedural mode's, so both modes agree."""

    name = "sprites.spritenet"

    def render(
        self, attrs: dict[str, str], seed: int, params: SpriteParams, palette: np.ndarray | None
    ) -> np.ndarray:
        from genstudio.generators.sprites import postprocess, procedural

        sheet = raw_sheets([attrs], [seed])[0]
        if not params.outline or params.outline_color:
            sheet = peel_outline(sheet)
        sheet = postprocess.clean_sheet(
            sheet,
            colors=params.palette_colors,
            palette=palette,
            outline=params.outline_color if params.outline and params.outline_color else None,
            strays=params.remove_strays,
        )
        if params.size != procedural.FRAME:
            sheet = postprocess.resize_nearest(sheet, params.size, procedural.FRAME)
        return sheet
