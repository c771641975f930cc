"""Writing rendered audio to files: WAV (16-bit PCM, stdlib ``wave``), FLAC/OGG optionally;
reading PCM WAV files back (:func:`read_wav`).

Every file is written atomically (:mod:`genstudio.core.atomic`): a reader, or a crash, never
sees half a file. Float audio is clipped to [-1, 1] before conversion (NaN/inf become silence),
so a hot mix never wraps around into loud crackles; no dither is applied.

:func:`read_wav` reads a user's (or an asset's) WAV through the one reader for user files
(:func:`genstudio.core.atomic.read_file_bytes`: regular files only, the byte cap
:data:`MAX_READ_WAV_BYTES` enforced while reading) and refuses, with an
:class:`InvalidParamsError` naming the file, anything that is not 8/16/24/32-bit integer PCM
with 1..:data:`MAX_READ_CHANNELS` channels at 1..:data:`MAX_READ_RATE` Hz. A data chunk cut
off inside a frame keeps its whole frames (as players do).

``.flac`` and ``.ogg`` (Vorbis) need the ``soundfile`` package (it bundles libsndfile in its
wheels); it is imported only when such a file is written, and a clear
:class:`AudioFormatError` says how to get it when it is missing.
"""

from __future__ import annotations

import io
import os
import struct
import wave
from pathlib import Path

import numpy as np

from genstudio.core.atomic import atomic_write_bytes, read_file_bytes
from genstudio.core.errors import GenStudioError, InvalidParamsError

WAV_SUFFIXES = (".wav", ".wave")
OPTIONAL_SUFFIXES = {".flac": "FLAC", ".ogg": "OGG"}
SUPPORTED_SUFFIXES = WAV_SUFFIXES + tuple(OPTIONAL_SUFFIXES)
SAMPLE_RATE_RANGE = (8000, 192000)
#: Largest WAV file :func:`read_wav` reads (about 25 minutes of 24-bit 7.1 at 96 kHz).
MAX_READ_WAV_BYTES = 1 << 30
MAX_READ_CHANNELS = 32
MAX_READ_RATE = 768000


class AudioFormatError(GenStudioError):
    """An audio file format that cannot be written here."""

    kind = "audio-format"


def _check(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int | np.integer):
        raise InvalidParamsError(f"Sample rate {sample_rate!r} is not a whole number of Hz.")
    if not SAMPLE_RATE_RANGE[0] <= int(sample_rate) <= SAMPLE_RATE_RANGE[1]:
        raise InvalidParamsError(
            f"Sample rate {sample_rate} Hz is not supported.",
            hint=f"Use {SAMPLE_RATE_RANGE[0]}-{SAMPLE_RATE_RANGE[1]} Hz (44100 or 48000 are usual).",
        )
    a = np.asarray(audio)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or not 1 <= a.shape[1] <= 8:
        raise InvalidParamsError(
            f"Audio of shape {np.shape(audio)} cannot be written.",
            hint="Pass samples as (frames,) for mono or (frames, channels) with 1-8 channels.",
        )
    return a


def to_pcm16(audio: np.ndarray) -> np.ndarray:
    """Float audio in [-1, 1] (clipped; NaN -> 0) or int16 -> int16 ``(frames, channels)``."""
    a = np.asarray(audio)
    if a.ndim == 1:
        a = a[:, None]
    if a.dtype == np.int16:
        return np.ascontiguousarray(a)
    if np.issubdtype(a.dtype, np.integer):
        raise InvalidParamsError(
            f"Integer audio of type {a.dtype} cannot be written.",
            hint="Pass float samples in [-1, 1] or int16 samples.",
        )
    f = np.nan_to_num(a.astype(np.float32), nan=0.0, posinf=1.0, neginf=-1.0)
    np.clip(f, -1.0, 1.0, out=f)
    return np.round(f * 32767.0).astype(np.int16)


def wav_bytes(audio: np.ndarray, sample_rate: int) -> bytes:
    """A complete 16-bit PCM WAV file in memory."""
    a = _check(audio, sample_rate)
    pcm = to_pcm16(a)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(pcm.shape[1])
        w.setsampwidth(2)
        w.setframerate(int(sample_rate))
        w.writeframes(pcm.astype("<i2", copy=False).tobytes())
    return buf.getvalue()


def _soundfile_bytes(audio: np.ndarray, sample_rate: int, fmt: str) -> bytes:
    try:
        import soundfile
    except (ImportError, OSError) as e:  # OSError: the bundled libsndfile failed to load
        raise AudioFormatError(
            f"Writing {fmt} files needs the soundfile package, which is not available.",
            hint="Install it with: pip install soundfile - or export as WAV.",
        ) from e
    a = _check(audio, sample_rate)
    data = to_pcm16(a)
    if fmt == "OGG":  # Vorbis encodes floats; scaled back from the clipped 16-bit samples
        data = data.astype(np.float32) / np.float32(32767.0)
    subtype = "VORBIS" if fmt == "OGG" else "PCM_16"
    buf = io.BytesIO()
    try:
        soundfile.write(buf, data, int(sample_rate), format=fmt, subtype=subtype)
    except Exception as e:  # libsndfile without Vorbis/FLAC support, odd rates for Vorbis...
        raise AudioFormatError(f"Could not encode {fmt}: {e}", hint="Export as WAV instead.") from e
    return buf.getvalue()


