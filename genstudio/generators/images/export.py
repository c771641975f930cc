"""Getting images out of a project: readable file names, nearest-neighbour scale, a pixel-art
version, the generation settings kept. Qt-free (the Images mode and the gallery call it; the
CLI can), numpy and Pillow imported inside the functions that need them.

* **Names** come from the prompt: :func:`export_stem` gives ``red-apple_seed3`` (the prompt
  slugged by :func:`slug`: letters and digits of any script, the rest ``-``, at most
  :data:`MAX_SLUG_CHARS`, cut at a word; nothing Windows refuses: ``<>:"/\\|?*``, control
  characters, a trailing dot or space, ``CON``/``NUL``/``COM1``...). A scaled file ends in
  ``_x4`` and the pixel-art version in ``_pixel`` (``red-apple_seed3_pixel_x4.png``), as the
  sprite exports do. An existing file is never overwritten: ``_2``, ``_3``, ... are added.
* **Scale** (:data:`SCALES`) is nearest neighbour: every pixel becomes a ``k x k`` block, which
  is what pixel-art and icon users want (no blur). Scale 1 without the pixel-art version copies
  the file's bytes unchanged.
* **Pixel art**: the generator's own post-process, :func:`pixelart.pixelate` (grid, colours,
  outline), then the scale.
* **Metadata**: a PNG's text chunks (A1111 ``parameters``, GenStudio's ``genstudio`` record,
  any other tool's) and its colour-space chunks (``sRGB``, ``gAMA``, ``cHRM``, ``iCCP``) are
  copied byte for byte before the new pixel data, so sd-parsers, A1111 and "reuse these
  settings" read the same prompt, seed and steps. The ``parameters`` text keeps the
  generation's size (as A1111's own upscalers do); GenStudio's record gets the export's steps
  appended to its ``postprocess`` chain (``"by": "export"``).
* **Writes** are atomic and never overwrite: each file is written to a temp file in the target
  folder (fsynced), then hard-linked to its free name (which fails if the name was taken in the
  meantime; where the disk has no hard links: checked, then renamed). An export that fails
  half way removes the files it had made, so nothing partial is left; a folder that cannot be
  created or written is a :class:`GenStudioError` that says so.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genstudio.core import atomic
from genstudio.core.errors import GenStudioError, InvalidParamsError

#: nearest-neighbour factors offered
SCALES = (1, 2, 4, 8)
#: the longest slug of a prompt in a file name (characters)
MAX_SLUG_CHARS = 48
#: the largest exported image (pixels): an 8192 x 8192 RGBA image is 256 MiB in memory
MAX_EXPORT_PIXELS = 8192 * 8192
#: the pixel-art version's grid and colour ranges (those of ``ImageParams``' fields)
GRID_RANGE = (8, 256)
COLORS_RANGE = (2, 256)
#: a PNG's chunks that say how to read its colours (copied with the text chunks)
_COLOUR_CHUNKS = (b"sRGB", b"gAMA", b"cHRM", b"iCCP")
_WINDOWS_RESERVED = frozenset(
    {"con", "prn", "aux", "nul"}
    | {f"com{i}" for i in range(1, 10)}
    | {f"lpt{i}" for i in range(1, 10)}
)
_MAX_COLLISIONS = 10_000


# --- names -------------------------------------------------------------------------------------


def slug(text: str, max_chars: int = MAX_SLUG_CHARS) -> str:
    """``text`` as a file-name part: lower case, letters and digits of any script, ``-``
    between words, at most ``max_chars`` (cut at a word when one ends in the second half);
    ``""`` when nothing is left."""
    t = unicodedata.normalize("NFKC", str(text)).casefold()
    # \w is letters, digits and "_" of every script; "_" separates the seed, so it goes too
    t = re.sub(r"[\W_]+", "-", t).strip("-")
    if len(t) > max_chars:
        cut = t[: max_chars + 1]
        at = cut.rfind("-")
        t = cut[:at] if at >= max_chars // 2 else t[:max_chars]
        t = t.strip("-")
    if t.split(".", 1)[0] in _WINDOWS_RESERVED:
        t += "-image"
    return t


def export_stem(prompt: str, seed: int | None = None, fallback: str = "image") -> str:
    """``red-apple_seed3``: the prompt's slug and the seed (``fallback`` without a prompt);
    ``<lora:...>`` tags are not part of the name."""
    prompt = re.sub(r"<lora:[^<>]*>", " ", prompt or "", flags=re.IGNORECASE)
    s = slug(prompt) or slug(fallback) or "image"
    return f"{s}_seed{seed}" if seed is not None else s


def safe_stem(stem: str, max_chars: int = 2 * MAX_SLUG_CHARS) -> str:
    """A name given as it is (``melody-pop-3``, ``red-apple_seed3``) made safe on every disk:
    no path separators, characters Windows refuses or control characters (each becomes
    ``-``), no leading or trailing dots and spaces, not a reserved device name, at most
    ``max_chars``; ``""`` when nothing is left."""
    t = unicodedata.normalize("NFKC", str(stem))
    t = re.sub(r'[<>:"/\\|?*\x00-\x1f\x7f]+', "-", t)[:max_chars].strip(" .")
    if t.split(".", 1)[0].casefold() in _WINDOWS_RESERVED:
        t += "-file"
    return t


def check_scale(scale: Any) -> int:
    if isinstance(scale, bool) or not isinstance(scale, int) or scale not in SCALES:
        raise InvalidParamsError(
            f"Scale {scale!r} is not offered.", hint=f"Choose one of {', '.join(map(str, SCALES))}."
        )
    return scale


def _check_range(value: Any, name: str, lo_hi: tuple[int, int]) -> int:
    lo, hi = lo_hi
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise InvalidParamsError(f"The pixel-art {name} must be {lo}..{hi}, got {value!r}.")
    return value


@dataclass(frozen=True)
class ExportOptions:
    """How images are exported: nearest-neighbour ``scale``; ``pixel_art``: also write a
    pixel-art version (``pixelart.pixelate`` with ``grid``, ``colors`` and ``outline``)."""

    scale: int = 1
    pixel_art: bool = False
    grid: int = 32
    colors: int = 16
    outline: bool = False

    def check(self) -> ExportOptions:
        check_scale(self.scale)
        if self.pixel_art:
            _check_range(self.grid, "grid", GRID_RANGE)
            _check_range(self.colors, "colour count", COLORS_RANGE)
        return self

    def stems(self, stem: str) -> list[str]:
        """The stems written for one image: the image, then its pixel-art version."""
        x = f"_x{self.scale}" if self.scale > 1 else ""
        return [f"{stem}{x}"] + ([f"{stem}_pixel{x}"] if self.pixel_art else [])


@dataclass(frozen=True)
class ImageToExport:
    """One image file and what names it: its prompt and seed (``stem``: a chosen name)."""

    path: Path
    prompt: str = ""
    seed: int | None = None
    stem: str = ""

    def name_stem(self) -> str:
        return safe_stem(self.stem) or export_stem(self.prompt, self.seed)


def planned_names(items: Iterable[ImageToExport], options: ExportOptions) -> list[str]:
    """The file names an export aims at (before ``_2``, ``_3`` for names that are taken)."""
    out = []
    for it in items:
        ext = _out_ext(it.path, options)
        out += [f"{s}{ext}" for s in options.stems(it.name_stem())]
    return out


# --- writing without overwriting ---------------------------------------------------------------


def ensure_folder(folder: str | os.PathLike[str]) -> Path:
    """``folder``, created when missing; GenStudioError when it cannot be made or written."""
    from genstudio.core.folder import ensure_export_dir

    if not str(folder).strip():
        raise GenStudioError("Choose a folder to export to.")
    return ensure_export_dir(folder)


def _place(tmp: Path, path: Path) -> bool:
    """Move the finished temp file ``tmp`` to ``path`` unless ``path`` exists (False)."""
    try:
        os.link(tmp, path)  # atomic, and fails when the name is taken: never overwrites
    except FileExistsError:
        return False
    except OSError:  # a disk without hard links (FAT, some network shares)
        if os.path.lexists(path):
            return False
        try:
            if os.name == "nt":
                os.rename(tmp, path)  # refuses an existing name on Windows
            else:
                os.replace(tmp, path)
        except FileExistsError:
            return False
        except OSError as e:
            raise atomic.write_error(path, e) from e
        return True
    with contextlib.suppress(OSError):
        os.unlink(tmp)
    return True


def write_new_files(
    folder: str | os.PathLike[str], stem: str, parts: Sequence[tuple[str, bytes]]
) -> list[Path]:
    """Write ``<stem><suffix>`` for every ``(suffix, data)`` of ``parts`` into ``folder``
    (e.g. ``(".png", png), (".CREDITS.txt", text)``), all under the first stem of ``stem``,
    ``stem_2``, ``stem_3``, ... whose names are all free. Never overwrites a file; on an error
    nothing of this call is left. Returns the paths written, in the order of ``parts``."""
    out = Path(folder)
    if not parts:
        return []
    for n in range(1, _MAX_COLLISIONS + 1):
        base = stem if n == 1 else f"{stem}_{n}"
        paths = [out / f"{base}{suffix}" for suffix, _ in parts]
        if any(os.path.lexists(p) for p in paths):
            continue
        done: list[Path] = []
        try:
            for p, (_suffix, data) in zip(paths, parts, strict=True):
                tmp = atomic.write_temp(p, data)
                try:
                    placed = _place(tmp, p)
                finally:
                    with contextlib.suppress(OSError):
                        tmp.unlink()
                if not placed:  # taken since the check: undo and try the next number
                    break
                done.append(p)
        except BaseException:
            _remove(done)
            raise
        if len(done) == len(paths):
            atomic._fsync_dir(out)
            return done
        _remove(done)
    raise GenStudioError(f"Too many files named {stem}* in {out}.", hint="Choose another folder.")


def _remove(paths: Iterable[Path]) -> None:
    for p in paths:
        with contextlib.suppress(OSError):
            p.unlink()


# --- pixels and PNG chunks ---------------------------------------------------------------------


def scale_nearest(rgba: Any, factor: int) -> Any:
    """Every pixel of an ``(H, W, C)`` array as a ``factor x factor`` block."""
    import numpy as np

    check_scale(factor)
    a = np.asarray(rgba)
    if factor == 1:
        return a
    return np.repeat(np.repeat(a, factor, axis=0), factor, axis=1)


def _out_ext(path: Path, options: ExportOptions) -> str:
    """A copy keeps the file's own extension; anything re-encoded is a PNG."""
    if options.scale == 1 and not options.pixel_art:
        return path.suffix.lower() or ".png"
    return ".png"


