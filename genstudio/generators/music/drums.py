"""Drums mode: add a General MIDI drum part to a clip, rule-guided and seeded (numpy only).

The corpus GenStudio trains on has no drums, so instead of a model this is a small drummer
that follows rules a session drummer would: the meter decides the groove (simple meters: kick
on the strong beats, snare on the back beats, hi-hat on eighths; compound meters 6/8, 9/8,
12/8: a pulse on every dotted quarter with hi-hat on every eighth; 3/4 and 3/8: a waltz), the
clip's own rhythm decides the extra kicks (kicks join the clip's lowest-voice onsets on weak
sixteenths, so the drums lock to the bass), phrases (every 4th bar) end in a fill, the last
bar ends on a crash, and velocities accent the beat hierarchy with a seeded humanising jitter.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from genstudio.generators.music.score import Note, Score, Track

KICK, SNARE, HAT_CLOSED, HAT_OPEN, CRASH, RIDE = 36, 38, 42, 46, 49, 51
TOM_HI, TOM_MID, TOM_LO = 50, 47, 45
DRUM_TRACK = Track("Drums", 0, True)


def _grid(score: Score) -> tuple[int, bool, int]:
    """(sixteenths per bar, compound meter?, sixteenths per beat group)."""
    num, den = score.time_signature
    per_bar = num * 16 // den
    compound = den == 8 and num % 3 == 0 and num > 3
    group = 6 if compound else max(1, 16 // den)
    return per_bar, compound, group


def pattern(score: Score) -> list[tuple[int, int, int]]:
    """One bar of the basic groove: (sixteenth, drum note, velocity)."""
    per_bar, compound, group = _grid(score)
    num, den = score.time_signature
    hits: list[tuple[int, int, int]] = []
    if compound:
        for g, start in enumerate(range(0, per_bar, 6)):
            hits.append((start, KICK if g % 2 == 0 else SNARE, 100 if g == 0 else 88))
        hits += [(s, HAT_CLOSED, 70 if s % 6 == 0 else 52) for s in range(0, per_bar, 2)]
    elif num == 3:  # waltz: kick on 1, hats (or snare) on 2 and 3
        hits.append((0, KICK, 104))
        hits += [(group * b, SNARE, 72) for b in (1, 2)]
        hits += [(s, HAT_CLOSED, 60 if s % group == 0 else 46) for s in range(0, per_bar, 2)]
    else:
        beats = max(1, per_bar // group)
        for b in range(beats):
            strong = b % 2 == 0
            hits.append((b * group, KICK if strong else SNARE, 100 if b == 0 else 90))
        hits += [(s, HAT_CLOSED, 66 if s % group == 0 else 50) for s in range(0, per_bar, 2)]
    return hits


def fill(score: Score, rng: np.random.Generator) -> list[tuple[int, int, int]]:
    """The last beat group of a phrase: a run down the toms on sixteenths."""
    per_bar, _, group = _grid(score)
    n = min(per_bar, max(group, 4))
    toms = [TOM_HI, TOM_HI, TOM_MID, TOM_MID, TOM_LO, TOM_LO, SNARE, SNARE]
    if rng.random() < 0.5:
        toms = [SNARE] * 2 + toms[:-2]
    return [(per_bar - n + i, toms[i % len(toms)], 80 + 4 * i) for i in range(n)]


def add_drums(
    score: Score,
    *,
    seed: int = 0,
    phrase: int = 4,
    intensity: float = 1.0,
    bars: int | None = None,
) -> Score:
    """A copy of ``score`` with its drum track replaced by a new one that fits its meter,
    rhythm and length. ``bars``: the length to play instead (a clip without notes has no length
    of its own); None = the score's."""
    rng = np.random.Generator(np.random.PCG64(seed))
    per_bar, _, group = _grid(score)
    six = score.tpq // 4
    tracks = [t for t in score.tracks if not t.is_drum]
    keep = [i for i, t in enumerate(score.tracks) if not t.is_drum]
    remap = {old: new for new, old in enumerate(keep)}
    notes = [replace(n, track=remap[n.track]) for n in score.notes if n.track in remap]
    drum_ix = len(tracks)
    tracks.append(DRUM_TRACK)
    # the lowest sounding voice's onsets, per bar, on the sixteenth grid
    low: dict[int, set[int]] = {}
    if notes:
        bottom = max(
            range(len(tracks) - 1),
            key=lambda t: -float(np.mean([n.pitch for n in notes if n.track == t] or [128])),
        )
        for n in notes:
            if n.track == bottom:
                bar, s = divmod(round(n.start / six), per_bar)
                low.setdefault(bar, set()).add(s)
    base = pattern(score)
    out: list[Note] = []
    n_bars = int(bars) if bars else score.n_bars
    for bar in range(n_bars):
        hits = list(base)
        last_of_phrase = (bar + 1) % phrase == 0 and bar != n_bars - 1
        if last_of_phrase:
            f = fill(score, rng)
            first = f[0][0]
            hits = [h for h in hits if h[0] < first] + f
        for s in sorted(low.get(bar, ())):
            if s % group and s % 2 == 0 and rng.random() < 0.6 * intensity:
                hits.append((s, KICK, 84))
        if bar == 0 or bar == n_bars - 1 or (bar % phrase == 0):
            hits.append((0, CRASH, 96))
        seen: set[tuple[int, int]] = set()
        for s, pitch, vel in sorted(hits):
            if (s, pitch) in seen or s >= per_bar:
                continue
            seen.add((s, pitch))
            v = int(np.clip(vel * (0.75 + 0.25 * intensity) + rng.normal(0, 4), 1, 127))
            out.append(Note(bar * score.bar_ticks + s * six, pitch, six, v, drum_ix))
    return replace(
        score,
        tracks=tracks,
        notes=sorted(notes + out, key=lambda n: (n.start, n.track, n.pitch)),
        bars=n_bars,
    )
