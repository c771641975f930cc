"""Image generation settings in image files: write ours, read ours and other tools'.

Qt-free and torch-free; stdlib only, Pillow (imported lazily) for encoding images given as
pixels and for EXIF in JPEG/WebP.

Written into every PNG GenStudio makes (:func:`png_with_metadata`), inserted before the first
``IDAT`` so that readers which stop at the pixel data still see them; the pixel chunks are
copied byte for byte, so the pixels are untouched:

* ``parameters`` - the A1111 text (``shared/FORMATS.md`` 1.1), exactly what Pillow's
  ``PngInfo.add_text`` writes: ``tEXt`` when the text is Latin-1, else an uncompressed
  ``iTXt`` (UTF-8). Civitai, A1111/Forge, sd-parsers and most viewers read it.
* ``genstudio`` - an uncompressed ``iTXt`` chunk holding GenStudio's own lossless, schema-
  versioned JSON record::

      {"format": "genstudio.image-params", "version": 1,
       ...the caller's record (generator, model id and sha256, params, post-processing,
          parent asset)...,
       "settings": {ImageSettings.to_dict()}}

  Any earlier ``parameters``/``genstudio`` text chunk in the input is replaced; other chunks
  are kept in order.

Read (:func:`read_metadata`), first source that gives settings wins:

1. PNG ``genstudio`` record (lossless; a record of another format or a newer version, or one
   that fails validation, is skipped);
2. PNG ``parameters`` (A1111 and tools that copy it: Forge, SD.Next, Fooocus' A1111 mode,
   GenStudio); text with control characters other than tab/CR/LF is taken as corrupt;
3. ComfyUI: the ``prompt`` chunk (API-format graph JSON; the ``workflow`` UI graph is not
   needed and not read). Supported: ``KSampler`` and ``KSamplerAdvanced`` (with several, the
   one fed by an empty latent - the first pass - wins, then the lowest node id); seed
   (``seed``/``noise_seed``), steps, cfg, ``sampler_name``, ``scheduler`` (as
   ``extra["Schedule type"]``), ``denoise`` (only when below 1); prompts through
   ``positive``/``negative`` to ``CLIPTextEncode`` ``text`` (also ``text_g`` of the SDXL
   encoder, through conditioning pass-through nodes and text primitive nodes); size from the
   node feeding ``latent_image`` (``EmptyLatentImage`` and alike); model from
   ``CheckpointLoaderSimple`` ``ckpt_name`` / ``UNETLoader`` ``unet_name`` (through
   ``LoraLoader`` and other nodes with a ``model`` input); clip skip from ``CLIPSetLastLayer``;
4. InvokeAI 3+: ``invokeai_metadata`` JSON (model as ``{"model_name"}`` (3.x) or
   ``{"name", "hash"}`` (4.x+); ``*_k`` schedulers become ``Schedule type: Karras``);
5. InvokeAI 2.x: ``sd-metadata`` JSON, then the older ``Dream`` string; ``[bracketed]`` parts
   of the prompt are the negative prompt;
6. JPEG/WebP: EXIF ``UserComment`` holding A1111 text (``UNICODE`` (UTF-16 BE, as piexif
   writes it; a BOM is honoured), ``ASCII`` or undefined prefix); used only when its last line
   is an A1111 parameters line, so a camera's comment is not taken for a prompt.

Error policy:

* :func:`read_metadata` never raises for bad *content*: random bytes, an empty file, an image
  format other than PNG/JPEG/WebP, a truncated PNG, chunks with a bad CRC, invalid chunk
  headers, corrupt or wrongly typed JSON, decompression bombs, over-long chunks - each such
  part is skipped, and if nothing readable is left the answer is ``None``. A PNG cut off
  *after* its metadata chunks still gives its settings (only the bytes up to the cut are read;
  pixels are never decoded, so a huge or absurd ``IHDR`` size costs nothing). It raises
  :class:`ImageMetadataError` only when a path cannot be read (missing, a folder, no
  permission, not a regular file: a FIFO or a device is refused before a byte is read and
  without blocking), and ``TypeError`` for an argument of the wrong type.
* Limits: a text chunk over :data:`MAX_TEXT_CHUNK_BYTES` (stored or inflated) is skipped, at
  most :data:`MAX_TOTAL_TEXT_BYTES` of text chunks are read per file; width/height outside
  1..:data:`MAX_SIDE`, steps outside 1..:data:`MAX_STEPS`, clip skip outside
  1..:data:`MAX_CLIP_SKIP` and seeds outside the 64-bit range are not taken as values (from
  A1111 text they stay in ``extra`` under their A1111 key, verbatim; from JSON they are
  dropped).
* :func:`parse_a1111` never raises for a ``str`` of up to :data:`MAX_A1111_CHARS` characters
  (longer: :class:`ImageMetadataError`). Like A1111 itself it returns what it could read: text
  without a parameters line (fewer than 3 ``key: value`` matches on the last line) is all
  prompt; a value that does not convert (``Steps: many``) stays in ``extra`` as text; unknown
  keys go to ``extra`` in their order.
* :func:`png_with_metadata` and :func:`a1111_parameters` raise
  :class:`~genstudio.core.errors.InvalidParamsError` for settings of the wrong type or out of
  range, input that is not a PNG (or an image mode PNG cannot hold), and a record that is not
  JSON or uses a reserved key.

A1111 writing quirks honoured (``FORMATS.md``): keys without a value are dropped (also empty
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
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import stat
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from genstudio.core.errors import GenStudioError, InvalidParamsError

try:  # the package version, when installed
    from genstudio import __version__ as _VERSION
except Exception:  # pragma: no cover
    _VERSION = "0.1.0"


class ImageMetadataError(GenStudioError):
    """An image file whose metadata cannot be read at all (unreadable path, over-long text)."""

    kind = "image-metadata"


# --- constants ---------------------------------------------------------------------------------

A1111_KEYWORD = "parameters"
GENSTUDIO_KEYWORD = "genstudio"
GENSTUDIO_FORMAT = "genstudio.image-params"
GENSTUDIO_FORMAT_VERSION = 1
SOURCES = ("genstudio", "a1111", "comfyui", "invokeai", "unknown")

MAX_TEXT_CHUNK_BYTES = 8 * 1024 * 1024
MAX_TOTAL_TEXT_BYTES = 32 * 1024 * 1024
MAX_A1111_CHARS = 1024 * 1024
MAX_PARAMS_LINE_CHARS = 64 * 1024
MAX_SIDE = 16384
MAX_STEPS = 10000
MAX_CLIP_SKIP = 64
SEED_MIN, SEED_MAX = -(2**63), 2**64 - 1
_MAX_CHUNKS = 1_000_000
_MAX_GRAPH_DEPTH = 64

# GenStudio's scheduler names <-> A1111's sampler names.
GENSTUDIO_SCHEDULERS: tuple[str, ...] = ("ddim", "euler", "euler_a", "dpmpp_2m", "lcm")
GENSTUDIO_TO_A1111: dict[str, str] = {
    "ddim": "DDIM",
    "euler": "Euler",
    "euler_a": "Euler a",
    "dpmpp_2m": "DPM++ 2M",
    "lcm": "LCM",
}
A1111_TO_GENSTUDIO: dict[str, str] = {v: k for k, v in GENSTUDIO_TO_A1111.items()}
# ComfyUI / InvokeAI / legacy names of samplers GenStudio does not have, for the A1111 line.
_OTHER_TO_A1111: dict[str, str] = {
    "euler_ancestral": "Euler a",
    "heun": "Heun",
    "dpm_2": "DPM2",
    "dpm_2_ancestral": "DPM2 a",
    "kdpm_2": "DPM2",
    "kdpm_2_a": "DPM2 a",
    "lms": "LMS",
    "dpm_fast": "DPM fast",
    "dpm_adaptive": "DPM adaptive",
    "dpmpp_2s_ancestral": "DPM++ 2S a",
    "dpmpp_sde": "DPM++ SDE",
    "dpmpp_2m_sde": "DPM++ 2M SDE",
    "dpmpp_3m_sde": "DPM++ 3M SDE",
    "ddpm": "DDPM",
    "uni_pc": "UniPC",
    "unipc": "UniPC",
    "plms": "PLMS",
}
# ComfyUI scheduler -> A1111 "Schedule type".
_COMFY_SCHEDULE_TYPES: dict[str, str] = {
    "normal": "Normal",
    "karras": "Karras",
    "exponential": "Exponential",
    "sgm_uniform": "SGM Uniform",
    "simple": "Simple",
    "ddim_uniform": "DDIM",
    "beta": "Beta",
    "kl_optimal": "KL Optimal",
}

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
_INT_RE = re.compile(r"[+-]?\d{1,30}")
_HEX64_RE = re.compile(r"[0-9a-fA-F]{64}")
_BAD_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

_PNG_SIG = b"\x89PNG\r\n\x1a\n"
_TEXT_TYPES = (b"tEXt", b"zTXt", b"iTXt")
# Pillow modes it writes to PNG exactly ("I" is not: it is clipped to 16 bits).
_LOSSLESS_PNG_MODES = frozenset({"1", "L", "LA", "P", "RGB", "RGBA", "I;16", "I;16B"})
_KNOWN_KEYWORDS = frozenset(
    {
        GENSTUDIO_KEYWORD,
        A1111_KEYWORD,
        "prompt",
        "workflow",
        "invokeai_metadata",
        "sd-metadata",
        "Dream",
    }
)


# --- settings ------------------------------------------------------------------------------------


@dataclass
class ImageSettings:
    """Generation settings that tools share ("reuse these settings").

    ``sampler`` is GenStudio's scheduler name (``ddim``, ``euler``, ``euler_a``, ``dpmpp_2m``,
    ``lcm``) when the tool's sampler is one of those, otherwise the tool's own name verbatim.
    ``model_hash`` is whatever the source gave: a full SHA-256 (GenStudio), an A1111 shorthash,
    an InvokeAI ``blake3:`` hash. ``extra`` holds everything else as text, under A1111 key names
    where one exists (``Schedule type``, ``VAE``, ``Hires upscale`` ...). ``source`` says which
    tool wrote it: one of :data:`SOURCES`.
    """

    prompt: str = ""
    negative_prompt: str = ""
    steps: int | None = None
    sampler: str | None = None
    cfg_scale: float | None = None
    seed: int | None = None
    width: int | None = None
    height: int | None = None
    model_name: str | None = None
    model_hash: str | None = None
    denoising_strength: float | None = None
    clip_skip: int | None = None
    extra: dict[str, str] = field(default_factory=dict)
    source: str = "genstudio"

    def problems(self) -> list[str]:
        """What is wrong with the values (types, ranges); empty when they can be written."""
        out: list[str] = []
        for name in ("prompt", "negative_prompt"):
            if not isinstance(getattr(self, name), str):
                out.append(f"{name} must be text")
        for name in ("sampler", "model_name", "model_hash"):
            v = getattr(self, name)
            if v is not None and not isinstance(v, str):
                out.append(f"{name} must be text or None")
        for name, lo, hi in (
            ("steps", 1, MAX_STEPS),
            ("seed", SEED_MIN, SEED_MAX),
            ("width", 1, MAX_SIDE),
            ("height", 1, MAX_SIDE),
            ("clip_skip", 1, MAX_CLIP_SKIP),
        ):
            v = getattr(self, name)
            if v is not None and (not _is_int(v) or not lo <= v <= hi):
                out.append(f"{name} must be a whole number from {lo} to {hi} or None, not {v!r}")
        for name in ("cfg_scale", "denoising_strength"):
            v = getattr(self, name)
            if v is not None and _finite(v) is None:
                out.append(f"{name} must be a finite number or None, not {v!r}")
        if not isinstance(self.extra, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in self.extra.items()
        ):
            out.append("extra must map text to text")
        if self.source not in SOURCES:
            out.append(f"source must be one of {', '.join(SOURCES)}, not {self.source!r}")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "prompt": self.prompt,
            "negative_prompt": self.negative_prompt,
            "steps": self.steps,
            "sampler": self.sampler,
            "cfg_scale": self.cfg_scale,
            "seed": self.seed,
            "width": self.width,
            "height": self.height,
            "model_name": self.model_name,
            "model_hash": self.model_hash,
            "denoising_strength": self.denoising_strength,
            "clip_skip": self.clip_skip,
            "extra": dict(self.extra),
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ImageSettings:
        """Inverse of :meth:`to_dict`; unknown keys are ignored, missing ones take defaults.
        Raises :class:`ImageMetadataError` for values of the wrong type or out of range."""
        if not isinstance(data, Mapping):
            raise ImageMetadataError("Image settings must be a JSON object.")
        kwargs: dict[str, Any] = {}
        for name in (
            "prompt",
            "negative_prompt",
            "steps",
            "sampler",
            "cfg_scale",
            "seed",
            "width",
            "height",
            "model_name",
            "model_hash",
            "denoising_strength",
            "clip_skip",
            "source",
        ):
            if name in data:
                kwargs[name] = data[name]
        for name in ("cfg_scale", "denoising_strength"):
            v = _finite(kwargs.get(name))
            if v is not None:
                kwargs[name] = v
        extra = data.get("extra", {})
        kwargs["extra"] = dict(extra) if isinstance(extra, Mapping) else extra
        obj = cls(**kwargs)
        problems = obj.problems()
        if problems:
            raise ImageMetadataError("Bad image settings: " + "; ".join(problems) + ".")
        return obj


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_real(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _finite(v: object) -> float | None:
    """A finite real number as a float, else None (bools, NaN, infinities, huge ints)."""
    if not _is_real(v):
        return None
    try:
        f = float(v)  # type: ignore[arg-type]
    except OverflowError:
        return None
    return f if math.isfinite(f) else None


def _check(settings: ImageSettings) -> None:
    if not isinstance(settings, ImageSettings):
        raise InvalidParamsError(f"Expected ImageSettings, got {type(settings).__name__}.")
    problems = settings.problems()
    if problems:
        raise InvalidParamsError("Bad image settings: " + "; ".join(problems) + ".")


# --- sampler names -------------------------------------------------------------------------------


def a1111_sampler_name(name: str) -> str:
    """GenStudio's (or ComfyUI's / InvokeAI's) sampler name -> A1111's; unknown: unchanged."""
    if name in GENSTUDIO_TO_A1111:
        return GENSTUDIO_TO_A1111[name]
    return _OTHER_TO_A1111.get(name, name)


def genstudio_scheduler_name(name: str) -> str:
    """A1111's (or ComfyUI's / InvokeAI's / legacy ``k_*``) sampler name -> GenStudio's
    scheduler name when it is one of :data:`GENSTUDIO_SCHEDULERS`; otherwise unchanged."""
    if name in A1111_TO_GENSTUDIO:
        return A1111_TO_GENSTUDIO[name]
    if name in GENSTUDIO_TO_A1111:
        return name
    low = name.strip().casefold()
    for a1111, ours in A1111_TO_GENSTUDIO.items():
        if a1111.casefold() == low:
            return ours
    if low.startswith("k_"):
        low = low[2:]
    if low == "euler_ancestral":
        return "euler_a"
    return low if low in GENSTUDIO_TO_A1111 else name


# --- A1111 text ----------------------------------------------------------------------------------


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
    """The A1111 ``parameters`` text for these settings (``shared/FORMATS.md`` 1.1)."""
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


def _to_int(v: str, lo: int, hi: int) -> int | None:
    v = v.strip()
    if not _INT_RE.fullmatch(v):
        return None
    n = int(v)
    return n if lo <= n <= hi else None


def _to_float(v: Any) -> float | None:
    if isinstance(v, str) and len(v) <= 64:
        try:
            v = float(v.strip())
        except ValueError:
            return None
    return _finite(v)


def parse_a1111(text: str) -> ImageSettings:
    """A1111 ``parameters`` text -> settings (``source="a1111"``, or ``"genstudio"`` when its
    ``Version`` says so). Follows A1111's own reader; see the module docstring for what it
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
        done = True
        if k == "Steps":
            s.steps = _to_int(v, 1, MAX_STEPS)
            done = s.steps is not None
        elif k == "Sampler":
            base = v[: -len(" Karras")] if v.endswith(" Karras") else None
            if base in A1111_TO_GENSTUDIO and "Schedule type" not in raw:
                s.sampler = A1111_TO_GENSTUDIO[base]
                extra["Schedule type"] = "Karras"
            else:
                s.sampler = genstudio_scheduler_name(v) if v else None
        elif k == "CFG scale":
            s.cfg_scale = _to_float(v)
            done = s.cfg_scale is not None
        elif k == "Seed":
            s.seed = _to_int(v, SEED_MIN, SEED_MAX)
            done = s.seed is not None
        elif k == "Size":
            m = _SIZE_RE.fullmatch(v)
            w, h = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
            done = 1 <= w <= MAX_SIDE and 1 <= h <= MAX_SIDE
            if done:
                s.width, s.height = w, h
        elif k == "Model hash":
            s.model_hash = v or None
        elif k == "Model":
            s.model_name = v or None
        elif k == "Denoising strength":
            s.denoising_strength = _to_float(v)
            done = s.denoising_strength is not None
        elif k == "Clip skip":
            s.clip_skip = _to_int(v, 1, MAX_CLIP_SKIP)
            done = s.clip_skip is not None
        elif k == "Version" and v.startswith("genstudio"):
            s.source = "genstudio"
        else:
            done = False
        if not done:
            extra[k] = v
    s.extra = extra
    return s


