"""SoundFont rendering (tinysoundfont) and the one place that picks SoundFont or built-in synth.

* :func:`find_soundfont` looks for a General MIDI SoundFont (``.sf2``, or ``.sf3`` with
  Ogg-compressed samples, which tinysoundfont 0.3.x decodes at load time): the caller's
  ``extra_dirs`` (e.g. a folder or file the user chose in the settings), then the user's data
  folder ``<data_dir>/soundfonts/``, then the usual system folders (Debian/Ubuntu packages put
  them in ``/usr/share/sounds/sf2``; Fedora and Arch in ``/usr/share/soundfonts``).
* :func:`render_soundfont` renders a :class:`Score` offline (no audio device) to float32 stereo;
  a missing, unreadable or corrupt file raises :class:`SoundFontError` with a hint.
* :func:`render_audio` is what the studio calls: it uses a SoundFont when asked and possible
  and otherwise falls back to :func:`genstudio.generators.music.synth.render`, returning the
  reason (``"No SoundFont found - using the built-in synth."``) for the UI to show.

Both renderers give ``score.length_ticks`` plus ``synth.TAIL_SECONDS`` (1 s) of audio, so
releases ring out, peak-limited into [-1, 1]. A loaded SoundFont is cached (one at a time):
an ``.sf3`` decodes all its samples when loaded (about 3 s for the 40 MB MuseScore_General_Lite
on two cores), later renders reuse it. ``tinysoundfont`` is imported lazily (its declared
``pyaudio`` dependency is not needed: install it with ``pip install --no-deps``).
"""

from __future__ import annotations

import logging
import os
import stat
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from genstudio.core.errors import GenStudioError
from genstudio.core.settings import data_dir
from genstudio.generators.music.score import DRUM_CHANNEL, Score
from genstudio.generators.music.synth import (
    DEFAULT_SAMPLE_RATE,
    TAIL_SECONDS,
    check_sample_rate,
    fade_end,
    limit,
    output_frames,
)
from genstudio.generators.music.synth import render as synth_render

log = logging.getLogger(__name__)

SOUNDFONT_SUFFIXES = (".sf2", ".sf3")
NO_SOUNDFONT_MESSAGE = "No SoundFont found - using the built-in synth."
NORMALIZE_PEAK = 0.891  # -1 dBFS
_INSTALL_HINT = (
    "Put a General MIDI SoundFont (.sf2) into {folder}, or install one system-wide "
    "(on Debian/Ubuntu: the fluid-soundfont-gm package)."
)


class SoundFontError(GenStudioError):
    """A SoundFont that is missing, unreadable, corrupt, or cannot be rendered."""

    kind = "soundfont"


def user_soundfont_dir() -> Path:
    """``<data_dir>/soundfonts``: SoundFonts the user drops in are found first."""
    return data_dir() / "soundfonts"


def system_soundfont_dirs() -> list[Path]:
    home = Path.home()
    if sys.platform == "win32":
        return [
            home / "SoundFonts",
            Path(os.environ.get("PUBLIC", "C:/Users/Public")) / "SoundFonts",
        ]
    if sys.platform == "darwin":
        return [home / "Library/Audio/Sounds/Banks", Path("/Library/Audio/Sounds/Banks")]
    return [
        home / ".local/share/soundfonts",
        home / ".local/share/sounds/sf2",
        Path("/usr/local/share/soundfonts"),
        Path("/usr/share/sounds/sf2"),
        Path("/usr/share/soundfonts"),
        Path("/usr/share/sounds/sf3"),
        Path("/usr/share/sf2"),
    ]


def _looks_like_soundfont(path: Path) -> bool:
    try:
        if not stat.S_ISREG(path.stat().st_mode):  # a FIFO in a SoundFont folder: skipped
            return False
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError:
        return False
    return len(head) == 12 and head[:4] == b"RIFF" and head[8:12] == b"sfbk"


def _folder_candidates(folder: Path) -> list[Path]:
    try:
        entries = [p for p in folder.iterdir() if p.suffix.lower() in SOUNDFONT_SUFFIXES]
    except OSError:
        return []

    def rank(p: Path) -> tuple[int, int, str]:
        # Debian's default-GM.sf2 link names the preferred installed GM bank; .sf2 loads faster
        return (
            0 if p.name.lower().startswith("default-gm") else 1,
            p.suffix.lower() != ".sf2",
            p.name.lower(),
        )

    return sorted(entries, key=rank)


