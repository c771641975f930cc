"""The Sprites panel's logic without Qt: settings <-> job params, prompt feedback, reuse,
variations, sheet layouts and export.

Everything here is plain Python (plus the sprite generators' vocabularies), so it is tested
without widgets and the panel stays a thin layer of controls over the settings classes.

Two sheet styles exist: the GenStudio style (``sprites.procedural`` and ``sprites.spritenet``,
:class:`SpriteSettings` from :class:`SpriteParams`) and the LPC style (``sprites.lpc``,
:class:`LpcSettings` from :class:`LpcParams`); :func:`settings_for` says which a model uses.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genstudio.core.errors import InvalidParamsError
from genstudio.generators import fields
from genstudio.generators.sprites import export, layout, procedural
from genstudio.generators.sprites.generator import SpriteParams
from genstudio.generators.sprites.layout import SheetLayout, Track
from genstudio.generators.sprites.lpc import catalog as lpc_catalog
from genstudio.generators.sprites.lpc import character as lpc_character
from genstudio.generators.sprites.lpc import prompt as lpc_prompt
from genstudio.generators.sprites.lpc.generator import LpcParams
from genstudio.ui.modes.seeds import MAX_SEED, parse_seed, random_seed  # noqa: F401 (the panel uses state.*)
from genstudio.ui.modes.settings import settings_class

DEFAULT_MODEL = "sprites.procedural"
LPC_MODEL = "sprites.lpc"
MODEL_LABELS: dict[str, str] = {
    "sprites.procedural": "GenStudio style",
    LPC_MODEL: "LPC (artist-made, CC-BY-SA / GPL)",
    "sprites.spritenet": "SpriteNet (AI model)",
}
MODEL_TIPS: dict[str, str] = {
    "sprites.procedural": "GenStudio's own 32 px style from hand-made layered parts: instant, "
    "every attribute exact; idle and walk in four directions.",
    LPC_MODEL: "Characters composited from the Universal LPC art made by pixel artists: 64 px "
    "sheets with walk, slash, thrust, spellcast, shoot and hurt. The art is licensed "
    "CC-BY-SA 3.0 / GPL 3.0: credit the artists and share alike.",
    "sprites.spritenet": "GenStudio's trained model (ONNX Runtime, offline): the GenStudio "
    "style's attributes drawn by a neural network.",
}
#: what the LPC art's license means, shown under the model picker when LPC is chosen
LPC_LICENSE_TEXT = lpc_catalog.LICENSE_TEXT
LPC_LICENSE = lpc_catalog.LICENSE
_spec = fields.field_info
SIZES: tuple[int, ...] = tuple(_spec(SpriteParams, "size").spec.allowed() or ())
NATIVE_SIZE = procedural.FRAME
#: each params class's own frame size (the art is drawn at it; the others are resized)
NATIVE_SIZES: dict[type, int] = {SpriteParams: procedural.FRAME, LpcParams: lpc_catalog.FRAME}
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
    order = list(MODEL_LABELS)
    return sorted(names, key=lambda n: (order.index(n) if n in order else len(order), n))


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


class LpcSettings(settings_class("LpcSettings", LpcParams, model=LPC_MODEL)):
    """What the panel's controls say in the LPC style: every LpcParams field (``attrs`` = the
    locked LPC attributes, which the sidecar's params keep as they were asked for)."""

    @classmethod
    def from_record(
        cls, generator: str, params: Mapping[str, Any], seed: int | None = None
    ) -> LpcSettings:
        """Settings that reproduce a gallery asset of the LPC style."""
        if not isinstance(params, Mapping):
            raise InvalidParamsError("These settings are not a sprite's parameters.")
        params = dict(params)
        if isinstance(seed, int) and not isinstance(seed, bool):
            params["seed"] = seed
        return cls.from_params(params, model=LPC_MODEL)


#: the settings class of each model whose params are not SpriteParams
SETTINGS_BY_MODEL: dict[str, type] = {LPC_MODEL: LpcSettings}
#: every settings class, the default (GenStudio style) first
SETTINGS_CLASSES: tuple[type, ...] = (SpriteSettings, LpcSettings)


def settings_for(model: str) -> type:
    """The settings class (and so the params class) of a sprite model."""
    return SETTINGS_BY_MODEL.get(model, SpriteSettings)