def write_audio(path: str | os.PathLike[str], audio: np.ndarray, sample_rate: int) -> Path:
    """Write ``audio`` (float in [-1, 1] or int16; ``(frames,)`` or ``(frames, channels)``)
    to ``path``, choosing the format by suffix: ``.wav`` always, ``.flac``/``.ogg`` when the
    soundfile package is installed. Atomic. Returns the path."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in WAV_SUFFIXES:
        data = wav_bytes(audio, sample_rate)
    elif suffix in OPTIONAL_SUFFIXES:
        data = _soundfile_bytes(audio, sample_rate, OPTIONAL_SUFFIXES[suffix])
    else:
        raise AudioFormatError(
            f"Cannot write audio as {p.name!r}.",
            hint="Use a .wav file (or .flac / .ogg when the soundfile package is installed).",
        )
    atomic_write_bytes(p, data)
    return p


def write_wav(path: str | os.PathLike[str], audio: np.ndarray, sample_rate: int) -> Path:
    """Write a 16-bit PCM WAV file atomically (float input is clipped to [-1, 1])."""
    atomic_write_bytes(Path(path), wav_bytes(audio, sample_rate))
    return Path(path)


def can_write(suffix: str) -> bool:
    """Whether files with this suffix can be written here (``.flac``/``.ogg`` need soundfile)."""
    suffix = suffix.lower() if suffix.startswith(".") else "." + suffix.lower()
    if suffix in WAV_SUFFIXES:
        return True
    if suffix not in OPTIONAL_SUFFIXES:
        return False
    try:
        import soundfile
    except (ImportError, OSError):
        return False
    return OPTIONAL_SUFFIXES[suffix] in soundfile.available_formats()


def _wav_error(name: str, why: str) -> InvalidParamsError:
    return InvalidParamsError(
        f"The audio file {name!r} cannot be read: {why}",
        hint="Use an uncompressed PCM WAV file (8, 16, 24 or 32 bit), e.g. exported again "
        "from an audio editor.",
    )


def read_wav(
    source: str | os.PathLike[str] | bytes | bytearray | memoryview,
    *,
    max_bytes: int = MAX_READ_WAV_BYTES,
) -> tuple[np.ndarray, int]:
    """A PCM WAV file (path or bytes) -> ``(float32 (frames, channels) in [-1, 1], sample
    rate)``. :class:`InvalidParamsError` for anything else (see the module docstring)."""
    if isinstance(source, bytes | bytearray | memoryview):
        name, raw = "(data)", bytes(source)
        if len(raw) > max_bytes:
            raise _wav_error(name, f"it is {len(raw)} bytes, more than {max_bytes}.")
    else:
        name = Path(source).name
        raw = read_file_bytes(
            source, what="audio file", error=InvalidParamsError, max_bytes=max_bytes
        )
    if raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
        raise _wav_error(name, "it is not a WAV file (no RIFF/WAVE header).")
    try:
        with wave.open(io.BytesIO(raw), "rb") as w:
            channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
            nframes = w.getnframes()
            if not 1 <= channels <= MAX_READ_CHANNELS:
                raise _wav_error(name, f"it has {channels} channels (1-{MAX_READ_CHANNELS}).")
            if width not in (1, 2, 3, 4):
                raise _wav_error(name, f"its sample width is {width} bytes (1-4 are read).")
            if not 1 <= rate <= MAX_READ_RATE:
                raise _wav_error(name, f"its sample rate is {rate} Hz.")
            data = w.readframes(nframes)  # at most what the file holds
    except InvalidParamsError:
        raise
    # the stdlib reader's failures on damaged files: wave.Error, EOFError, struct.error and
    # RuntimeError (a chunk seek past its end, found by fuzzing), ValueError, OverflowError
    except (wave.Error, EOFError, RuntimeError, ValueError, OverflowError, struct.error) as e:
        raise _wav_error(
            name, f"it is damaged or not PCM ({str(e) or type(e).__name__})."
        ) from None
    frame = channels * width
    data = data[: len(data) // frame * frame]
    if width == 1:
        a = (np.frombuffer(data, np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 2:
        a = np.frombuffer(data, "<i2").astype(np.float32) / 32768.0
    elif width == 3:
        b = np.frombuffer(data, np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        v = np.where(v >= 1 << 23, v - (1 << 24), v)
        a = v.astype(np.float32) / float(1 << 23)
    else:
        a = (np.frombuffer(data, "<i4").astype(np.float64) / float(1 << 31)).astype(np.float32)
    return a.reshape(-1, channels), int(rate)