def soundfont_search_path(extra_dirs: Iterable[str | os.PathLike[str]] = ()) -> list[Path]:
    """Folders (or files) :func:`find_soundfont` looks in, in order."""
    return [Path(d).expanduser() for d in extra_dirs] + [
        user_soundfont_dir(),
        *system_soundfont_dirs(),
    ]


def find_soundfont(extra_dirs: Iterable[str | os.PathLike[str]] = ()) -> Path | None:
    """The first usable SoundFont: ``extra_dirs`` (folders or files), then the user's
    ``<data_dir>/soundfonts`` folder, then system folders. Files without a SoundFont header
    are skipped (and logged). Returns ``None`` when there is none."""
    seen: set[Path] = set()
    for place in soundfont_search_path(extra_dirs):
        if place.is_file():
            candidates = [place]
        elif place.is_dir():
            candidates = _folder_candidates(place)
        else:
            continue
        for cand in candidates:
            try:
                real = cand.resolve()
            except OSError:
                continue
            if real in seen or not real.is_file():
                continue
            seen.add(real)
            if _looks_like_soundfont(real):
                return cand
            log.warning("Skipping %s: it is not a SoundFont (no RIFF/sfbk header).", cand)
    return None


def check_soundfont(path: str | os.PathLike[str]) -> Path:
    """Raise :class:`SoundFontError` unless ``path`` is a readable SoundFont file (header check)."""
    p = Path(path).expanduser()
    if not p.exists():
        raise SoundFontError(
            f"The SoundFont {p} does not exist.",
            hint="Choose another SoundFont file, or use the built-in synth.",
        )
    if not p.is_file():
        raise SoundFontError(
            f"The SoundFont {p} is not a file.", hint="Choose a .sf2 or .sf3 file."
        )
    if p.suffix.lower() not in SOUNDFONT_SUFFIXES:
        raise SoundFontError(
            f"{p.name} is not a SoundFont file.",
            hint="SoundFonts end in .sf2 (or .sf3, compressed).",
        )
    try:
        if not stat.S_ISREG(p.stat().st_mode):  # a FIFO would block the open below
            raise SoundFontError(f"The SoundFont {p} is not a regular file.")
        with open(p, "rb") as f:
            head = f.read(12)
    except OSError as e:
        raise SoundFontError(
            f"The SoundFont {p} cannot be read: {e.strerror or e}",
            hint="Check the file's permissions.",
        ) from e
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"sfbk":
        raise SoundFontError(
            f"The SoundFont {p} is damaged or not a SoundFont (no RIFF/sfbk header).",
            hint="Download or copy the SoundFont again, or choose another one.",
        )
    return p


def _import_tinysoundfont() -> Any:
    try:
        import tinysoundfont
    except ImportError as e:
        raise SoundFontError(
            "SoundFont playback needs the tinysoundfont package, which is not installed.",
            hint="Install it with: pip install --no-deps tinysoundfont",
        ) from e
    return tinysoundfont


# One loaded SoundFont is kept: loading an .sf3 decodes every sample (seconds for 40 MB).
_cache_lock = threading.Lock()
_cache: dict[tuple, tuple[Any, int]] = {}


def _load_synth(path: Path, sample_rate: int) -> tuple[Any, int]:
    """(Synth, sfid) for ``path``; call with ``_cache_lock`` held."""
    tsf = _import_tinysoundfont()
    try:
        st = path.stat()
    except OSError as e:
        raise SoundFontError(f"The SoundFont {path} cannot be read: {e.strerror or e}") from e
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, sample_rate)
    hit = _cache.get(key)
    if hit is not None:
        return hit
    _cache.clear()
    from genstudio.core.atomic import read_file_bytes

    # bytes, not a path: non-ASCII paths work on every platform; regular files only, capped
    data = read_file_bytes(path, what="SoundFont", error=SoundFontError, max_bytes=1 << 30)
    synth = tsf.Synth(gain=0.0, samplerate=sample_rate)
    try:
        sfid = synth.sfload(data)
    except Exception as e:  # tinysoundfont raises RuntimeError("Could not load SoundFont ...")
        compressed = path.suffix.lower() == ".sf3"
        raise SoundFontError(
            f"The SoundFont {path} is damaged or in a format that cannot be read"
            + (" (compressed .sf3)." if compressed else "."),
            hint="Download or copy it again, or choose another .sf2 file.",
        ) from e
    _cache[key] = (synth, sfid)
    return synth, sfid


