"""A REMI-like, bar-aware token vocabulary for scores (after Huang & Yang 2020, "Pop Music
Transformer").

A trained model depends on this layout: do not reorder, insert or remove tokens. New styles go
into the spare slots ``style4``-``style7``.

Vocabulary (ids in this order; ``VOCAB.size == 223``)::

    PAD 0, BOS 1, EOS 2, BAR 3                           specials (PAD pads batches only)
    STYLE  4-11     chorale, folk, melody_accomp, drums, style4..style7 (spare)
    KEY   12-36     C major .. B major, C minor .. B minor (PITCH_CLASSES order), none
    TS    37-47     2/4 3/4 4/4 5/4 6/4 2/2 3/2 3/8 6/8 9/8 12/8
    TEMPO 48-63     16 bins, centres geometric from 40 to 240 bpm (``TEMPO_BPM``)
    POS   64-95     0..31: 16th notes from the start of the bar
    TRK   96-103    0..7: track index in the score (the style fixes what the tracks are)
    PITCH 104-191   MIDI 21..108 (drums: General MIDI drum notes)
    VEL   192-199   24 40 56 72 88 100 112 124
    DUR   200-222   16ths: 1..16, 20, 24, 28, 32, 40, 48, 64

Sequence and grammar (what may follow what; :func:`allowed_next` at the kind level,
:class:`GrammarState` with the value rules as well)::

    BOS STYLE KEY TS TEMPO  ( BAR  ( POS  ( TRK PITCH VEL DUR )+ )* )+  EOS

    start -> BOS         BOS -> STYLE      STYLE -> KEY      KEY -> TS      TS -> TEMPO
    TEMPO -> BAR         BAR -> POS | BAR | EOS              POS -> TRK
    TRK -> PITCH         PITCH -> VEL      VEL -> DUR        DUR -> TRK | POS | BAR | EOS
    EOS -> (nothing; PAD only)

Value rules (enforced by :class:`GrammarState`, produced by :func:`encode`):

* POS values strictly increase within a bar and stay below ``bar_positions(ts)``;
* at one position notes come in ascending track order, and within a track in *descending*
  pitch order (top note first), with no repeated (track, pitch);
* TRK is below the style's track count (``len(STYLE_TRACKS[style])``; 8 for spare styles).

Encoding rules (:func:`encode`):

* note starts are quantized to the 16th-note grid, rounding half up (a start exactly between two
  16ths goes to the later one); a note that rounds into the next bar belongs to that bar (the
  piece grows a bar if needed);
* a note keeps its full duration even across bar lines (no ties): the nearest DUR bin (ties go to
  the shorter bin; anything under one 16th becomes one 16th);
* velocity -> nearest VEL bin (ties to the softer); pitches outside 21..108 are moved by octaves
  into that range; repeated (position, track, pitch) notes are merged, keeping the longest;
* a time signature outside the TS list raises :class:`InvalidParamsError` (no silent remapping);
  so does a note on a track the style does not have.

:func:`decode` is tolerant (for generated sequences): it never raises on grammar errors and skips
tokens that do not fit - a note missing any of its four tokens is dropped, header tokens after
the first BAR are ignored, a POS outside the bar drops the notes that follow it until the next
POS or BAR, and a TRK beyond the style's tracks drops its note. Missing header tokens default to
no style (generic tracks), no key, 4/4 and 120 bpm. Out-of-order positions and notes are
accepted (placed where they say). So ``encode(decode(x), style) == x`` for every sequence that
follows the grammar, and for any sequence ``encode(decode(.))`` is a fixed point after one round.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from genstudio.core.errors import InvalidParamsError
from genstudio.generators.music.score import (
    MAX_BARS,
    PITCH_CLASSES,
    TPQ,
    Key,
    Note,
    Score,
    Track,
    parse_key,
)

STYLES = ("chorale", "folk", "melody_accomp", "drums", "style4", "style5", "style6", "style7")
KEYS: tuple[str, ...] = tuple(f"{pc} major" for pc in PITCH_CLASSES) + tuple(
    f"{pc} minor" for pc in PITCH_CLASSES
)
TIME_SIGNATURES = (
    (2, 4), (3, 4), (4, 4), (5, 4), (6, 4), (2, 2), (3, 2), (3, 8), (6, 8), (9, 8), (12, 8),
)  # fmt: skip
N_TEMPO_BINS = 16
TEMPO_MIN, TEMPO_MAX = 40.0, 240.0
TEMPO_BPM = tuple(
    round(TEMPO_MIN * (TEMPO_MAX / TEMPO_MIN) ** (i / (N_TEMPO_BINS - 1)), 1)
    for i in range(N_TEMPO_BINS)
)
N_POSITIONS = 32
N_TRACKS = 8
PITCH_MIN, PITCH_MAX = 21, 108
VELOCITIES = (24, 40, 56, 72, 88, 100, 112, 124)
DURATIONS = tuple(range(1, 17)) + (20, 24, 28, 32, 40, 48, 64)  # in 16th notes
STEP = TPQ // 4  # ticks per 16th note at TPQ

STYLE_TRACKS: dict[str, list[Track]] = {
    "chorale": [
        Track("Soprano", program=52),  # GM 53 "Choir Aahs"
        Track("Alto", program=52),
        Track("Tenor", program=52),
        Track("Bass", program=52),
    ],
    "folk": [Track("Melody", program=40)],  # GM 41 violin
    "melody_accomp": [
        Track("Melody", program=73),  # GM 74 flute
        Track("Accompaniment", program=0),  # GM 1 acoustic grand piano
    ],
    "drums": [Track("Drums", program=0, is_drum=True)],
}

_HEADER = ("BOS", "STYLE", "KEY", "TS", "TEMPO")
_GRAMMAR: dict[str | None, tuple[str, ...]] = {
    None: ("BOS",),
    "BOS": ("STYLE",),
    "STYLE": ("KEY",),
    "KEY": ("TS",),
    "TS": ("TEMPO",),
    "TEMPO": ("BAR",),
    "BAR": ("POS", "BAR", "EOS"),
    "POS": ("TRK",),
    "TRK": ("PITCH",),
    "PITCH": ("VEL",),
    "VEL": ("DUR",),
    "DUR": ("TRK", "POS", "BAR", "EOS"),
    "EOS": (),
    "PAD": (),
}


def allowed_next(prev_kind: str | None) -> tuple[str, ...]:
    """Kinds that may follow a token of ``prev_kind`` (None = start of the sequence)."""
    return _GRAMMAR.get(prev_kind, ())


def bar_positions(ts: tuple[int, int]) -> int:
    """Number of 16th-note positions in a bar of time signature ``ts`` (4/4 -> 16, 6/8 -> 12)."""
    num, den = ts
    return max(1, round(16 * num / den))


def tempo_bin(bpm: float) -> int:
    """The TEMPO bin (0..15) nearest to ``bpm`` on a log scale; outside 40-240 -> end bins."""
    bpm = float(bpm)
    if not bpm > 0 or not math.isfinite(bpm):
        raise InvalidParamsError(f"Tempo {bpm!r} bpm is not a tempo.", hint="Use 40-240 bpm.")
    x = (N_TEMPO_BINS - 1) * math.log(bpm / TEMPO_MIN) / math.log(TEMPO_MAX / TEMPO_MIN)
    return int(min(N_TEMPO_BINS - 1, max(0, math.floor(x + 0.5))))


def _nearest(bins: Sequence[int], value: float) -> int:
    return min(bins, key=lambda b: (abs(b - value), b))


def velocity_bin(velocity: float) -> int:
    """Nearest VEL value (ties to the softer)."""
    return _nearest(VELOCITIES, velocity)


def duration_bin(sixteenths: float) -> int:
    """Nearest DUR value in 16ths (ties to the shorter; under one 16th -> 1)."""
    return _nearest(DURATIONS, max(1.0, sixteenths))


def _fold_pitch(pitch: int) -> int:
    while pitch < PITCH_MIN:
        pitch += 12
    while pitch > PITCH_MAX:
        pitch -= 12
    return pitch


def _key_name(value: object) -> str | None:
    if value is None or (isinstance(value, str) and value.strip().lower() == "none"):
        return None
    key = value if isinstance(value, Key) else parse_key(str(value))
    return str(key)


class Vocab:
    """Token ids <-> (kind, value). See the module docstring for the layout."""

    def __init__(self) -> None:
        table: list[tuple[str, Any]] = [("PAD", None), ("BOS", None), ("EOS", None)]
        table.append(("BAR", None))
        table += [("STYLE", s) for s in STYLES]
        table += [("KEY", k) for k in KEYS] + [("KEY", None)]
        table += [("TS", ts) for ts in TIME_SIGNATURES]
        table += [("TEMPO", i) for i in range(N_TEMPO_BINS)]
        table += [("POS", p) for p in range(N_POSITIONS)]
        table += [("TRK", t) for t in range(N_TRACKS)]
        table += [("PITCH", p) for p in range(PITCH_MIN, PITCH_MAX + 1)]
        table += [("VEL", v) for v in VELOCITIES]
        table += [("DUR", d) for d in DURATIONS]
        self._table = table
        self.size: int = len(table)
        kinds: list[str] = []
        for kind, _ in table:
            if kind not in kinds:
                kinds.append(kind)
        self.kinds: tuple[str, ...] = tuple(kinds)
        self.kind_of: np.ndarray = np.array([kinds.index(k) for k, _ in table], dtype=np.int64)
        self.names: list[str] = [self._name(k, v) for k, v in table]
        self._ids = {(k, v): i for i, (k, v) in enumerate(table)}
        self._by_kind = {
            k: np.array([i for i, (kk, _) in enumerate(table) if kk == k], dtype=np.int64)
            for k in kinds
        }
        for arr in self._by_kind.values():
            arr.setflags(write=False)
        self.kind_of.setflags(write=False)

    @staticmethod
    def _name(kind: str, value: Any) -> str:
        if value is None:
            return "KEY_none" if kind == "KEY" else kind
        if kind == "TS":
            return f"TS_{value[0]}/{value[1]}"
        return f"{kind}_{str(value).replace(' ', '_')}"

    def id(self, kind: str, value: Any = None) -> int:
        """Token id of ``kind`` (and ``value``): id("PITCH", 60), id("KEY", "D major"), ..."""
        kind = kind.upper()
        try:
            if kind == "KEY":
                value = _key_name(value)
            elif kind == "TS" and value is not None:
                if isinstance(value, str):
                    num, den = value.split("/")
                    value = (int(num), int(den))
                value = (int(value[0]), int(value[1]))
            elif kind == "STYLE" and value is not None:
                value = str(value)
            elif value is not None:
                value = int(value)
            return self._ids[(kind, value)]
        except (KeyError, ValueError, TypeError, IndexError, InvalidParamsError):
            raise InvalidParamsError(
                f"There is no {kind} token for {value!r}.",
                hint=f"Valid values: {[self.value(i) for i in self.ids(kind)]}"
                if kind in self._by_kind
                else f"Token kinds: {', '.join(self.kinds)}.",
            ) from None

    def kind(self, token: int) -> str:
        return self._table[int(token)][0]

    def value(self, token: int) -> Any:
        """The token's value: 60, "D major" (None for KEY_none), (3, 4), "folk", a bin index."""
        return self._table[int(token)][1]

    def ids(self, kind: str) -> np.ndarray:
        """All ids of ``kind``, in value order (read-only array)."""
        return self._by_kind[kind.upper()]

    def __len__(self) -> int:
        return self.size


