"""A piano-roll picture of a Score as PNG bytes (numpy + Pillow; for docs and thumbnails).

Time runs left to right (bar lines darker than beat lines), pitch bottom to top over the
piece's range plus a margin; one colour per track, velocity as brightness; drums in grey.
"""

from __future__ import annotations

import io

import numpy as np

from genstudio.generators.music.score import Score

TRACK_COLOURS = [
    (231, 111, 81),
    (42, 157, 143),
    (233, 196, 106),
    (69, 123, 157),
    (168, 100, 200),
    (244, 162, 97),
    (120, 180, 80),
    (200, 80, 120),
]
BG, BEAT, BAR, BLACK_KEY = (24, 26, 32), (38, 41, 50), (70, 75, 90), (30, 32, 40)


def render(score: Score, *, px_per_beat: int = 16, px_per_pitch: int = 4, max_w: int = 2400):
    """(H, W, 3) uint8 image of ``score``."""
    notes = score.notes
    pitched = [n.pitch for n in notes if not score.tracks[n.track].is_drum]
    lo = (min(pitched) if pitched else 48) - 3
    hi = (max(pitched) if pitched else 72) + 3
    beats = score.length_ticks / score.beat_ticks
    ppb = max(2, min(px_per_beat, int(max_w / max(1.0, beats))))
    w = max(1, int(round(beats * ppb)))
    h = (hi - lo + 1) * px_per_pitch
    img = np.empty((h, w, 3), np.uint8)
    img[:] = BG
    for p in range(lo, hi + 1):  # black keys as darker rows
        if p % 12 in (1, 3, 6, 8, 10):
            y = (hi - p) * px_per_pitch
            img[y : y + px_per_pitch] = BLACK_KEY
    x_of = ppb / score.beat_ticks
    for b in range(int(beats) + 1):
        x = min(w - 1, int(round(b * ppb)))
        bar_line = (b * score.beat_ticks) % score.bar_ticks == 0
        img[:, x] = BAR if bar_line else BEAT
    for n in notes:
        x0 = int(n.start * x_of)
        x1 = max(x0 + 1, int((n.start + n.duration) * x_of) - 1)
        if score.tracks[n.track].is_drum:
            pitch = lo + (n.pitch % (hi - lo + 1))
            colour = np.array((160, 160, 160), float)
        else:
            pitch = n.pitch
            colour = np.array(TRACK_COLOURS[n.track % len(TRACK_COLOURS)], float)
        y0 = (hi - pitch) * px_per_pitch
        shade = 0.45 + 0.55 * (n.velocity / 127.0)
        img[y0 : y0 + px_per_pitch - 1, x0 : min(w, x1)] = (colour * shade).astype(np.uint8)
    return img


def png_bytes(score: Score, **kw) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(render(score, **kw)).save(buf, format="PNG", optimize=True)
    return buf.getvalue()
