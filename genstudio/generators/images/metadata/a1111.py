"""A1111's ``parameters`` text (``shared/FORMATS.md`` 1.1): write it, read it.

Written as the PNG ``parameters`` chunk; read from that chunk (A1111 and tools that copy it:
Forge, SD.Next, Fooocus' A1111 mode, GenStudio) and from a JPEG/WebP EXIF ``UserComment``.

Writing quirks honoured (``FORMATS.md``): keys without a value are dropped (also empty
``extra`` values and ``extra`` keys A1111's key pattern cannot read back - those live in the
JSON record only); ``Clip skip`` only when > 1; ``Model hash`` is the 10-hex-digit shorthash
(the first 10 characters of a full SHA-256); ``Version: genstudio <version>`` when the source
is GenStudio (read back as ``source="genstudio"``). Values are quoted with
``json.dumps(v, ensure_ascii=False)`` when they contain ``,``, ``:`` or a newline, as A1111
does, and also (a safe superset: every A1111 reader unquotes them) when they contain a CR,
start with ``"`` or have surrounding spaces, so that every value reads back unchanged.
Prompt lines lose surrounding whitespace and a positive-prompt line starting with
``Negative prompt:`` reads as the negative prompt: that is the A1111 format; the JSON record is
lossless.

Reading: :func:`parse_a1111` never raises for a ``str`` of up to :data:`MAX_A1111_CHARS`
characters (longer: :class:`ImageMetadataError`). Like A1111 itself it returns what it could
read: text without a parameters line (fewer than 3 ``key: value`` matches on the last line) is
all prompt; a value that does not convert (``Steps: many``) or is out of range stays in
``extra`` as text under its A1111 key; unknown keys go to ``extra`` in their order.
"""

from __future__ import annotations

import json
import re

from genstudio.generators.images.metadata.common import (
    _INT_RANGES,
    MAX_A1111_CHARS,
    MAX_PARAMS_LINE_CHARS,
    MAX_SIDE,
    ImageMetadataError,
    ImageSettings,
    _check,
    _to_float,
    _to_int,
)
from genstudio.generators.images.metadata.samplers import (
    A1111_TO_GENSTUDIO,
    a1111_sampler_name,
    genstudio_scheduler_name,
)

try:  # the package version, when installed
    from genstudio import __version__ as _VERSION
except Exception:  # pragma: no cover
    _VERSION = "0.1.0"

A1111_KEYWORD = "parameters"