VOCAB = Vocab()


def _style_track_count(style: str | None) -> int:
    return len(STYLE_TRACKS[style]) if style in STYLE_TRACKS else N_TRACKS


class GrammarState:
    """Incremental grammar for sampling: :meth:`allowed` is a boolean mask over the vocabulary of
    the tokens that may come next (kinds and values), :meth:`feed` takes the chosen token.

    After EOS only PAD is allowed (so a mask is never all False).
    """

    def __init__(self) -> None:
        self.prev: str | None = None
        self.style: str | None = None
        self.ts: tuple[int, int] = (4, 4)
        self.bars = 0
        self.pos = -1  # last position in this bar (-1: none yet)
        self.trk = -1  # last track at this position
        self.pitch = PITCH_MAX + 1  # last pitch of that track at this position

    def allowed(self) -> np.ndarray:
        mask = np.zeros(VOCAB.size, dtype=bool)
        if self.prev == "EOS":
            mask[VOCAB.id("PAD")] = True
            return mask
        for kind in allowed_next(self.prev):
            ids = VOCAB.ids(kind)
            if kind == "POS":
                lo, hi = self.pos + 1, min(N_POSITIONS, bar_positions(self.ts))
                mask[ids[lo:hi]] = True
            elif kind == "TRK":
                n = _style_track_count(self.style)
                lo = self.trk if self.pitch > PITCH_MIN else self.trk + 1
                mask[ids[max(0, lo) : n]] = True
            elif kind == "PITCH":
                mask[ids[: self.pitch - PITCH_MIN]] = True
            else:
                mask[ids] = True
        return mask

    def feed(self, token: int, *, check: bool = True) -> None:
        """Advance by ``token``; raises InvalidParamsError if it is not allowed here.
        ``check=False`` skips that test for a token the caller drew from :meth:`allowed`."""
        token = int(token)
        if check and not (0 <= token < VOCAB.size and self.allowed()[token]):
            name = VOCAB.names[token] if 0 <= token < VOCAB.size else str(token)
            raise InvalidParamsError(f"Token {name} may not follow {self.prev or 'the start'}.")
        kind, value = VOCAB.kind(token), VOCAB.value(token)
        if kind == "STYLE":
            self.style = value
        elif kind == "TS":
            self.ts = value
        elif kind == "BAR":
            self.bars += 1
            self.pos = -1
        elif kind == "POS":
            self.pos = value
            self.trk, self.pitch = -1, PITCH_MAX + 1
        elif kind == "TRK":
            if value != self.trk:
                self.trk, self.pitch = value, PITCH_MAX + 1
        elif kind == "PITCH":
            self.pitch = value
        self.prev = kind