def _channels(score: Score) -> dict[int, int]:
    """Track index -> MIDI channel: drums on channel 10, one channel per melodic track while
    they last (15), then tracks that share a program share a channel."""
    free = [c for c in range(16) if c != DRUM_CHANNEL]
    melodic = [i for i, t in enumerate(score.tracks) if not t.is_drum]
    out = {i: DRUM_CHANNEL for i, t in enumerate(score.tracks) if t.is_drum}
    if len(melodic) <= len(free):
        out.update({i: free[k] for k, i in enumerate(melodic)})
        return out
    by_program: dict[int, int] = {}
    for i in melodic:
        prog = score.tracks[i].program
        if prog not in by_program:
            by_program[prog] = free[len(by_program) % len(free)]
        out[i] = by_program[prog]
    return out


def render_soundfont(
    score: Score, sf2_path: str | os.PathLike[str], sample_rate: int = DEFAULT_SAMPLE_RATE
) -> np.ndarray:
    """Render ``score`` with a SoundFont to float32 stereo ``(n, 2)`` in [-1, 1].

    ``n`` is the score's length plus ``TAIL_SECONDS`` (as for the built-in synth). Raises
    :class:`SoundFontError` for a missing/corrupt SoundFont or a missing tinysoundfont.
    """
    sr = check_sample_rate(sample_rate)
    path = check_soundfont(sf2_path)
    n_total = output_frames(score, sr)
    out = np.zeros((n_total, 2), np.float32)
    raw = out.data.cast("B")
    frame_bytes = 2 * 4

    def to_samples(ticks: int) -> int:
        return int(round(score.seconds(ticks) * sr))

    chans = _channels(score)
    events: list[tuple[int, int, int, int, int]] = []  # (sample, on?, channel, key, velocity)
    for n in score.notes:
        if not (0 <= n.track < len(score.tracks)) or n.duration <= 0 or not 0 <= n.pitch <= 127:
            continue
        s0 = to_samples(n.start)
        if s0 >= n_total:
            continue
        s1 = max(s0 + 1, to_samples(n.start + n.duration))
        chan = chans[n.track]
        events.append((s0, 1, chan, n.pitch, min(max(int(n.velocity), 1), 127)))
        events.append((s1, 0, chan, n.pitch, 0))
    events.sort()  # offs (0) before ons (1) at the same sample

    with _cache_lock:
        synth, sfid = _load_synth(path, sr)
        for chan in range(16):
            synth.control_change(chan, 120, 0)  # all sound off (left over from a last render)
            synth.control_change(chan, 121, 0)  # reset controllers
        n_melodic = sum(1 for t in score.tracks if not t.is_drum)
        for i, track in enumerate(score.tracks):
            chan = chans[i]
            try:
                if track.is_drum:
                    synth.program_select(chan, sfid, 0, 0, is_drums=True)
                else:
                    synth.program_select(chan, sfid, 0, int(track.program) % 128)
            except Exception:  # the SoundFont lacks this preset: piano / standard kit instead
                log.warning("SoundFont %s has no preset for track %r", path.name, track.name)
                try:
                    synth.program_select(chan, sfid, 0, 0, is_drums=track.is_drum)
                except Exception as e:  # not even that (fuzz finding): no usable instrument
                    raise SoundFontError(
                        f"The SoundFont {path.name} has no instrument for the track "
                        f"{track.name!r}, nor a piano or standard drum kit to use instead.",
                        hint="Use another SoundFont, or the built-in synth.",
                    ) from e
            pan = 0.0 if track.is_drum or n_melodic <= 1 else -0.45 + 0.9 * i / (n_melodic - 1)
            synth.control_change(chan, 10, int(round(64 + 63 * pan)))
        sounding: dict[tuple[int, int], int] = {}
        pos = 0
        for sample, on, chan, key, vel in events:
            sample = min(sample, n_total)
            if sample > pos:
                synth.generate_simple(
                    sample - pos, buffer=raw[pos * frame_bytes : sample * frame_bytes]
                )
                pos = sample
            count = sounding.get((chan, key), 0)
            if on:
                sounding[(chan, key)] = count + 1
                synth.noteon(chan, key, vel)
            elif count <= 1:  # an overlapping repeat keeps sounding until its own end
                sounding.pop((chan, key), None)
                synth.noteoff(chan, key)
            else:
                sounding[(chan, key)] = count - 1
        if pos < n_total:
            synth.generate_simple(n_total - pos, buffer=raw[pos * frame_bytes :])
        for chan in range(16):
            synth.control_change(chan, 120, 0)
    del raw
    np.nan_to_num(out, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    fade_end(out, sr)
    return limit(out)


@dataclass(frozen=True)
class RenderedAudio:
    """What :func:`render_audio` made and how: show ``message`` (and ``hint``) when set."""

    audio: np.ndarray  # float32 (n, 2) in [-1, 1]
    sample_rate: int
    engine: Literal["soundfont", "synth"]
    soundfont: Path | None = None
    message: str | None = None  # why the built-in synth was used instead of a SoundFont
    hint: str | None = None

    @property
    def duration_s(self) -> float:
        return len(self.audio) / self.sample_rate


def render_audio(
    score: Score,
    *,
    soundfont: None | Literal["auto", "none"] | str | os.PathLike[str] = "auto",
    sample_rate: int = DEFAULT_SAMPLE_RATE,
    extra_dirs: Iterable[str | os.PathLike[str]] = (),
    normalize: bool = False,
) -> RenderedAudio:
    """Render ``score`` for playback or export.

    ``soundfont``: ``None`` (or ``"none"``) = the built-in synth; ``"auto"`` (default) = the first SoundFont
    :func:`find_soundfont` finds (``extra_dirs`` first); a path = that SoundFont. Whenever a
    SoundFont cannot be used (none found, missing, corrupt, tinysoundfont not installed) the
    built-in synth renders instead and ``message``/``hint`` say why; this never raises for
    SoundFont problems (invalid scores or sample rates still raise ``InvalidParamsError``).
    ``normalize=True`` scales the result so its peak is :data:`NORMALIZE_PEAK` (-1 dBFS):
    some SoundFont presets are very quiet (MuseScore_General's piano in tinysoundfont).
    """
    sr = check_sample_rate(sample_rate)
    if soundfont is None or (isinstance(soundfont, str) and soundfont.lower() == "none"):
        audio = synth_render(score, sr)
        return RenderedAudio(_normalized(audio) if normalize else audio, sr, "synth")
    if isinstance(soundfont, str) and soundfont == "auto":
        found = find_soundfont(extra_dirs)
        if found is None:
            hint = _INSTALL_HINT.format(folder=user_soundfont_dir())
            audio = synth_render(score, sr)
            audio = _normalized(audio) if normalize else audio
            return RenderedAudio(audio, sr, "synth", None, NO_SOUNDFONT_MESSAGE, hint)
        path = found
    else:
        path = Path(soundfont)
    try:
        audio = render_soundfont(score, path, sr)
    except SoundFontError as e:
        reason = f"{e.message.rstrip('.')} - using the built-in synth."
        log.warning("%s", reason)
        audio = _normalized(synth_render(score, sr)) if normalize else synth_render(score, sr)
        return RenderedAudio(audio, sr, "synth", path, reason, e.hint)
    return RenderedAudio(_normalized(audio) if normalize else audio, sr, "soundfont", path)


def _normalized(audio: np.ndarray, peak: float = NORMALIZE_PEAK) -> np.ndarray:
    top = float(np.abs(audio).max()) if audio.size else 0.0
    if top <= 1e-6:  # silence stays silence
        return audio
    return (audio * np.float32(peak / top)).astype(np.float32, copy=False)


__all__ = [
    "NORMALIZE_PEAK",
    "NO_SOUNDFONT_MESSAGE",
    "SOUNDFONT_SUFFIXES",
    "TAIL_SECONDS",
    "RenderedAudio",
    "SoundFontError",
    "check_soundfont",
    "find_soundfont",
    "render_audio",
    "render_soundfont",
    "soundfont_search_path",
    "system_soundfont_dirs",
    "user_soundfont_dir",
]