def _decode(data: bytes, label: str) -> Any:
    """``(H, W, 4) uint8`` pixels through the product's one image opener (format allow-list,
    pixel limit from the header)."""
    from genstudio.core.safeimage import open_image, pil_to_rgba

    return pil_to_rgba(open_image(data, label=label))


def _encode_png(rgba: Any) -> bytes:
    import numpy as np
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgba, dtype=np.uint8), "RGBA").save(buf, "PNG")
    return buf.getvalue()


def _with_source_chunks(png: bytes, source: bytes, steps: list[dict[str, Any]]) -> bytes:
    """``png`` (our fresh encoding) with ``source``'s text and colour chunks before its first
    IDAT; the GenStudio record's ``postprocess`` gets ``steps``. A source that is not a
    well-formed PNG gives no chunks."""
    import json

    from genstudio.generators.images.metadata.png import (
        _PNG_SIG,
        _TEXT_TYPES,
        _chunk,
        _decode_text,
        _itxt_chunk,
        _split_png,
    )
    from genstudio.generators.images.metadata.record import GENSTUDIO_KEYWORD, _genstudio_record

    try:
        src_chunks = _split_png(source)
    except InvalidParamsError:
        src_chunks = []
    kept: list[bytes] = []
    ours = GENSTUDIO_KEYWORD.encode("latin-1")
    for ctype, data in src_chunks:
        if ctype in _TEXT_TYPES:
            key, _, body = data.partition(b"\0")
            rec = _genstudio_record(_decode_text(ctype, body)) if key == ours else None
            if rec is not None and steps:
                chain = rec.get("postprocess")
                rec["postprocess"] = [*(chain if isinstance(chain, list) else []), *steps]
                text = json.dumps(rec, ensure_ascii=False, allow_nan=False)
                kept.append(_itxt_chunk(GENSTUDIO_KEYWORD, text))
            else:
                kept.append(_chunk(ctype, data))
        elif ctype in _COLOUR_CHUNKS:
            kept.append(_chunk(ctype, data))
    parts = [_PNG_SIG]
    inserted = False
    for ctype, data in _split_png(png):
        if ctype in _TEXT_TYPES or ctype in _COLOUR_CHUNKS:
            continue  # the source's own say what the image is
        if ctype == b"IDAT" and not inserted:
            parts += kept
            inserted = True
        parts.append(_chunk(ctype, data))
    return b"".join(parts)


