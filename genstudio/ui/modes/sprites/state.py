"""The Sprites panel's logic without Qt: settings <-> job params, prompt feedback, reuse,
variations, sheet geometry and export.

Everything here is plain Python (plus the sprite generator's vocabulary), so it is tested without
widgets and the panel stays a thin layer of controls over :class:`SpriteSettings`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genstudio.core.errors import InvalidParamsError
from genstudio.generators import fields
from genstudio.generators.sprites import export, procedural
from genstudio.generators.sprites.generator import SpriteParams
from genstudio.ui.modes.seeds import MAX_SEED, parse_seed, random_seed  # noqa: F401 (the panel uses state.*)
from genstudio.ui.modes.settings import settings_class

DEFAULT_MODEL = "sprites.procedural"
MODEL_LABELS: dict[str, str] = {
    "sprites.procedural": "Procedural",
    "sprites.spritenet": "SpriteNet (AI model)",
}
MODEL_TIPS: dict[str, str] = {
    "sprites.procedural": "Hand-made layered parts: instant, every attribute exact.",
    "sprites.spritenet": "GenStudio's trained model (ONNX Runtime, offline): the same "
    "attributes drawn by a neural network.",
}
_spec = fields.field_info
SIZES: tuple[int, ...] = tuple(_spec(SpriteParams, "size").spec.allowed() or ())
NATIVE_SIZE = procedural.FRAME
MAX_COUNT = int(_spec(SpriteParams, "count").spec.hi or 1)
DEFAULT_COUNT = _spec(SpriteParams, "count").ui_default()
MAX_PALETTE_COLORS = int(_spec(SpriteParams, "palette_colors").spec.hi or 0)
ZOOMS = (1, 2, 3, 4, 5, 6, 7, 8)
#: (format, label) of every export format, in the exporter's order
EXPORT_FORMATS: tuple[tuple[str, str], ...] = tuple(
    (f, export.FORMAT_LABELS.get(f, f)) for f in export.FORMATS
)

#: attributes that make the character's shape; variations keep them
SHAPE_KEYS: tuple[str, ...] = (
    "body",
    "hair_style",
    "eye_style",
    "top",
    "bottom",
    "shoes",
    "headwear",
    "item",
)
#: attributes that only colour it; variations draw them again
COLOUR_KEYS: tuple[str, ...] = tuple(k for k in procedural.ATTRIBUTE_KEYS if k not in SHAPE_KEYS)

#: the attribute pickers, one row each: (label, style attribute, colour attribute or None)
ATTR_ROWS: tuple[tuple[str, str, str | None], ...] = (
    ("Body", "body", "skin"),
    ("Hair", "hair_style", "hair_color"),
    ("Eyes", "eye_style", "eyes"),
    ("Top", "top", "top_color"),
    ("Bottom", "bottom", "bottom_color"),
    ("Shoes", "shoes", "shoes_color"),
    ("Headwear", "headwear", "headwear_color"),
    ("Item", "item", None),
)

ATTR_TITLES: dict[str, str] = {
    "body": "Body type",
    "skin": "Skin tone",
    "hair_style": "Hair style",
    "hair_color": "Hair colour",
    "eyes": "Eye colour",
    "eye_style": "Eye shape",
    "top": "Top",
    "top_color": "Top colour",
    "bottom": "Bottom",
    "bottom_color": "Bottom colour",
    "shoes": "Shoes",
    "shoes_color": "Shoe colour",
    "headwear": "Headwear",
    "headwear_color": "Headwear colour",
    "item": "Held item",
}

_VALUE_LABELS = {
    "tshirt": "t-shirt",
    "sword_shield": "sword & shield",
    "none": "none",
    "dark_brown": "dark brown",
}


def value_label(value: str) -> str:
    return _VALUE_LABELS.get(value, value.replace("_", " "))


def model_label(name: str) -> str:
    return MODEL_LABELS.get(name, name.removeprefix("sprites.").replace("_", " ").title())


def sprite_models() -> list[str]:
    """Registered sprite generators, the procedural one first."""
    from genstudio import generators

    names = [n for n in generators.names() if n.startswith("sprites.")]
    return sorted(names, key=lambda n: (n != DEFAULT_MODEL, n not in MODEL_LABELS, n))


# --- settings ----------------------------------------------------------------------------------


class SpriteSettings(settings_class("SpriteSettings", SpriteParams, model=DEFAULT_MODEL)):
    """What the panel's controls say: every SpriteParams field (``attrs`` = the locked
    attributes; a missing key means "any", drawn from the seed) and the model to run."""

    @classmethod
    def from_record(
        cls, generator: str, params: Mapping[str, Any], seed: int | None = None
    ) -> SpriteSettings:
        """Settings that reproduce a gallery asset (the sidecar's generator/params/seed).

        The generator stores *every* attribute of a sheet; only those the seed would not have
        drawn (and the prompt does not say) are locked again, so the same seed gives the same
        sheet and a larger count still gives different characters.
        """
        if not isinstance(params, Mapping):
            raise InvalidParamsError("These settings are not a sprite's parameters.")
        params = dict(params)
        if isinstance(seed, int) and not isinstance(seed, bool):
            params["seed"] = seed
        raw = params.get("attrs", {})
        params["attrs"] = {
            k: v
            for k, v in (raw.items() if isinstance(raw, Mapping) else ())
            if k in procedural.ATTRIBUTES and v in procedural.ATTRIBUTES[k]
        }
        s = cls.from_params(
            params, model=generator if generator.startswith("sprites.") else DEFAULT_MODEL
        )
        s.attrs = minimal_locks(s.attrs, s.prompt, s.seed)
        return s


def minimal_locks(full: Mapping[str, str], prompt: str, seed: int) -> dict[str, str]:
    """The locks that, with ``prompt`` and ``seed``, give the character ``full`` again."""
    try:
        parsed = procedural.parse_prompt(prompt).attrs
    except InvalidParamsError:
        parsed = {}
    fixed = dict(parsed)
    locks: dict[str, str] = {}
    for k, v in full.items():
        if k in parsed and parsed[k] != v:
            locks[k] = v  # the attribute overrode the prompt
    fixed.update(locks)
    # what the prompt + the seed draw for everything else; lock where the asset differs
    drawn = procedural.resolve_attributes(fixed, seed)
    for k, v in full.items():
        if k not in fixed and drawn.get(k) != v:
            locks[k] = v
    if locks.keys() - fixed.keys():
        # a new lock can change a coherence default (robe -> trousers): check once more
        fixed.update(locks)
        drawn = procedural.resolve_attributes(fixed, seed)
        for k, v in full.items():
            if drawn.get(k) != v:
                locks[k] = v
    return {k: locks[k] for k in procedural.ATTRIBUTE_KEYS if k in locks}


def variation_settings(
    source: SpriteSettings, full_attrs: Mapping[str, str], *, seed: int, count: int
) -> SpriteSettings:
    """The same character in other colours: its shape attributes locked, colours drawn again
    from new seeds (the prompt is left out, so its colour words do not pin the colours)."""
    shape = {k: full_attrs[k] for k in SHAPE_KEYS if k in full_attrs}
    return source.replace(prompt="", attrs=shape, seed=seed, count=count)


# --- prompt feedback ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PromptFeedback:
    matched: tuple[str, ...] = ()
    unknown: tuple[str, ...] = ()
    attrs: dict[str, str] = field(default_factory=dict)
    error: str = ""

    @property
    def empty(self) -> bool:
        return not (self.matched or self.unknown or self.error)

    def text(self) -> str:
        if self.error:
            return self.error
        parts = []
        if self.matched:
            parts.append("understood: " + ", ".join(self.matched))
        if self.unknown:
            parts.append("ignored: " + ", ".join(dict.fromkeys(self.unknown)))
        return "; ".join(parts)


def prompt_feedback(prompt: str) -> PromptFeedback:
    if not prompt.strip():
        return PromptFeedback()
    try:
        p = procedural.parse_prompt(prompt)
    except InvalidParamsError as e:
        return PromptFeedback(error=e.user_message())
    return PromptFeedback(matched=p.matched, unknown=p.unknown, attrs=dict(p.attrs))


def describe_attrs(attrs: Mapping[str, str]) -> str:
    """One line naming a character: 'stocky, tan skin, red spiky hair, blue armor, sword'."""
    a = attrs
    bits = []
    if "body" in a:
        bits.append(a["body"])
    if "skin" in a:
        bits.append(f"{value_label(a['skin'])} skin")
    if a.get("hair_style") == "bald":
        bits.append("bald")
    elif "hair_style" in a:
        bits.append(f"{value_label(a.get('hair_color', ''))} {value_label(a['hair_style'])} hair")
    for style, colour in (("top", "top_color"), ("bottom", "bottom_color")):
        if style in a:
            bits.append(f"{value_label(a.get(colour, ''))} {value_label(a[style])}".strip())
    if a.get("headwear", "none") != "none":
        bits.append(f"{value_label(a.get('headwear_color', ''))} {value_label(a['headwear'])}")
    if a.get("item", "none") != "none":
        bits.append(value_label(a["item"]))
    return ", ".join(b.strip() for b in bits if b.strip())


# --- sheet geometry and animation ----------------------------------------------------------------


@dataclass(frozen=True)
class Animation:
    name: str
    start: int
    frames: int
    frame_ms: int

    @property
    def fps(self) -> float:
        return 1000.0 / self.frame_ms


@dataclass(frozen=True)
class SheetGeometry:
    """Where the frames are in a sheet image: rows = directions, columns = frames."""

    frame_w: int
    frame_h: int
    directions: tuple[str, ...]
    animations: tuple[Animation, ...]

    @property
    def rows(self) -> int:
        return len(self.directions)

    @property
    def columns(self) -> int:
        return sum(a.frames for a in self.animations)

    def animation(self, name: str) -> Animation:
        for a in self.animations:
            if a.name == name:
                return a
        return self.animations[0]

    def rect(self, direction: int, column: int) -> tuple[int, int, int, int]:
        return column * self.frame_w, direction * self.frame_h, self.frame_w, self.frame_h

    @classmethod
    def for_image(
        cls, width: int, height: int, layout: Mapping[str, Any] | None = None
    ) -> SheetGeometry:
        """From the asset's stored layout when it fits the image, else the default 4 x 6."""
        anims: list[Animation] = []
        dirs: tuple[str, ...] = tuple(procedural.DIRECTIONS)
        if isinstance(layout, Mapping):
            try:
                anims = [
                    Animation(str(a["name"]), int(a["start"]), int(a["frames"]), int(a["frame_ms"]))
                    for a in layout.get("animations", [])
                ]
                dirs = tuple(str(d) for d in layout.get("directions", dirs)) or dirs
            except (KeyError, TypeError, ValueError):
                anims = []
        if not anims or any(a.frames < 1 or a.frame_ms < 1 for a in anims):
            anims = []
            col = 0
            for name, n in procedural.ANIMATIONS:
                anims.append(Animation(name, col, n, procedural.FRAME_MS[name]))
                col += n
        columns = sum(a.frames for a in anims)
        if width % columns or height % len(dirs) or width < columns or height < len(dirs):
            raise InvalidParamsError(
                f"A {width}x{height} image is not a {len(dirs)} x {columns} sprite sheet."
            )
        return cls(width // columns, height // len(dirs), dirs, tuple(anims))


def default_fps(animation: str) -> float:
    return 1000.0 / procedural.FRAME_MS.get(animation, 125)


def checker_cell(zoom: int) -> int:
    """Checkerboard squares of 4 sprite pixels, so the pixel grid reads at every zoom."""
    return 4 * max(1, zoom)


def fit_scale(frame: int, box: int) -> int:
    """The largest whole-number scale of ``frame`` px that fits ``box`` px (at least 1)."""
    return max(1, box // max(1, frame))


# --- export ------------------------------------------------------------------------------------

_BAD_STEM = re.compile(r'[/\\:*?"<>|\x00-\x1f]')


def export_stem(name_hint: str | None, asset_id: str) -> str:
    stem = _BAD_STEM.sub("_", (name_hint or "").strip()).strip(" .")
    return stem or f"sprite_{asset_id}"


def check_stem(stem: str) -> str:
    s = stem.strip()
    if not s or _BAD_STEM.search(s) or s in (".", ".."):
        raise InvalidParamsError(
            f"{stem!r} cannot be used as a file name.",
            hint='Use letters, digits, "-" and "_" (no / \\ : * ? " < > |).',
        )
    return s


def export_asset(
    sheet_png: Path,
    out_dir: Path,
    stem: str,
    formats: Iterable[str],
    scale: int,
    layout: Mapping[str, Any] | None = None,
) -> list[Path]:
    """Write the chosen formats of a sheet PNG into ``out_dir`` as ``stem.*``.

    Uses :func:`export.export_sheet` (what ``export_sheet_file`` wraps) so that the files carry
    the chosen name and the PNG sheet is written at scale 1 too (``export_sheet_file`` names the
    files after the asset id and leaves the PNG beside its source at scale 1). ``layout`` is the
    asset's stored ``extra["layout"]`` (used when it fits the image; else found from its size).
    """
    formats = [f for f in dict.fromkeys(formats)]
    if not formats:
        raise InvalidParamsError("Choose at least one export format.")
    export.check_scale(scale)
    stem = check_stem(stem)
    img = export.read_sheet_png(sheet_png)
    return export.export_sheet(img, out_dir, stem, layout=layout, formats=formats, scale=scale)