def is_lpc(model: str) -> bool:
    return settings_for(model) is LpcSettings


def settings_from_record(
    generator: str, params: Mapping[str, Any], seed: int | None = None
) -> SpriteSettings | LpcSettings:
    """The settings of a gallery asset, in the settings class of its generator."""
    return settings_for(generator).from_record(generator, params, seed)


def size_choices(params: type) -> list[tuple[str, int]]:
    """(label, px) of the frame sizes a params class offers, its native size marked."""
    native = NATIVE_SIZES.get(params)
    return [
        (f"{s} x {s} px" + ("  (native)" if s == native else ""), int(s))
        for s in _spec(params, "size").spec.allowed() or ()
    ]


def lpc_colour_key(key: str) -> bool:
    """Whether an LPC attribute only colours the character (skin tone, eyes, ``*_color``)."""
    return key in ("body", "eyes") or key.endswith("_color")


def shape_attrs(settings: Any, full_attrs: Mapping[str, str]) -> dict[str, str]:
    """The attributes of ``full_attrs`` that make the character's shape in its style."""
    if isinstance(settings, LpcSettings):
        return {k: v for k, v in full_attrs.items() if not lpc_colour_key(k)}
    return {k: full_attrs[k] for k in SHAPE_KEYS if k in full_attrs}


def variation_settings(source: Any, full_attrs: Mapping[str, str], *, seed: int, count: int) -> Any:
    """The same character in other colours: its shape attributes locked, colours drawn again
    from new seeds (the prompt is left out, so its colour words do not pin the colours)."""
    return source.replace(prompt="", attrs=shape_attrs(source, full_attrs), seed=seed, count=count)


# --- prompt feedback ---------------------------------------------------------------------------


#: at most this many words of one kind, and this many notes, are shown (the rest: "+N more")
SHOWN_WORDS = 12
SHOWN_NOTES = 3
LONG_WORD = 24  # a longer word is cut with an ellipsis, so no label grows past its column


def clip_word(word: str, limit: int = LONG_WORD) -> str:
    return word if len(word) <= limit else word[: limit - 1] + "\u2026"


def _shown(items: Iterable[str], limit: int) -> str:
    items = [clip_word(w) for w in dict.fromkeys(items)]
    more = len(items) - limit
    return ", ".join(items[:limit]) + (f" (+{more} more)" if more > 0 else "")


@dataclass(frozen=True)
class PromptFeedback:
    """What a generator made of a prompt: phrases it took (``matched``), words it took by their
    meaning (``by_meaning``: word -> the entry it meant), words it could not honour
    (``unknown``), and notes on what it could not do as asked.

    ``pending``: the live (typing) feedback of a style that matches the remaining words by
    meaning only when the sheet is made; those words are "not in the word list" until then.
    """

    matched: tuple[str, ...] = ()
    unknown: tuple[str, ...] = ()
    attrs: dict[str, str] = field(default_factory=dict)
    error: str = ""
    by_meaning: tuple[tuple[str, str], ...] = ()
    notes: tuple[str, ...] = ()
    pending: bool = False

    @property
    def empty(self) -> bool:
        return not (self.matched or self.unknown or self.error or self.by_meaning or self.notes)

    def parts(self) -> list[tuple[str, str, str]]:
        """(caption, text, tone) of each part; tone is a theme colour name (success, warning,
        danger, muted). De-duplicated, long words cut, long lists shortened."""
        if self.error:
            return [("", self.error, "danger")]
        out = []
        if self.matched:
            out.append(("understood", _shown(self.matched, SHOWN_WORDS), "success"))
        if self.by_meaning:
            pairs = [f"{clip_word(w)} -> {clip_word(e)}" for w, e in self.by_meaning]
            out.append(("by meaning", _shown(pairs, SHOWN_WORDS), "success"))
        if self.unknown:
            caption = "not in the word list (tried by meaning on Generate)"
            if not self.pending:
                caption = "ignored"
            out.append((caption, _shown(self.unknown, SHOWN_WORDS), "warning"))
        if self.notes:
            notes = list(dict.fromkeys(self.notes))
            more = len(notes) - SHOWN_NOTES
            text = "; ".join(notes[:SHOWN_NOTES]) + (f" (+{more} more)" if more > 0 else "")
            out.append(("note", text, "muted"))
        return out

    def text(self) -> str:
        return "; ".join(f"{c}: {t}" if c else t for c, t, _tone in self.parts())

    def full_text(self) -> str:
        """Everything, nothing shortened (a tooltip)."""
        if self.error:
            return self.error
        lines = []
        if self.matched:
            lines.append("understood: " + ", ".join(dict.fromkeys(self.matched)))
        if self.by_meaning:
            lines.append("by meaning: " + ", ".join(f"{w} -> {e}" for w, e in self.by_meaning))
        if self.unknown:
            lines.append("ignored: " + ", ".join(dict.fromkeys(self.unknown)))
        lines += list(dict.fromkeys(self.notes))
        return "\n".join(lines)