def pixel_art_version(rgba: Any, options: ExportOptions) -> tuple[Any, dict[str, Any]]:
    """The generator's pixel-art post-process of ``rgba``; (pixels, the step for the record)."""
    from genstudio.generators.images import pixelart

    res = pixelart.pixelate(rgba, grid=options.grid, colors=options.colors, outline=options.outline)
    step = {
        "step": "pixel_art",
        "grid": options.grid,
        "colors": int(len(res.palette)),
        "outline": options.outline,
        "by": "export",
    }
    return res.image, step


def export_bytes(source: bytes, options: ExportOptions, *, label: str = "The image") -> list[bytes]:
    """The files one image becomes (the image, then its pixel-art version when asked), as
    bytes; see the module docstring for what is kept."""
    options.check()
    if options.scale == 1 and not options.pixel_art:
        return [source]
    rgba = _decode(source, label)
    versions: list[tuple[Any, list[dict[str, Any]]]] = [(rgba, [])]
    if options.pixel_art:
        pix, step = pixel_art_version(rgba, options)
        versions.append((pix, [step]))
    out = []
    for pixels, steps in versions:
        h, w = pixels.shape[:2]
        s = options.scale
        if w * h * s * s > MAX_EXPORT_PIXELS:
            side = int(MAX_EXPORT_PIXELS**0.5)
            raise InvalidParamsError(
                f"{label} at x{s} would be {w * s}x{h * s} pixels, more than {side}x{side}.",
                hint="Choose a smaller scale.",
            )
        if s > 1:
            pixels = scale_nearest(pixels, s)
            steps = [*steps, {"step": "upscale", "factor": s, "method": "nearest", "by": "export"}]
        out.append(_with_source_chunks(_encode_png(pixels), source, steps))
    return out


