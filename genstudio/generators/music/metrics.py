"""Objective descriptors of a piece (numpy only), after MusPy (Dong et al. 2020) and Yang & Lerch
(2020), plus key estimation (Krumhansl & Kessler 1982 profiles).

Used by ``genstudio eval music`` (generated vs held-out corpus), by the loop-seam check, and
to read the key of a user's MIDI file that has no key signature.

* ``pitch_class_entropy`` - Shannon entropy (bits) of the duration-free pitch-class histogram.
* ``scale_consistency`` - the largest share of notes inside one of the 24 major/minor scales.
* ``groove_consistency`` - 1 - mean Hamming distance between the onset patterns (16th grid)
  of adjacent bars, divided by the grid length.
* ``empty_bar_rate`` - share of bars without an onset.
* ``polyphony`` - mean number of sounding pitches at time steps where at least one sounds.
* ``note_density`` - onsets per bar.
* ``pitch_range`` - highest minus lowest pitch (semitones).
Drum tracks are left out of every pitch-based measure.
"""

from __future__ import annotations

import numpy as np

from genstudio.generators.music.score import Key, Note, Score

_MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
_MAJOR = np.array([1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1], bool)
_MINOR = np.array([1, 0, 1, 1, 0, 1, 0, 1, 1, 0, 1, 0], bool)  # natural minor
METRIC_NAMES = (
    "pitch_class_entropy",
    "scale_consistency",
    "groove_consistency",
    "empty_bar_rate",
    "polyphony",
    "note_density",
    "pitch_range",
)


def pitched(score: Score) -> list[Note]:
    return [n for n in score.notes if not score.tracks[n.track].is_drum]


def pc_histogram(notes: list[Note], weighted: bool = False) -> np.ndarray:
    h = np.zeros(12)
    for n in notes:
        h[n.pitch % 12] += n.duration if weighted else 1
    return h


def estimate_key(score: Score) -> Key | None:
    """Krumhansl-Kessler: the key whose profile correlates best with the duration-weighted
    pitch-class histogram; None for a piece without pitched notes."""
    h = pc_histogram(pitched(score), weighted=True)
    if h.sum() == 0:
        return None
    best, best_r = None, -2.0
    for tonic in range(12):
        for mode, prof in (("major", _MAJOR_PROFILE), ("minor", _MINOR_PROFILE)):
            r = float(np.corrcoef(h, np.roll(prof, tonic))[0, 1])
            if r > best_r:
                best, best_r = Key(tonic, mode), r
    return best


def pitch_class_entropy(notes: list[Note]) -> float:
    h = pc_histogram(notes)
    if h.sum() == 0:
        return 0.0
    p = h[h > 0] / h.sum()
    return float(-(p * np.log2(p)).sum())


def scale_consistency(notes: list[Note]) -> float:
    h = pc_histogram(notes)
    if h.sum() == 0:
        return 0.0
    best = 0.0
    for tonic in range(12):
        for mask in (_MAJOR, _MINOR):
            best = max(best, float(h[np.roll(mask, tonic)].sum() / h.sum()))
    return best


def onset_grid(score: Score) -> np.ndarray:
    """(bars, 16ths per bar) bool onsets of every track (drums included)."""
    six = score.tpq // 4
    per_bar = max(1, score.bar_ticks // six)
    grid = np.zeros((score.n_bars, per_bar), bool)
    for n in score.notes:
        bar, s = divmod(int(round(n.start / six)), per_bar)
        if bar < score.n_bars:
            grid[bar, s] = True
    return grid


def groove_consistency(score: Score) -> float:
    g = onset_grid(score)
    if len(g) < 2:
        return 1.0
    return float(1.0 - np.mean(np.logical_xor(g[1:], g[:-1]).mean(axis=1)))


def empty_bar_rate(score: Score) -> float:
    g = onset_grid(score)
    return float((~g.any(axis=1)).mean()) if len(g) else 1.0


def polyphony(score: Score) -> float:
    six = score.tpq // 4
    steps = max(1, score.length_ticks // six)
    count = np.zeros(steps + 1, int)
    for n in pitched(score):
        a = n.start // six
        b = max(a + 1, (n.start + n.duration) // six)
        count[a : min(b, steps)] += 1
    sounding = count[count > 0]
    return float(sounding.mean()) if len(sounding) else 0.0


def note_density(score: Score) -> float:
    return len(score.notes) / max(1, score.n_bars)


def pitch_range(notes: list[Note]) -> float:
    if not notes:
        return 0.0
    p = [n.pitch for n in notes]
    return float(max(p) - min(p))


def describe(score: Score) -> dict[str, float]:
    notes = pitched(score)
    return {
        "pitch_class_entropy": pitch_class_entropy(notes),
        "scale_consistency": scale_consistency(notes),
        "groove_consistency": groove_consistency(score),
        "empty_bar_rate": empty_bar_rate(score),
        "polyphony": polyphony(score),
        "note_density": note_density(score),
        "pitch_range": pitch_range(notes),
    }


def in_key_share(score: Score, key: Key) -> float:
    """Share of pitched notes whose pitch class is in ``key``'s scale (key-lock adherence)."""
    notes = pitched(score)
    if not notes:
        return 1.0
    scale = key.scale()
    return sum(n.pitch % 12 in scale for n in notes) / len(notes)


def bar_slice(score: Score, first: int, count: int) -> Score:
    """Bars ``first .. first+count`` (wrapping around the end) as a new score starting at 0."""
    bt = score.bar_ticks
    out: list[Note] = []
    for j in range(count):
        bar = (first + j) % score.n_bars
        for n in score.notes:
            if bar * bt <= n.start < (bar + 1) * bt:
                out.append(
                    Note(n.start - bar * bt + j * bt, n.pitch, n.duration, n.velocity, n.track)
                )
    return Score(
        score.tracks, sorted(out), score.tempo, score.time_signature, score.key, count, score.tpq
    )


def boundary_profile(score: Score, a: int, b: int) -> dict[str, float]:
    """Descriptors of the two-bar window ``bar a`` followed by ``bar b`` - an inner boundary
    when b = a + 1, the loop seam when a is the last bar and b = 0."""
    bt = score.bar_ticks
    first = bar_slice(score, a, 1)
    second = bar_slice(score, b, 1)
    notes = first.notes + [
        Note(n.start + bt, n.pitch, n.duration, n.velocity, n.track) for n in second.notes
    ]
    window = Score(
        score.tracks, sorted(notes), score.tempo, score.time_signature, score.key, 2, score.tpq
    )
    d = describe(window)
    # the melodic leap across the bar line: last pitch of bar a -> first pitch of bar b (top voice)
    top_a = max(pitched(first), key=lambda n: (n.start, n.pitch), default=None)
    top_b = min(pitched(second), key=lambda n: (n.start, -n.pitch), default=None)
    d["leap"] = float(abs(top_a.pitch - top_b.pitch)) if top_a and top_b else 0.0
    return d
