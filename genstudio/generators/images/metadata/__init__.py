"""Image generation settings in image files: write ours, read ours and other tools'.

Qt-free and torch-free; stdlib only, Pillow (imported lazily) for encoding images given as
pixels and for EXIF in JPEG/WebP. One module per format, this package re-exports the API:

* :mod:`.common` - :class:`ImageSettings`, :class:`ImageMetadataError`, the limits, value checks;
* :mod:`.samplers` - sampler names across tools; :mod:`.png` - PNG chunks;
* :mod:`.a1111` - A1111 ``parameters`` text; :mod:`.record` - GenStudio's JSON record and
  :func:`png_with_metadata`; :mod:`.comfyui`, :mod:`.invokeai`, :mod:`.exif` (JPEG/WebP);
* :mod:`.reader` - :func:`read_metadata` and :func:`read_genstudio_record`.

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
3. ComfyUI: the ``prompt`` chunk (API-format graph JSON; what is supported: :mod:`.comfyui`);
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
  (longer: :class:`ImageMetadataError`); what it does with text it cannot fully read, and the
  A1111 writing quirks honoured: :mod:`.a1111`.
* :func:`png_with_metadata` and :func:`a1111_parameters` raise
  :class:`~genstudio.core.errors.InvalidParamsError` for settings of the wrong type or out of
  range, input that is not a PNG (or an image mode PNG cannot hold), and a record that is not
  JSON or uses a reserved key.
"""

from __future__ import annotations

# ``X as X``: re-exported though not in ``__all__`` - the limits and SOURCES (named in the
# docstrings) and the internals that tests and the fuzz campaigns reach through this package.
from genstudio.generators.images.metadata.a1111 import (
    A1111_KEYWORD,
    a1111_parameters,
    parse_a1111,
)
from genstudio.generators.images.metadata.comfyui import _parse_comfyui as _parse_comfyui
from genstudio.generators.images.metadata.common import MAX_A1111_CHARS as MAX_A1111_CHARS
from genstudio.generators.images.metadata.common import MAX_CLIP_SKIP as MAX_CLIP_SKIP
from genstudio.generators.images.metadata.common import (
    MAX_PARAMS_LINE_CHARS as MAX_PARAMS_LINE_CHARS,
)
from genstudio.generators.images.metadata.common import MAX_SIDE as MAX_SIDE
from genstudio.generators.images.metadata.common import MAX_STEPS as MAX_STEPS
from genstudio.generators.images.metadata.common import (
    MAX_TEXT_CHUNK_BYTES as MAX_TEXT_CHUNK_BYTES,
)
from genstudio.generators.images.metadata.common import (
    MAX_TOTAL_TEXT_BYTES as MAX_TOTAL_TEXT_BYTES,
)
from genstudio.generators.images.metadata.common import SEED_MAX as SEED_MAX
from genstudio.generators.images.metadata.common import SEED_MIN as SEED_MIN
from genstudio.generators.images.metadata.common import SOURCES as SOURCES
from genstudio.generators.images.metadata.common import ImageMetadataError, ImageSettings
from genstudio.generators.images.metadata.invokeai import (
    _parse_invokeai as _parse_invokeai,
)
from genstudio.generators.images.metadata.invokeai import (
    _parse_invokeai_dream as _parse_invokeai_dream,
)
from genstudio.generators.images.metadata.invokeai import (
    _parse_invokeai_sd_metadata as _parse_invokeai_sd_metadata,
)
from genstudio.generators.images.metadata.png import _TEXT_TYPES as _TEXT_TYPES
from genstudio.generators.images.metadata.png import _itxt_chunk as _itxt_chunk
from genstudio.generators.images.metadata.png import _text_chunk as _text_chunk
from genstudio.generators.images.metadata.png import png_text_chunks
from genstudio.generators.images.metadata.reader import read_genstudio_record, read_metadata
from genstudio.generators.images.metadata.record import (
    GENSTUDIO_FORMAT,
    GENSTUDIO_FORMAT_VERSION,
    GENSTUDIO_KEYWORD,
    png_with_metadata,
)
from genstudio.generators.images.metadata.samplers import (
    A1111_TO_GENSTUDIO,
    GENSTUDIO_SCHEDULERS,
    GENSTUDIO_TO_A1111,
    a1111_sampler_name,
    genstudio_scheduler_name,
)

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
