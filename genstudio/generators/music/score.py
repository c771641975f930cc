"""The in-memory form of a piece of music that every part of the music mode shares.

A :class:`Score` is notes on a tick grid (``TPQ`` ticks per quarter note) in named tracks, with
one tempo, one time signature and an optional key for the whole piece. MIDI files, tokens, the
piano roll, the synthesizer and the metrics all read and write this one form (numpy only, no
torch, no Qt).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from genstudio.core.errors import InvalidParamsError

TPQ = 480  # ticks per quarter note (MIDI files are read at any resolution and rescaled)

PITCH_CLASSES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_PC_ALIASES = {
    "C": 0, "B#": 0, "C#": 1, "DB": 1, "D": 2, "D#": 3, "EB": 3, "E": 4, "FB": 4, "F": 5,
    "E#": 5, "F#": 6, "GB": 6, "G": 7, "G#": 8, "AB": 8, "A": 9, "A#": 10, "BB": 10, "B": 11,
    "CB": 11,
}  # fmt: skip
MAJOR_STEPS = (0, 2, 4, 5, 7, 9, 11)
MINOR_STEPS = (0, 2, 3, 5, 7, 8, 10)  # natural minor; harmonic/melodic raise 6 and 7 (see scale)
DRUM_CHANNEL = 9  # General MIDI channel 10

TEMPO_RANGE = (20.0, 300.0)  # bpm accepted; outside -> InvalidParamsError
BARS_RANGE = (1, 256)
#: Longest piece read from a file (bars): over 2 hours of 4/4 at 120 bpm. Anything longer is a
#: damaged or hostile file, refused before a per-bar structure is allocated (fuzzing: a 144-byte
#: file declaring 18,000 bars made `--mode drums` write 232,000 notes in 4 s of CPU).
MAX_BARS = 4096
NUMERATORS = range(1, 17)
DENOMINATORS = (1, 2, 4, 8, 16)


@dataclass(frozen=True)
class Key:
    tonic: int  # pitch class 0..11 (C = 0)
    mode: str  # "major" | "minor"

    def __str__(self) -> str:
        return f"{PITCH_CLASSES[self.tonic]} {self.mode}"

    def scale(self, *, harmonic: bool = True) -> frozenset[int]:
        """Pitch classes of the key; minor includes the raised 6th and 7th (melodic/harmonic)."""
        steps = MAJOR_STEPS if self.mode == "major" else MINOR_STEPS
        pcs = {(self.tonic + s) % 12 for s in steps}
        if self.mode == "minor" and harmonic:
            pcs |= {(self.tonic + 9) % 12, (self.tonic + 11) % 12}
        return frozenset(pcs)

    @property
    def sharps(self) -> int:
        """Key signature: sharps (> 0) or flats (< 0), as in a MIDI key-signature event."""
        major_tonic = self.tonic if self.mode == "major" else (self.tonic + 3) % 12
        fifths = (major_tonic * 7) % 12  # circle of fifths position
        return fifths - 12 if fifths > 6 else fifths


def parse_key(text: str) -> Key:
    """'D major', 'f# minor', 'Bb', 'A min', 'Am' -> Key. Raises InvalidParamsError."""
    raw = str(text).strip()
    m = re.fullmatch(r"([A-Ga-g])\s*([#b♯♭]?)\s*(m|min|minor|maj|major)?", raw, re.IGNORECASE)
    if not m:
        raise InvalidParamsError(
            f"Cannot read the key {text!r}.", hint="Write it like 'D major', 'F# minor' or 'Bb'."
        )
    name = (m.group(1) + m.group(2).replace("♯", "#").replace("♭", "b")).upper()
    mode = "minor" if (m.group(3) or "").lower() in ("m", "min", "minor") else "major"
    return Key(_PC_ALIASES[name], mode)


def key_from_signature(sharps: int, minor: bool) -> Key:
    """A MIDI key-signature event (sharps -7..7, minor flag) -> Key."""
    major_tonic = (sharps * 7) % 12
    return Key((major_tonic - 3) % 12, "minor") if minor else Key(major_tonic, "major")


def parse_time_signature(text: str | tuple[int, int]) -> tuple[int, int]:
    if isinstance(text, tuple):
        num, den = text
    else:
        m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
        if not m:
            raise InvalidParamsError(
                f"Cannot read the time signature {text!r}.", hint="Write it like 4/4, 3/4 or 6/8."
            )
        num, den = int(m.group(1)), int(m.group(2))
    if num not in NUMERATORS or den not in DENOMINATORS:
        raise InvalidParamsError(
            f"Time signature {num}/{den} is not supported.",
            hint="Numerator 1-16, denominator 1, 2, 4, 8 or 16 (e.g. 4/4, 3/4, 6/8).",
        )
    return num, den


def check_tempo(bpm: float) -> float:
    bpm = float(bpm)
    if not (TEMPO_RANGE[0] <= bpm <= TEMPO_RANGE[1]):
        raise InvalidParamsError(
            f"Tempo {bpm:g} bpm is out of range.",
            hint=f"Use {TEMPO_RANGE[0]:g}-{TEMPO_RANGE[1]:g} bpm.",
        )
    return bpm


def check_bars(bars: int) -> int:
    if not isinstance(bars, int) or not (BARS_RANGE[0] <= bars <= BARS_RANGE[1]):
        raise InvalidParamsError(
            f"{bars!r} bars is out of range.", hint=f"Use {BARS_RANGE[0]}-{BARS_RANGE[1]} bars."
        )
    return bars


@dataclass(frozen=True, order=True)
class Note:
    start: int  # ticks from the start of the piece
    pitch: int  # MIDI 0..127
    duration: int  # ticks, > 0
    velocity: int = 80  # 1..127
    track: int = 0  # index into Score.tracks


@dataclass
class Track:
    name: str
    program: int = 0  # General MIDI program 0..127 (ignored for drums)
    is_drum: bool = False


@dataclass
class Score:
    tracks: list[Track]
    notes: list[Note] = field(default_factory=list)
    tempo: float = 120.0  # bpm (quarter notes per minute)
    time_signature: tuple[int, int] = (4, 4)
    key: Key | None = None
    bars: int = 0  # length in bars; 0 = derive from the notes
    tpq: int = TPQ

    @property
    def bar_ticks(self) -> int:
        num, den = self.time_signature
        return self.tpq * 4 * num // den

    @property
    def beat_ticks(self) -> int:
        return self.tpq * 4 // self.time_signature[1]

    @property
    def n_bars(self) -> int:
        if self.bars:
            return self.bars
        end = max((n.start + n.duration for n in self.notes), default=0)
        return max(1, -(-end // self.bar_ticks))

    @property
    def length_ticks(self) -> int:
        return self.n_bars * self.bar_ticks

    def seconds(self, ticks: int) -> float:
        return ticks / self.tpq * 60.0 / self.tempo

    @property
    def duration_s(self) -> float:
        return self.seconds(self.length_ticks)

    def sorted_notes(self) -> list[Note]:
        return sorted(self.notes, key=lambda n: (n.start, n.track, n.pitch))

    def with_notes(self, notes: list[Note], **changes) -> Score:
        return replace(
            self, notes=sorted(notes, key=lambda n: (n.start, n.track, n.pitch)), **changes
        )

    def bar_notes(self, bar: int) -> list[Note]:
        a, b = bar * self.bar_ticks, (bar + 1) * self.bar_ticks
        return [n for n in self.notes if a <= n.start < b]


def transpose(score: Score, semitones: int) -> Score:
    """A copy of ``score`` moved by ``semitones`` (drum tracks and their notes stay put; the key
    moves with the notes). A pitch pushed outside MIDI 0..127 -> InvalidParamsError."""
    semitones = int(semitones)
    if semitones == 0:
        return replace(score, notes=list(score.notes), tracks=list(score.tracks))
    drums = {i for i, t in enumerate(score.tracks) if t.is_drum}
    notes = []
    for n in score.notes:
        if n.track in drums:
            notes.append(n)
            continue
        p = n.pitch + semitones
        if not 0 <= p <= 127:
            raise InvalidParamsError(
                f"Transposing by {semitones:+d} semitones moves pitch {n.pitch} out of MIDI range.",
                hint="Transpose by fewer semitones.",
            )
        notes.append(Note(n.start, p, n.duration, n.velocity, n.track))
    key = None if score.key is None else Key((score.key.tonic + semitones) % 12, score.key.mode)
    return replace(score, notes=notes, tracks=list(score.tracks), key=key)