def export_images(
    items: Iterable[ImageToExport],
    folder: str | os.PathLike[str],
    options: ExportOptions | None = None,
) -> list[Path]:
    """Export every image into ``folder`` (created when missing); returns the files written.
    All or nothing: on any error the files this call made are removed again."""
    from genstudio.core.safeimage import MAX_IMAGE_FILE_BYTES

    items = list(items)
    options = (options or ExportOptions()).check()
    out = ensure_folder(folder)
    written: list[Path] = []
    try:
        for it in items:
            data = atomic.read_file_bytes(
                it.path, what="image file", error=GenStudioError, max_bytes=MAX_IMAGE_FILE_BYTES
            )
            files = export_bytes(data, options, label=f"The image {Path(it.path).name}")
            ext = _out_ext(Path(it.path), options)
            for stem, blob in zip(options.stems(it.name_stem()), files, strict=True):
                written += write_new_files(out, stem, [(ext, blob)])
    except BaseException:
        _remove(written)
        raise
    return written


def copy_file(
    src: str | os.PathLike[str],
    folder: str | os.PathLike[str],
    stem: str,
    extras: Sequence[tuple[str, bytes]] = (),
) -> list[Path]:
    """Copy any asset file into ``folder`` as ``<stem><its extension>`` (never overwriting:
    ``_2``, ...), with ``extras`` beside it under the same stem (``(".CREDITS.txt", text)``).
    Returns the paths written, the copy first."""
    src = Path(src)
    out = ensure_folder(folder)
    data = atomic.read_file_bytes(src, what="asset file", error=GenStudioError)
    return write_new_files(out, safe_stem(stem) or "asset", [(src.suffix.lower(), data), *extras])