def _has_params_line(text: str) -> bool:
    return bool(_split_params_line(text)[1])


# --- PNG chunks ----------------------------------------------------------------------------------


def _chunk(ctype: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + ctype + data + struct.pack(">I", zlib.crc32(ctype + data))


def _text_chunk(keyword: str, text: str) -> bytes:
    """What Pillow's ``PngInfo.add_text(keyword, text)`` writes: tEXt if Latin-1, else iTXt."""
    key = keyword.encode("latin-1")
    try:
        return _chunk(b"tEXt", key + b"\0" + text.encode("latin-1"))
    except UnicodeEncodeError:
        return _itxt_chunk(keyword, text)


def _itxt_chunk(keyword: str, text: str) -> bytes:
    """Uncompressed iTXt, empty language and translated keyword (Pillow's ``add_itxt``)."""
    return _chunk(b"iTXt", keyword.encode("latin-1") + b"\0\0\0\0\0" + text.encode("utf-8"))


def _inflate(data: bytes) -> bytes | None:
    d = zlib.decompressobj()
    try:
        out = d.decompress(data, MAX_TEXT_CHUNK_BYTES)
    except zlib.error:
        return None
    if d.unconsumed_tail or not d.eof:
        return None  # larger than the limit, or truncated
    return out


def _decode_text(ctype: bytes, body: bytes) -> str | None:
    """The text of a tEXt/zTXt/iTXt chunk body after its keyword and NUL; None if corrupt."""
    if ctype == b"tEXt":
        return body.decode("latin-1")
    if ctype == b"zTXt":
        if not body or body[0] != 0:
            return None
        raw = _inflate(body[1:])
        return None if raw is None else raw.decode("latin-1")
    # iTXt: flag, method, language\0, translated keyword\0, text
    if len(body) < 2 or body[0] not in (0, 1) or body[1] != 0:
        return None
    parts = body[2:].split(b"\0", 2)
    if len(parts) != 3:
        return None
    raw = parts[2] if body[0] == 0 else _inflate(parts[2])
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _walk_png_text(f: BinaryIO, wanted: frozenset[str] | None) -> dict[str, str]:
    """Text chunks of a PNG stream positioned after the signature: ``{keyword: text}`` (the
    first chunk of each keyword wins). Never reads pixel data; stops at IEND, a malformed chunk
    header or the end of the data; skips chunks with a bad CRC, over the limits or corrupt."""
    out: dict[str, str] = {}
    total = 0
    for _ in range(_MAX_CHUNKS):
        head = f.read(8)
        if len(head) < 8:
            break
        length, ctype = struct.unpack(">I4s", head)
        if length > 0x7FFFFFFF or not ctype.isalpha():
            break
        if ctype == b"IEND":
            break
        if ctype not in _TEXT_TYPES or length > MAX_TEXT_CHUNK_BYTES:
            f.seek(length + 4, io.SEEK_CUR)
            continue
        first = f.read(min(length, 80))
        key_end = first.find(b"\0")
        keyword = first[:key_end].decode("latin-1") if key_end > 0 else ""
        if (
            not keyword
            or keyword in out
            or (wanted is not None and keyword not in wanted)
            or total + length > MAX_TOTAL_TEXT_BYTES
        ):
            f.seek(length - len(first) + 4, io.SEEK_CUR)
            continue
        data = first + f.read(length - len(first))
        crc = f.read(4)
        if len(data) < length or len(crc) < 4:
            break  # truncated inside this chunk
        total += length
        if struct.unpack(">I", crc)[0] != zlib.crc32(ctype + data):
            continue
        text = _decode_text(ctype, data[key_end + 1 :])
        if text is not None:
            out[keyword] = text
    return out


def _split_png(png: bytes) -> list[tuple[bytes, bytes]]:
    """Every chunk of a well-formed PNG (CRCs checked), or InvalidParamsError."""
    if not png.startswith(_PNG_SIG):
        raise InvalidParamsError("Not a PNG image (the PNG signature is missing).")
    chunks: list[tuple[bytes, bytes]] = []
    pos = len(_PNG_SIG)
    while True:
        if pos + 12 > len(png):
            raise InvalidParamsError("The PNG image is truncated (no IEND chunk).")
        length, ctype = struct.unpack(">I4s", png[pos : pos + 8])
        end = pos + 8 + length
        if length > 0x7FFFFFFF or not ctype.isalpha() or end + 4 > len(png):
            raise InvalidParamsError("The PNG image is corrupt or truncated.")
        data = png[pos + 8 : end]
        if struct.unpack(">I", png[end : end + 4])[0] != zlib.crc32(ctype + data):
            raise InvalidParamsError(f"The PNG image is corrupt (bad CRC in {ctype!r}).")
        chunks.append((ctype, data))
        pos = end + 4
        if ctype == b"IEND":
            break
    if chunks[0][0] != b"IHDR" or not any(t == b"IDAT" for t, _ in chunks):
        raise InvalidParamsError("The PNG image is corrupt (no IHDR or no IDAT).")
    return chunks


def _png_bytes_of(image: Any) -> bytes:
    if isinstance(image, bytes | bytearray | memoryview):
        return bytes(image)
    from PIL import Image

    if not isinstance(image, Image.Image):
        if hasattr(image, "__array_interface__"):
            import numpy as np

            a = np.asarray(image)
            if (
                a.dtype != np.uint8
                or a.ndim not in (2, 3)
                or (a.ndim == 3 and a.shape[2] not in (3, 4))
            ):
                raise InvalidParamsError(
                    "Expected an (H, W), (H, W, 3) or (H, W, 4) uint8 array, "
                    f"got {a.dtype} {a.shape}."
                )
            image = Image.fromarray(np.ascontiguousarray(a))
        else:
            raise InvalidParamsError(
                f"Expected PNG bytes, a PIL image or a uint8 array, got {type(image).__name__}."
            )
    if image.mode not in _LOSSLESS_PNG_MODES:
        raise InvalidParamsError(
            f"Images of mode {image.mode} cannot be stored as a PNG without changing their pixels.",
            hint="Convert the image to RGB or RGBA first.",
        )
    buf = io.BytesIO()
    try:
        image.save(buf, format="PNG")
    except (OSError, ValueError, KeyError) as e:
        raise InvalidParamsError(
            f"This image (mode {image.mode}) cannot be stored as a PNG: {e}",
            hint="Convert it to RGB or RGBA first.",
        ) from None
    return buf.getvalue()


def png_with_metadata(
    image: bytes | Any,
    settings: ImageSettings,
    genstudio_json: Mapping[str, Any] | None = None,
) -> bytes:
    """PNG bytes with the A1111 ``parameters`` chunk and GenStudio's ``genstudio`` record.

    ``image``: PNG bytes (the pixel chunks are copied byte for byte), a PIL image or a uint8
    array (encoded losslessly by Pillow). ``genstudio_json``: the generator's record (generator,
    model id and sha256, params, post-processing chain, parent asset); its keys go at the top
    level of the record beside ``format``, ``version`` and ``settings``, which it may not use.
    """
    _check(settings)
    record: dict[str, Any] = {"format": GENSTUDIO_FORMAT, "version": GENSTUDIO_FORMAT_VERSION}
    if genstudio_json:
        if not isinstance(genstudio_json, Mapping):
            raise InvalidParamsError("The GenStudio record must be a JSON object (a dict).")
        reserved = sorted({"format", "version", "settings"} & set(genstudio_json))
        if reserved:
            raise InvalidParamsError(
                f"The GenStudio record may not set {', '.join(reserved)} (reserved keys)."
            )
        record.update(genstudio_json)
    record["settings"] = settings.to_dict()
    try:
        record_text = json.dumps(record, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise InvalidParamsError(f"The GenStudio record is not plain JSON: {e}") from None
    params_text = a1111_parameters(settings)

    chunks = _split_png(_png_bytes_of(image))
    ours = {A1111_KEYWORD.encode("latin-1"), GENSTUDIO_KEYWORD.encode("latin-1")}
    parts = [_PNG_SIG]
    inserted = False
    for ctype, data in chunks:
        if ctype in _TEXT_TYPES and data.split(b"\0", 1)[0] in ours:
            continue
        if ctype == b"IDAT" and not inserted:
            parts.append(_text_chunk(A1111_KEYWORD, params_text))
            parts.append(_itxt_chunk(GENSTUDIO_KEYWORD, record_text))
            inserted = True
        parts.append(_chunk(ctype, data))
    return b"".join(parts)


# --- reading -------------------------------------------------------------------------------------


def _open(source: Any) -> BinaryIO:
    if isinstance(source, bytes | bytearray | memoryview):
        return io.BytesIO(bytes(source))
    if isinstance(source, str | os.PathLike):
        try:
            # O_NONBLOCK: opening a FIFO must not block; fstat on the open descriptor: only
            # regular files are read (a FIFO or /dev/zero would block or never end)
            flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
            fd = os.open(source, flags | getattr(os, "O_BINARY", 0))
        except FileNotFoundError:
            raise ImageMetadataError(f"The image {os.fspath(source)} does not exist.") from None
        except PermissionError:
            raise ImageMetadataError(
                f"The image {os.fspath(source)} cannot be read (permission denied).",
                hint="Check the file's permissions.",
            ) from None
        except (OSError, ValueError) as e:  # ValueError: a NUL byte in the path
            raise ImageMetadataError(
                f"The image {os.fspath(source)!r} cannot be read: "
                f"{getattr(e, 'strerror', None) or e}"
            ) from None
        try:
            mode = os.fstat(fd).st_mode
        except OSError as e:
            os.close(fd)
            raise ImageMetadataError(
                f"The image {os.fspath(source)} cannot be read: {e.strerror or e}"
            ) from None
        if not stat.S_ISREG(mode):
            os.close(fd)
            what = "a folder" if stat.S_ISDIR(mode) else "not a regular file"
            raise ImageMetadataError(
                f"The image {os.fspath(source)} is {what}.",
                hint="Choose an image file saved on disk.",
            )
        return os.fdopen(fd, "rb")  # closed by the caller
    if hasattr(source, "read") and hasattr(source, "seek"):
        return source
    raise TypeError(f"Expected a path, bytes or a binary file, got {type(source).__name__}")


def _read_container(source: Any) -> tuple[dict[str, str], str | None]:
    """(PNG text chunks, EXIF UserComment text) of an image; both empty for anything else."""
    f = _open(source)
    try:
        try:
            head = f.read(12)
            if head.startswith(_PNG_SIG):
                f.seek(len(_PNG_SIG))
                return _walk_png_text(f, _KNOWN_KEYWORDS), None
            if head.startswith(b"\xff\xd8\xff") or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
                f.seek(0)
                return {}, _exif_user_comment(f)
        except OSError as e:
            raise ImageMetadataError(f"The image cannot be read: {e.strerror or e}") from None
        return {}, None
    finally:
        if f is not source:
            f.close()


def png_text_chunks(source: Any) -> dict[str, str]:
    """All text chunks (tEXt, zTXt, iTXt) of a PNG as ``{keyword: text}``, within the limits;
    ``{}`` for anything that is not a PNG. Errors as :func:`read_metadata`."""
    f = _open(source)
    try:
        if f.read(8) != _PNG_SIG:
            return {}
        return _walk_png_text(f, None)
    except OSError as e:
        raise ImageMetadataError(f"The image cannot be read: {e.strerror or e}") from None
    finally:
        if f is not source:
            f.close()


def _exif_user_comment(f: BinaryIO) -> str | None:
    from PIL import Image

    try:
        with Image.open(f, formats=["JPEG", "WEBP"]) as im:
            raw = im.getexif().get_ifd(0x8769).get(0x9286)
    except Exception:  # Pillow raises many kinds on hostile files; none of them is ours
        return None
    return _decode_user_comment(raw)


def _decode_user_comment(raw: Any) -> str | None:
    if isinstance(raw, str):
        return raw.rstrip("\0") or None
    if not isinstance(raw, bytes) or len(raw) <= 8 or len(raw) > MAX_TEXT_CHUNK_BYTES:
        return None
    prefix, body = raw[:8], raw[8:]
    if prefix == b"UNICODE\0":
        enc = "utf-16-be"
        if body[:2] == b"\xff\xfe":
            enc, body = "utf-16-le", body[2:]
        elif body[:2] == b"\xfe\xff":
            body = body[2:]
        text = body.decode(enc, errors="replace")
    elif prefix == b"ASCII\0\0\0":
        text = body.decode("ascii", errors="replace")
    elif prefix == b"\0" * 8:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text = body.decode("latin-1")
    else:
        return None
    return text.rstrip("\0") or None


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _genstudio_record(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    rec = _json(text)
    if (
        isinstance(rec, dict)
        and rec.get("format") == GENSTUDIO_FORMAT
        and rec.get("version") == GENSTUDIO_FORMAT_VERSION
    ):
        return rec
    return None


def _plausible_text(text: str | None) -> bool:
    return bool(text and text.strip()) and not _BAD_CONTROL_RE.search(text)


def _settings_from(texts: Mapping[str, str], user_comment: str | None) -> ImageSettings | None:
    rec = _genstudio_record(texts.get(GENSTUDIO_KEYWORD))
    if rec is not None:
        try:
            return ImageSettings.from_dict(rec.get("settings"))
        except ImageMetadataError:
            pass
    params = texts.get(A1111_KEYWORD)
    if _plausible_text(params) and len(params) <= MAX_A1111_CHARS:
        return parse_a1111(params)
    readers = (
        ("prompt", _parse_comfyui),
        ("invokeai_metadata", _parse_invokeai),
        ("sd-metadata", _parse_invokeai_sd_metadata),
        ("Dream", _parse_invokeai_dream),
    )
    for keyword, reader in readers:
        text = texts.get(keyword)
        if text:
            try:
                got = reader(text)
            except (RecursionError, ArithmeticError, ValueError, TypeError, LookupError):
                got = None  # defensive: the readers check types, hostile JSON gets no crash
            if got is not None:
                return got
    if (
        _plausible_text(user_comment)
        and len(user_comment) <= MAX_A1111_CHARS
        and _has_params_line(user_comment)
    ):
        return parse_a1111(user_comment)
    return None


def read_metadata(source: Any) -> ImageSettings | None:
    """Settings stored in an image (path, bytes or binary file): GenStudio's record, A1111
    ``parameters``, ComfyUI, InvokeAI, or A1111 EXIF in JPEG/WebP; ``None`` if none can be
    read. See the module docstring for the order, what is supported and the errors."""
    texts, user_comment = _read_container(source)
    return _settings_from(texts, user_comment)


def read_genstudio_record(source: Any) -> dict[str, Any] | None:
    """GenStudio's full lossless record of a PNG it wrote (``format``, ``version``, the
    generator's keys and ``settings``), or ``None``. Errors as :func:`read_metadata`."""
    texts, _ = _read_container(source)
    return _genstudio_record(texts.get(GENSTUDIO_KEYWORD))


# --- ComfyUI -------------------------------------------------------------------------------------

_COMFY_SAMPLERS = ("KSampler", "KSamplerAdvanced")
_COMFY_TEXT_KEYS = ("text", "text_g", "string", "value", "prompt")
_COMFY_COND_KEYS = ("conditioning", "conditioning_to", "conditioning_1", "conditioning_from")
_COMFY_VALUE_KEYS = ("value", "seed", "noise_seed", "int", "float", "number", "string", "text")


class _Graph:
    def __init__(self, graph: Mapping[Any, Any]) -> None:
        self.nodes: dict[str, dict[str, Any]] = {}
        for nid, node in graph.items():
            if (
                isinstance(node, dict)
                and isinstance(node.get("inputs"), dict)
                and isinstance(node.get("class_type"), str)
            ):
                self.nodes[str(nid)] = node

    def link(self, value: Any) -> str | None:
        """The node id a ``[node_id, slot]`` input points to, if that node exists."""
        if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str | int):
            nid = str(value[0])
            return nid if nid in self.nodes else None
        return None

    def inputs(self, nid: str) -> dict[str, Any]:
        return self.nodes[nid]["inputs"]

    def value(self, v: Any, seen: set[str] | None = None) -> Any:
        """A widget value, following links to primitive nodes (each node visited once)."""
        nid = self.link(v)
        if nid is None:
            return v if isinstance(v, str | int | float) and not isinstance(v, bool) else None
        seen = set() if seen is None else seen
        if nid in seen or len(seen) > _MAX_GRAPH_DEPTH:
            return None
        seen.add(nid)
        inputs = self.inputs(nid)
        for key in _COMFY_VALUE_KEYS:
            if key in inputs:
                got = self.value(inputs[key], seen)
                if got is not None:
                    return got
        return None

    def text(self, nid: str | None, side: str, seen: set[str]) -> str | None:
        """Prompt text reached from a conditioning input (``side``: positive/negative)."""
        if nid is None or nid in seen or len(seen) > _MAX_GRAPH_DEPTH:
            return None
        seen.add(nid)
        inputs = self.inputs(nid)
        for key in _COMFY_TEXT_KEYS:
            v = inputs.get(key)
            if isinstance(v, str):
                return v
            got = self.text(self.link(v), side, seen)
            if got is not None:
                return got
        for key in (side, *_COMFY_COND_KEYS):
            got = self.text(self.link(inputs.get(key)), side, seen)
            if got is not None:
                return got
        return None

    def clip_skip(self, nid: str | None, seen: set[str]) -> int | None:
        """From a text encoder along its ``clip`` inputs to a CLIPSetLastLayer."""
        if nid is None or nid in seen or len(seen) > _MAX_GRAPH_DEPTH:
            return None
        seen.add(nid)
        node = self.nodes[nid]
        if node["class_type"] == "CLIPSetLastLayer":
            v = self.value(node["inputs"].get("stop_at_clip_layer"))
            return -v if _is_int(v) and -MAX_CLIP_SKIP <= v <= -1 else None
        for key in ("clip", *_COMFY_COND_KEYS):
            got = self.clip_skip(self.link(node["inputs"].get(key)), seen)
            if got is not None:
                return got
        return None

    def text_node(self, nid: str | None, side: str, seen: set[str]) -> str | None:
        """The node that holds the prompt text (for clip skip), like :meth:`text`."""
        if nid is None or nid in seen or len(seen) > _MAX_GRAPH_DEPTH:
            return None
        seen.add(nid)
        inputs = self.inputs(nid)
        if any(k in inputs for k in _COMFY_TEXT_KEYS) and "clip" in inputs:
            return nid
        for key in (side, *_COMFY_COND_KEYS):
            got = self.text_node(self.link(inputs.get(key)), side, seen)
            if got is not None:
                return got
        return None

    def model(self, nid: str | None, seen: set[str]) -> str | None:
        if nid is None or nid in seen or len(seen) > _MAX_GRAPH_DEPTH:
            return None
        seen.add(nid)
        inputs = self.inputs(nid)
        for key in ("ckpt_name", "unet_name"):
            v = self.value(inputs.get(key))
            if isinstance(v, str) and v:
                return v
        return self.model(self.link(inputs.get("model")), seen)

    def size(self, nid: str | None, seen: set[str]) -> tuple[int, int] | None:
        if nid is None or nid in seen or len(seen) > _MAX_GRAPH_DEPTH:
            return None
        seen.add(nid)
        inputs = self.inputs(nid)
        w, h = self.value(inputs.get("width")), self.value(inputs.get("height"))
        if _is_int(w) and _is_int(h):
            return (w, h) if 1 <= w <= MAX_SIDE and 1 <= h <= MAX_SIDE else None
        return self.size(self.link(inputs.get("samples")), seen)


def _comfy_sort_key(nid: str) -> tuple[int, int, str]:
    # ASCII digits only: str.isdigit() is also true for "²" and other digits int() refuses,
    # and a very long digit string is past int()'s limit
    if nid.isascii() and nid.isdigit() and len(nid) <= 18:
        return (0, int(nid), "")
    return (1, 0, nid)


def _parse_comfyui(text: str) -> ImageSettings | None:
    graph = _json(text)
    if not isinstance(graph, dict):
        return None
    g = _Graph(graph)
    samplers = sorted(
        (nid for nid, n in g.nodes.items() if n["class_type"] in _COMFY_SAMPLERS),
        key=_comfy_sort_key,
    )
    if not samplers:
        return None
    first_pass = [
        nid for nid in samplers if g.size(g.link(g.inputs(nid).get("latent_image")), set())
    ]
    nid = (first_pass or samplers)[0]
    inputs = g.inputs(nid)

    s = ImageSettings(source="comfyui")
    pos = g.link(inputs.get("positive"))
    s.prompt = g.text(pos, "positive", set()) or ""
    s.negative_prompt = g.text(g.link(inputs.get("negative")), "negative", set()) or ""
    seed = g.value(inputs.get("seed", inputs.get("noise_seed")))
    s.seed = seed if _is_int(seed) and SEED_MIN <= seed <= SEED_MAX else None
    steps = g.value(inputs.get("steps"))
    s.steps = steps if _is_int(steps) and 1 <= steps <= MAX_STEPS else None
    s.cfg_scale = _to_float(g.value(inputs.get("cfg")))
    name = g.value(inputs.get("sampler_name"))
    s.sampler = genstudio_scheduler_name(name) if isinstance(name, str) and name else None
    scheduler = g.value(inputs.get("scheduler"))
    if isinstance(scheduler, str) and scheduler:
        s.extra["Schedule type"] = _COMFY_SCHEDULE_TYPES.get(scheduler, scheduler)
    denoise = _to_float(g.value(inputs.get("denoise")))
    if denoise is not None and 0 <= denoise < 1:
        s.denoising_strength = denoise
    size = g.size(g.link(inputs.get("latent_image")), set())
    if size:
        s.width, s.height = size
    s.model_name = g.model(g.link(inputs.get("model")), set())
    s.clip_skip = g.clip_skip(g.text_node(pos, "positive", set()), set())
    return s


# --- InvokeAI ------------------------------------------------------------------------------------


def _str_or_none(v: Any) -> str | None:
    return v if isinstance(v, str) and v else None


def _int_in(v: Any, lo: int, hi: int) -> int | None:
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return v if _is_int(v) and lo <= v <= hi else None


def _apply_invoke_scheduler(s: ImageSettings, name: Any) -> None:
    if not isinstance(name, str) or not name:
        return
    base = name[:-2] if name.endswith("_k") else None
    if base is not None and genstudio_scheduler_name(base) in GENSTUDIO_SCHEDULERS:
        s.sampler = genstudio_scheduler_name(base)
        s.extra["Schedule type"] = "Karras"
    else:
        s.sampler = genstudio_scheduler_name(name)


def _parse_invokeai(text: str) -> ImageSettings | None:
    meta = _json(text)
    if not isinstance(meta, dict):
        return None
    known = ("positive_prompt", "negative_prompt", "seed", "steps", "cfg_scale", "scheduler")
    if not any(k in meta for k in known):
        return None
    s = ImageSettings(source="invokeai")
    s.prompt = meta.get("positive_prompt") if isinstance(meta.get("positive_prompt"), str) else ""
    neg = meta.get("negative_prompt")
    s.negative_prompt = neg if isinstance(neg, str) else ""
    s.seed = _int_in(meta.get("seed"), SEED_MIN, SEED_MAX)
    s.steps = _int_in(meta.get("steps"), 1, MAX_STEPS)
    s.cfg_scale = _to_float(meta.get("cfg_scale"))
    s.width = _int_in(meta.get("width"), 1, MAX_SIDE)
    s.height = _int_in(meta.get("height"), 1, MAX_SIDE)
    _apply_invoke_scheduler(s, meta.get("scheduler"))
    clip_skip = _int_in(meta.get("clip_skip"), 0, MAX_CLIP_SKIP - 1)
    if clip_skip:  # InvokeAI counts skipped layers (0 = none); A1111's 1 = none
        s.clip_skip = clip_skip + 1
    strength = _to_float(meta.get("strength"))
    if strength is not None and meta.get("generation_mode", "img2img") != "txt2img":
        s.denoising_strength = strength
    model = meta.get("model")
    if isinstance(model, dict):
        s.model_name = _str_or_none(model.get("model_name")) or _str_or_none(model.get("name"))
        s.model_hash = _str_or_none(model.get("hash"))
    elif isinstance(model, str):
        s.model_name = model or None
    return s


def _split_bracket_negative(prompt: str) -> tuple[str, str]:
    """InvokeAI 2.x: ``[bracketed]`` parts of a prompt are the negative prompt."""
    negatives = [m.strip(" ,") for m in re.findall(r"\[([^\[\]]*)\]", prompt)]
    positive = re.sub(r"\s*\[[^\[\]]*\]\s*", " ", prompt)
    positive = re.sub(r"[ \t]+", " ", positive).strip(" ,")
    return positive, ", ".join(n for n in negatives if n)


def _parse_invokeai_sd_metadata(text: str) -> ImageSettings | None:
    meta = _json(text)
    if not isinstance(meta, dict) or not isinstance(meta.get("image"), dict):
        return None
    image = meta["image"]
    s = ImageSettings(source="invokeai")
    prompt = image.get("prompt")
    if isinstance(prompt, list):  # [{"prompt": ..., "weight": ...}]: the first one
        prompt = next(
            (
                p["prompt"]
                for p in prompt
                if isinstance(p, dict) and isinstance(p.get("prompt"), str)
            ),
            None,
        )
    if isinstance(prompt, str):
        s.prompt, s.negative_prompt = _split_bracket_negative(prompt)
    s.seed = _int_in(image.get("seed"), SEED_MIN, SEED_MAX)
    s.steps = _int_in(image.get("steps"), 1, MAX_STEPS)
    s.cfg_scale = _to_float(image.get("cfg_scale"))
    s.width = _int_in(image.get("width"), 1, MAX_SIDE)
    s.height = _int_in(image.get("height"), 1, MAX_SIDE)
    _apply_invoke_scheduler(s, image.get("sampler"))
    if image.get("type") == "img2img":
        s.denoising_strength = _to_float(image.get("strength"))
    s.model_name = _str_or_none(meta.get("model_weights"))
    s.model_hash = _str_or_none(meta.get("model_hash"))
    return s


_DREAM_RE = re.compile(r'^"(.*?)"(.*)$', re.DOTALL)


def _parse_invokeai_dream(text: str) -> ImageSettings | None:
    m = _DREAM_RE.match(text.strip())
    if not m or len(text) > MAX_A1111_CHARS:
        return None
    prompt, args = m.groups()
    opts = dict(re.findall(r"\s-(\w+)\s+(\S+)", args))
    s = ImageSettings(source="invokeai")
    s.prompt, s.negative_prompt = _split_bracket_negative(prompt)
    s.steps = _to_int(opts.get("s", ""), 1, MAX_STEPS)
    s.seed = _to_int(opts.get("S", ""), SEED_MIN, SEED_MAX)
    s.width = _to_int(opts.get("W", ""), 1, MAX_SIDE)
    s.height = _to_int(opts.get("H", ""), 1, MAX_SIDE)
    s.cfg_scale = _to_float(opts.get("C"))
    _apply_invoke_scheduler(s, opts.get("A"))
    if "f" in opts:
        s.denoising_strength = _to_float(opts["f"])
    return s


__all__ = [
    "A1111_KEYWORD",
    "A1111_TO_GENSTUDIO",
    "GENSTUDIO_FORMAT",
    "GENSTUDIO_FORMAT_VERSION",
    "GENSTUDIO_KEYWORD",
    "GENSTUDIO_SCHEDULERS",
    "GENSTUDIO_TO_A1111",
    "ImageMetadataError",
    "ImageSettings",
    "a1111_parameters",
    "a1111_sampler_name",
    "genstudio_scheduler_name",
    "parse_a1111",
    "png_text_chunks",
    "png_with_metadata",
    "read_genstudio_record",
    "read_metadata",
]