def allowed_mask(prefix: Iterable[int]) -> np.ndarray:
    """Boolean mask of the tokens that may follow ``prefix`` (a valid sequence so far)."""
    state = GrammarState()
    for token in prefix:
        state.feed(token)
    return state.allowed()


def _check_style(style: str) -> str:
    if style not in STYLES:
        raise InvalidParamsError(
            f"Unknown music style {style!r}.", hint=f"Use one of: {', '.join(STYLES)}."
        )
    return style


def encode(score: Score, style: str) -> list[int]:
    """The score as a token sequence BOS STYLE KEY TS TEMPO (BAR ...)+ EOS."""
    _check_style(style)
    ts = (int(score.time_signature[0]), int(score.time_signature[1]))
    if ts not in TIME_SIGNATURES:
        raise InvalidParamsError(
            f"Time signature {ts[0]}/{ts[1]} cannot be turned into tokens.",
            hint="Use one of: " + ", ".join(f"{n}/{d}" for n, d in TIME_SIGNATURES) + ".",
        )
    n_tracks = _style_track_count(style)
    step = score.tpq / 4  # ticks per 16th
    per_bar = bar_positions(ts)

    cells: dict[tuple[int, int, int], tuple[int, int]] = {}  # (q, trk, pitch) -> (dur, vel)
    for n in score.notes:
        if not 0 <= n.track < n_tracks:
            raise InvalidParamsError(
                f"A note is on track {n.track + 1}, but the {style!r} style has "
                f"{n_tracks} track(s).",
                hint="Move the note to one of the style's tracks or pick another style.",
            )
        q = max(0, math.floor(n.start / step + 0.5))
        pitch = _fold_pitch(int(n.pitch))
        dur = duration_bin(n.duration / step)
        vel = velocity_bin(n.velocity)
        cell = (q, n.track, pitch)
        if cell not in cells or dur > cells[cell][0]:
            cells[cell] = (dur, vel)

    n_bars = max([score.n_bars] + [q // per_bar + 1 for q, _, _ in cells])
    if n_bars > MAX_BARS:  # checked before the per-bar lists are allocated
        raise InvalidParamsError(
            f"The piece is {n_bars:,} bars long; GenStudio turns up to {MAX_BARS:,} bars into "
            "tokens.",
            hint="Use a shorter clip.",
        )
    by_bar: list[list[tuple[int, int, int, int, int]]] = [[] for _ in range(n_bars)]
    for (q, trk, pitch), (dur, vel) in cells.items():
        by_bar[q // per_bar].append((q % per_bar, trk, -pitch, dur, vel))

    v = VOCAB
    key = None if score.key is None else str(score.key)
    out = [
        v.id("BOS"),
        v.id("STYLE", style),
        v.id("KEY", key),
        v.id("TS", ts),
        v.id("TEMPO", tempo_bin(score.tempo)),
    ]
    for events in by_bar:
        out.append(v.id("BAR"))
        last_pos = -1
        for pos, trk, neg_pitch, dur, vel in sorted(events):
            if pos != last_pos:
                out.append(v.id("POS", pos))
                last_pos = pos
            out += [v.id("TRK", trk), v.id("PITCH", -neg_pitch), v.id("VEL", vel)]
            out.append(v.id("DUR", dur))
    out.append(v.id("EOS"))
    return out


def style_tracks(style: str | None, n: int = 0) -> list[Track]:
    """Fresh copies of the style's tracks, extended to at least ``n`` with generic tracks."""
    tracks = [replace(t) for t in STYLE_TRACKS.get(style or "", [])]
    tracks += [Track(f"Track {i + 1}") for i in range(len(tracks), n)]
    return tracks


def decode(tokens: Iterable[int], *, tempo: float | None = None) -> Score:
    """Tokens -> Score (tolerant: tokens that break the grammar are skipped, never raises)."""
    table = VOCAB._table
    header: dict[str, Any] = {}
    bars = 0
    pos: int | None = None
    per_bar = bar_positions((4, 4))
    note: list = []  # [trk, pitch, vel] collected so far for the note being read
    notes: dict[tuple[int, int, int], tuple[int, int]] = {}  # (start, trk, pitch) -> (dur, vel)
    for raw in tokens:
        try:
            token = int(raw)
        except (TypeError, ValueError, OverflowError):
            continue
        if not 0 <= token < VOCAB.size:
            continue
        kind, value = table[token]
        if kind == "EOS":
            break
        if kind in ("STYLE", "KEY", "TS", "TEMPO"):
            if bars == 0 and kind not in header:
                header[kind] = value
                if kind == "TS":
                    per_bar = bar_positions(value)
            continue
        if kind == "BAR":
            bars += 1
            pos, note = None, []
        elif kind == "POS":
            pos = value if bars and value < per_bar else None
            note = []
        elif kind == "TRK":
            ok = pos is not None and value < _style_track_count(header.get("STYLE"))
            note = [value] if ok else []
        elif kind == "PITCH":
            note = note + [value] if len(note) == 1 else []
        elif kind == "VEL":
            note = note + [value] if len(note) == 2 else []
        elif kind == "DUR":
            if len(note) == 3 and pos is not None:
                trk, pitch, vel = note
                cell = ((bars - 1) * per_bar + pos, trk, pitch)
                if cell not in notes or value > notes[cell][0]:
                    notes[cell] = (value, vel)
            note = []
        # PAD, BOS: skipped

    style = header.get("STYLE")
    ts = header.get("TS", (4, 4))
    key_name = header.get("KEY")
    if tempo is not None:
        bpm = float(tempo)
    else:
        bpm = TEMPO_BPM[header["TEMPO"]] if "TEMPO" in header else 120.0
    n_tracks = max((trk + 1 for _, trk, _ in notes), default=0)
    score = Score(
        tracks=style_tracks(style, n_tracks),
        tempo=bpm,
        time_signature=ts,
        key=parse_key(key_name) if key_name else None,
        bars=bars,
        tpq=TPQ,
    )
    out = [
        Note(q * STEP, pitch, dur * STEP, vel, trk) for (q, trk, pitch), (dur, vel) in notes.items()
    ]
    return score.with_notes(out)