# A1111's order of its own keys on the parameters line (modules/processing.py create_infotext);
# other keys follow in insertion order, then Version and User.
_A1111_ORDER: tuple[str, ...] = (
    "Steps",
    "Sampler",
    "Schedule type",
    "CFG scale",
    "Image CFG scale",
    "Seed",
    "Face restoration",
    "Size",
    "Model hash",
    "Model",
    "FP8 weight",
    "Cache FP16 weight for LoRA",
    "VAE hash",
    "VAE",
    "Variation seed",
    "Variation seed strength",
    "Seed resize from",
    "Denoising strength",
    "Conditional mask weight",
    "Clip skip",
    "ENSD",
    "Init image hash",
    "RNG",
    "Tiling",
)
_A1111_LAST: tuple[str, ...] = ("Version", "User")
# The reader's pattern from FORMATS.md, with two guards against quadratic backtracking on hostile
# text: no leading ``\s*`` (findall skips the spaces anyway) and keys of at most 64 characters.
_PARAM_RE = re.compile(r'(\w[\w \-/]{0,63}):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
_KEY_RE = re.compile(r"\w[\w \-/]{0,63}")
_SIZE_RE = re.compile(r"(\d{1,9})x(\d{1,9})")
_HEX64_RE = re.compile(r"[0-9a-fA-F]{64}")

# A1111 keys read into number fields (whole numbers in their range, else finite floats).
_NUMBER_KEYS: dict[str, str] = {
    "Steps": "steps",
    "CFG scale": "cfg_scale",
    "Seed": "seed",
    "Denoising strength": "denoising_strength",
    "Clip skip": "clip_skip",
}


def _fmt_float(v: float) -> str:
    v = float(v)
    if v.is_integer() and abs(v) < 1e16:
        return str(int(v))
    return repr(v)


def _quote(v: str) -> str:
    if "," in v or ":" in v or "\n" in v or "\r" in v or v.startswith('"') or v != v.strip():
        return json.dumps(v, ensure_ascii=False)
    return v


def _unquote(v: str) -> str:
    if len(v) >= 2 and v[0] == '"' and v[-1] == '"':
        try:
            out = json.loads(v)
        except ValueError:
            return v
        return out if isinstance(out, str) else v
    return v


def _shorthash(h: str) -> str:
    return h[:10] if _HEX64_RE.fullmatch(h) else h


def a1111_parameters(settings: ImageSettings) -> str:
    """The A1111 ``parameters`` text for these settings (``shared/FORMATS.md`` 1.1).
    Raises :class:`~genstudio.core.errors.InvalidParamsError` for settings of the wrong type
    or out of range."""
    _check(settings)
    s = settings
    vals: dict[str, str] = {}
    if s.steps is not None:
        vals["Steps"] = str(s.steps)
    if s.sampler:
        vals["Sampler"] = a1111_sampler_name(s.sampler)
    if s.cfg_scale is not None:
        vals["CFG scale"] = _fmt_float(s.cfg_scale)
    if s.seed is not None:
        vals["Seed"] = str(s.seed)
    if s.width is not None and s.height is not None:
        vals["Size"] = f"{s.width}x{s.height}"
    if s.model_hash:
        vals["Model hash"] = _shorthash(s.model_hash)
    if s.model_name:
        vals["Model"] = s.model_name
    if s.denoising_strength is not None:
        vals["Denoising strength"] = _fmt_float(s.denoising_strength)
    if s.clip_skip is not None and s.clip_skip > 1:
        vals["Clip skip"] = str(s.clip_skip)
    for k, v in s.extra.items():
        if k in vals or not v or k == "Negative prompt" or not _KEY_RE.fullmatch(k):
            continue
        vals[k] = v
    if "Version" not in vals and s.source == "genstudio":
        vals["Version"] = f"genstudio {_VERSION}"
    ordered = [k for k in _A1111_ORDER if k in vals]
    ordered += [k for k in vals if k not in _A1111_ORDER and k not in _A1111_LAST]
    ordered += [k for k in _A1111_LAST if k in vals]
    line = ", ".join(f"{k}: {_quote(vals[k])}" for k in ordered)
    negative = f"\nNegative prompt: {s.negative_prompt}" if s.negative_prompt else ""
    return f"{s.prompt}{negative}\n{line}".strip()


def _split_params_line(text: str) -> tuple[list[str], str]:
    *lines, last = text.strip().split("\n")
    if len(last) > MAX_PARAMS_LINE_CHARS or len(_PARAM_RE.findall(last)) < 3:
        lines.append(last)
        last = ""
    return lines, last


def _has_params_line(text: str) -> bool:
    return bool(_split_params_line(text)[1])


def parse_a1111(text: str) -> ImageSettings:
    """A1111 ``parameters`` text -> settings (``source="a1111"``, or ``"genstudio"`` when its
    ``Version`` says so). Follows A1111's own reader; see this module's docstring for what it
    does with text it cannot fully read."""
    if not isinstance(text, str):
        raise TypeError(f"parse_a1111 expects text, got {type(text).__name__}")
    if len(text) > MAX_A1111_CHARS:
        raise ImageMetadataError(
            f"The image's parameters text is too long ({len(text)} characters; "
            f"at most {MAX_A1111_CHARS})."
        )
    lines, last = _split_params_line(text)
    prompt: list[str] = []
    negative: list[str] = []
    done_with_prompt = False
    for line in lines:
        line = line.strip()
        if line.startswith("Negative prompt:"):
            done_with_prompt = True
            line = line[16:].strip()
        (negative if done_with_prompt else prompt).append(line)

    raw: dict[str, str] = {}
    for k, v in _PARAM_RE.findall(last):
        raw[k.strip()] = _unquote(v.strip())

    s = ImageSettings(prompt="\n".join(prompt), negative_prompt="\n".join(negative))
    s.source = "a1111"
    extra: dict[str, str] = {}
    for k, v in raw.items():
        if k in _NUMBER_KEYS:
            name = _NUMBER_KEYS[k]
            value = _to_int(v, *_INT_RANGES[name]) if name in _INT_RANGES else _to_float(v)
            if value is None:
                extra[k] = v
            else:
                setattr(s, name, value)
        elif k == "Sampler":
            base = v[: -len(" Karras")] if v.endswith(" Karras") else None
            if base in A1111_TO_GENSTUDIO and "Schedule type" not in raw:
                s.sampler = A1111_TO_GENSTUDIO[base]
                extra["Schedule type"] = "Karras"
            else:
                s.sampler = genstudio_scheduler_name(v) if v else None
        elif k == "Size":
            m = _SIZE_RE.fullmatch(v)
            w, h = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
            if 1 <= w <= MAX_SIDE and 1 <= h <= MAX_SIDE:
                s.width, s.height = w, h
            else:
                extra[k] = v
        elif k == "Model hash":
            s.model_hash = v or None
        elif k == "Model":
            s.model_name = v or None
        elif k == "Version" and v.startswith("genstudio"):
            s.source = "genstudio"
        else:
            extra[k] = v
    s.extra = extra
    return s