def prompt_feedback(prompt: str, model: str = DEFAULT_MODEL) -> PromptFeedback:
    """Live feedback while typing (fast: the LPC style's meaning matcher is not run here)."""
    if not prompt.strip():
        return PromptFeedback()
    if is_lpc(model):
        try:
            LpcParams.from_dict({"prompt": prompt})
        except InvalidParamsError as e:
            return PromptFeedback(error=e.user_message())
        lp = lpc_prompt.parse(prompt, meaning=False)
        return PromptFeedback(
            matched=tuple(lp.matched), unknown=tuple(lp.unknown), attrs=dict(lp.attrs),
            notes=tuple(lp.notes), pending=bool(lp.unknown),
        )  # fmt: skip
    try:
        p = procedural.parse_prompt(prompt)
    except InvalidParamsError as e:
        return PromptFeedback(error=e.user_message())
    return PromptFeedback(matched=p.matched, unknown=p.unknown, attrs=dict(p.attrs))


def _strings(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        return ()
    return tuple(str(v) for v in value if isinstance(v, str | int | float))


def sheet_feedback(
    generator: str, params: Mapping[str, Any], extra: Mapping[str, Any]
) -> PromptFeedback:
    """What the generator made of a sheet's prompt, from its sidecar (``prompt_matched``,
    ``prompt_by_meaning``, ``prompt_unknown``, ``notes``); an old sidecar without them is read
    again by the live feedback of its style."""
    if not isinstance(extra, Mapping):
        extra = {}
    if "prompt_unknown" not in extra and "prompt_matched" not in extra:
        prompt = params.get("prompt", "") if isinstance(params, Mapping) else ""
        fb = prompt_feedback(prompt if isinstance(prompt, str) else "", generator)
        return PromptFeedback(matched=fb.matched, unknown=fb.unknown, error=fb.error,
                              notes=_strings(extra.get("notes")))  # fmt: skip
    meaning = extra.get("prompt_by_meaning")
    pairs = tuple(
        (str(w), str(e)) for w, e in (meaning.items() if isinstance(meaning, Mapping) else ())
    )
    return PromptFeedback(
        matched=_strings(extra.get("prompt_matched")),
        unknown=tuple(dict.fromkeys(_strings(extra.get("prompt_unknown")))),
        by_meaning=pairs,
        notes=_strings(extra.get("notes")),
    )


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


#: the noun an LPC layer's name needs after it ("leather" -> "leather belt")
_LPC_NOUNS = {"belt": "belt", "cape": "cape", "hair": "hair", "hands": "gloves"}
_LPC_WORDS = {"elvenears": "elven ears", "bigears": "big ears", "normal": ""}
_LPC_SKIP = ("nose",)  # too small to name


def _lpc_label(value: str) -> str:
    text = _LPC_WORDS.get(value, value_label(value))
    return " ".join(dict.fromkeys(text.split()))  # "leather leather" -> "leather"


def describe_lpc(attrs: Mapping[str, str]) -> str:
    """One line naming an LPC character: 'female, dark skin, elven ears, ruby red messy2 hair,
    brown chain mail, leather belt, bow'."""
    a = attrs
    bits = [a["sex"]] if a.get("sex") else []
    if a.get("body"):
        bits.append(f"{value_label(a['body']).rstrip('0123456789')} skin")
    for slot in lpc_character.SLOTS:
        v = a.get(slot, "none")
        if not v or v == "none" or slot in _LPC_SKIP:
            continue
        if slot == "eyes":
            bits.append(f"{value_label(v)} eyes")
            continue
        noun = _lpc_label(v)
        extra = _LPC_NOUNS.get(slot, "")
        if extra and extra not in noun.split():
            noun = f"{noun} {extra}".strip()
        colour = value_label(a.get(f"{slot}_color", ""))
        bits.append(f"{colour} {noun}".strip())
    return ", ".join(bits)


def describe(generator: str, attrs: Mapping[str, str]) -> str:
    return describe_lpc(attrs) if is_lpc(generator) else describe_attrs(attrs)


# --- sheet layouts and animation -----------------------------------------------------------------


def style_layout(model: str) -> SheetLayout:
    """The layout a model's sheets have at its default size (the preview's menus before a
    sheet is selected)."""
    size = settings_for(model)().size
    return layout.lpc(size) if is_lpc(model) else layout.genstudio(size)


def sheet_layout(width: int, height: int, stored: Any = None) -> SheetLayout:
    """Where the frames of a ``width`` x ``height`` sheet are: the sidecar's ``layout`` when it
    fits (this version's or the first version's dict), else the style the size matches;
    InvalidParamsError when it is no sprite sheet."""
    return layout.detect(width, height, stored if isinstance(stored, Mapping) else None)


def animation_label(name: str) -> str:
    return name.replace("_", " ").capitalize()


def fps_of(track: Track | None) -> float:
    """The frames per second of a track's own frame duration (8 fps without a track)."""
    return 1000.0 / (track.frame_ms if track is not None else 125)


def shown_tracks(lay: SheetLayout, animation: str, direction: str = "") -> list[Track]:
    """The tracks the preview plays: ``animation`` facing ``direction`` ("" = every direction
    the sheet draws it in; a direction it lacks = its first)."""
    if animation not in lay.animations:
        return []
    if direction and direction in lay.directions_of(animation):
        return [t for t in lay.tracks if t.animation == animation and t.direction == direction]
    if direction:
        t = lay.track(animation)
        return [t] if t is not None else []
    return [t for t in lay.tracks if t.animation == animation]


def thumbnail_track(lay: SheetLayout) -> Track:
    """The track whose first frame stands for a sheet in the candidates: idle facing down."""
    for anim in ("idle", "walk", *lay.animations):
        t = lay.track(anim, "down")
        if t is not None:
            return t
    return lay.tracks[0]


def checker_cell(zoom: int) -> int:
    """Checkerboard squares of 4 sprite pixels, so the pixel grid reads at every zoom."""
    return 4 * max(1, zoom)


def fit_scale(frame: int, box: int) -> int:
    """The largest whole-number scale of ``frame`` px that fits ``box`` px (at least 1)."""
    return max(1, box // max(1, frame))


DEFAULT_ZOOM = 3
VIEW_GAP = 14  # px between the preview's frame views
VIEW_MIN_W = 56
CAPTION_H = 20


def fit_zoom(frame_w: int, frame_h: int, views: int, box_w: int, box_h: int,
             most: int = DEFAULT_ZOOM) -> int:  # fmt: skip
    """The largest zoom up to ``most`` at which ``views`` frames side by side (with their
    gaps and captions) fit a ``box_w`` x ``box_h`` area; at least 1."""
    for z in range(max(1, most), 1, -1):
        w = views * max(frame_w * z, VIEW_MIN_W) + (views - 1) * VIEW_GAP
        if w <= box_w and frame_h * z + CAPTION_H + 8 <= box_h:
            return z
    return 1


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
    credits: str | None = None,
) -> list[Path]:
    """Write the chosen formats of a sheet PNG into ``out_dir`` as ``stem.*``; ``credits``
    (an LPC sheet's artists and license, its sidecar's ``extra["credits"]``) goes beside them
    as ``stem.CREDITS.txt``, as the CLI writes it: the license asks for it to travel with the
    art.

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
    written = export.export_sheet(img, out_dir, stem, layout=layout, formats=formats, scale=scale)
    if credits:
        from genstudio.core.atomic import atomic_write_bytes

        path = Path(out_dir) / f"{stem}.CREDITS.txt"
        atomic_write_bytes(path, str(credits).encode("utf-8"))
        written.append(path)
    return written
