"""``genstudio eval music``: generated pieces vs held-out corpus pieces, per style.

* **Descriptors** (``generators.music.metrics``): pitch-class entropy, scale consistency, groove
  consistency, empty-bar rate, polyphony, note density, pitch range - the mean over >= 200
  generated pieces of ``bars`` bars beside the mean over the held-out pieces of that style, each
  cut to the same number of bars, and their relative difference (target: within 10%).
* **Silent bars**: the generator forbids a generated bar without notes (no held-out piece has
  one); ``n_raw`` more pieces per style with silent bars allowed give the raw model's rate.
* **Key lock**: share of generated notes inside the requested key's scale (target 100%).
* **Validity**: every generated MIDI file read back by mido and by music21 with the requested
  bars, tempo and time signature.
* **Loop seam**: for Loop-mode pieces, the descriptors of the two-bar window (last bar, first
  bar) beside those of the inner windows (bar i, bar i+1) of the same pieces: the seam "scores
  like an inner boundary" when its mean lies inside the inner windows' 10-90% band, per metric.
* **Continue**: held-out openings (4 bars) continued by 8 bars with the key lock off; the key
  estimated on the new bars alone (Krumhansl-Kessler) vs the opening's key, beside the same
  estimate on the real piece's bars 5-12 (the ceiling of that noisy estimate); with the key lock
  on (the default), the share of new notes in the opening's scale; the meter of the result.
"""

from __future__ import annotations

import io
import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)
STYLES = ("chorale", "folk", "melody_accomp")
TEMPO = {"chorale": 80.0, "folk": 112.0, "melody_accomp": 96.0}


def _mean(rows: list[dict[str, float]]) -> dict[str, float]:
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]} if rows else {}


def _crop(score, bars: int):
    from genstudio.generators.music.metrics import bar_slice

    return bar_slice(score, 0, min(bars, score.n_bars))


def check_midi(
    data: bytes, bars: int, tempo: float, ts: tuple[int, int], *, with_music21: bool = True
) -> list[str]:
    """Problems independent readers find (mido, and music21 unless told not to, as it is slow);
    [] when the file is right."""
    import mido

    problems = []
    mf = mido.MidiFile(file=io.BytesIO(data))
    metas = [m for t in mf.tracks for m in t if m.is_meta]
    tempos = [round(mido.tempo2bpm(m.tempo), 1) for m in metas if m.type == "set_tempo"]
    if not tempos or abs(tempos[0] - tempo) > 0.1:
        problems.append(f"mido tempo {tempos} != {tempo}")
    sigs = [(m.numerator, m.denominator) for m in metas if m.type == "time_signature"]
    if not sigs or sigs[0] != tuple(ts):
        problems.append(f"mido time signature {sigs} != {ts}")
    ticks = max(sum(m.time for m in t) for t in mf.tracks)
    want = bars * mf.ticks_per_beat * 4 * ts[0] // ts[1]
    if ticks != want:
        problems.append(f"mido length {ticks} ticks != {bars} bars ({want})")
    if with_music21:
        # music21 builds measures from the notes (it ignores silence after the last one), so it
        # must see every bar up to the one holding the last note - the last bar, for generated
        # pieces, whose grammar ends every piece on a note
        from music21 import converter

        bar_ticks = mf.ticks_per_beat * 4 * ts[0] // ts[1]
        last_on = 0
        for t in mf.tracks:
            now = 0
            for m in t:
                now += m.time
                if m.type == "note_on" and m.velocity > 0:
                    last_on = max(last_on, now)
        want_m = last_on // bar_ticks + 1
        s = converter.parseData(data, format="midi")
        measures = max(len(p.getElementsByClass("Measure")) for p in s.parts)
        if measures != want_m:
            problems.append(f"music21 reads {measures} measures, not {want_m}")
        if want_m != bars:
            problems.append(f"the last note is in bar {want_m}, not in the last bar ({bars})")
    return problems


def evaluate(
    data_dir: Path,
    *,
    n: int = 200,
    bars: int = 16,
    pack_dir: Path | None = None,
    styles=STYLES,
    n_loop: int = 40,
    n_continue: int = 40,
    music21_check: int | None = None,  # files also read by music21 (None = all)
    n_raw: int = 100,  # pieces per style with silent bars allowed (the raw model's rate)
    seed: int = 0,
    progress=None,
) -> dict[str, Any]:
    from genstudio.generators.music import metrics, midi
    from genstudio.generators.music import tokens as tk
    from genstudio.generators.music.generator import MusicGenerator, MusicParams
    from genstudio.generators.music.score import Key
    from genstudio.ml.music import data

    gen = MusicGenerator(pack_dir)
    rng = np.random.Generator(np.random.PCG64(seed))
    out: dict[str, Any] = {"n_per_style": n, "bars": bars, "styles": {}}
    t0 = time.time()
    invalid: list[str] = []
    checked = 0
    for style in styles:
        held = [s for s, _ in data.load(data_dir, "heldout", style=style)]
        held = [s for s in held if s.time_signature in tk.TIME_SIGNATURES and s.n_bars >= 4]
        if not held:
            out["styles"][style] = {"skipped": "no held-out pieces of this style in the cache"}
            continue
        # keys and meters are drawn from the held-out pieces so both sides ask for the same things
        real_rows = [metrics.describe(_crop(s, bars)) for s in held]
        gen_rows, lock = [], []
        for i in range(n):
            ref = held[int(rng.integers(len(held)))]
            key = ref.key or metrics.estimate_key(ref) or Key(0, "major")
            ts = ref.time_signature
            p = MusicParams(
                style=style,
                key=str(key),
                tempo=TEMPO[style],
                time_signature=f"{ts[0]}/{ts[1]}",
                bars=bars,
                seed=seed * 100_000 + i,
                audio=False,
            )
            score, _ = gen.compose(p, p.seed)
            gen_rows.append(metrics.describe(score))
            lock.append(metrics.in_key_share(score, key))
            blob = midi.midi_bytes(score)
            full = music21_check is None or checked < music21_check
            bad = check_midi(blob, bars, TEMPO[style], ts, with_music21=full)
            checked += int(full)
            invalid += [f"{style} #{i}: {b}" for b in bad]
            if progress:
                progress(f"{style} {i + 1}/{n}")
        # the raw model, without the "no silent bars" constraint the generator applies
        raw_empty = []
        for i in range(n_raw):
            ref = held[int(rng.integers(len(held)))]
            ts = ref.time_signature
            p = MusicParams(
                style=style,
                key=str(ref.key or metrics.estimate_key(ref) or Key(0, "major")),
                tempo=TEMPO[style],
                time_signature=f"{ts[0]}/{ts[1]}",
                bars=bars,
                seed=seed * 100_000 + 50_000 + i,
                audio=False,
                silent_bars=True,
            )
            raw_empty.append(metrics.describe(gen.compose(p, p.seed)[0])["empty_bar_rate"])
        g, r = _mean(gen_rows), _mean(real_rows)
        out["styles"][style] = {
            "n_generated": len(gen_rows),
            "n_heldout": len(real_rows),
            "metrics": {
                k: {
                    "generated": g[k],
                    "heldout": r[k],
                    "rel_diff": abs(g[k] - r[k]) / max(abs(r[k]), 1e-9),
                    "abs_diff": abs(g[k] - r[k]),
                    "within_10pct": bool(abs(g[k] - r[k]) <= 0.1 * max(abs(r[k]), 1e-9)),
                }
                for k in metrics.METRIC_NAMES
            },
            "key_lock_in_scale": float(np.mean(lock)),
            "raw_model_empty_bar_rate": {
                "generated_silent_bars_allowed": float(np.mean(raw_empty)) if raw_empty else None,
                "n": len(raw_empty),
            },
        }
    out["validity"] = {
        "files": sum(v.get("n_generated", 0) for v in out["styles"].values()),
        "music21_checked": checked,
        "problems": invalid[:50],
        "valid_share": 1.0 - len({p.split(":")[0] for p in invalid}) / max(1, n * len(styles)),
    }
    out["loop"] = _loop_seams(gen, n_loop, bars=8, seed=seed)
    out["continue"] = _continue(gen, data_dir, n_continue, seed=seed)
    out["wall_s"] = time.time() - t0
    return out


def _loop_seams(gen, n: int, *, bars: int, seed: int) -> dict[str, Any]:
    from genstudio.generators.music import metrics
    from genstudio.generators.music.generator import MusicParams

    seams, inner = [], []
    for i in range(n):
        style = STYLES[i % len(STYLES)]
        p = MusicParams(
            mode="loop",
            style=style,
            key="D major",
            bars=bars,
            seed=seed + i,
            audio=False,
            tempo=TEMPO[style],
        )
        score, _ = gen.compose(p, p.seed)
        seams.append(metrics.boundary_profile(score, bars - 1, 0))
        inner += [metrics.boundary_profile(score, b, b + 1) for b in range(bars - 1)]
    result = {}
    for k in seams[0]:
        s = np.array([x[k] for x in seams])
        w = np.array([x[k] for x in inner])
        lo, hi = np.percentile(w, [10, 90])
        result[k] = {
            "seam_mean": float(s.mean()),
            "inner_mean": float(w.mean()),
            "inner_p10": float(lo),
            "inner_p90": float(hi),
            "like_inner": bool(lo <= s.mean() <= hi),
        }
    return {"pieces": n, "bars": bars, "metrics": result}


def _continue(gen, data_dir: Path, n: int, *, seed: int) -> dict[str, Any]:
    import tempfile

    from genstudio.generators.music import metrics, midi
    from genstudio.generators.music import tokens as tk
    from genstudio.generators.music.generator import MusicParams
    from genstudio.ml.music import data

    pieces = [
        s
        for s, _ in data.load(data_dir, "heldout")
        if s.n_bars >= 6 and s.time_signature in tk.TIME_SIGNATURES and s.key is not None
    ][:n]
    same_key, same_sig, same_meter, rows = 0, 0, 0, []
    real_key, real_sig, in_scale = 0, 0, []
    with tempfile.TemporaryDirectory() as tmp:
        for i, s in enumerate(pieces):
            opening = replace(metrics.bar_slice(s, 0, 4), key=s.key)
            path = Path(tmp) / f"{i}.mid"
            midi.write_midi(opening, path)
            style = (
                "chorale"
                if len(s.tracks) >= 4
                else ("melody_accomp" if len(s.tracks) == 2 else "folk")
            )
            p = MusicParams(
                mode="continue",
                style=style,
                key="",
                bars=8,
                inputs=(str(path),),
                seed=seed + i,
                audio=False,
                key_lock=False,
            )
            score, _ = gen.compose(p, p.seed)
            new = metrics.bar_slice(score, 4, 8)
            est = metrics.estimate_key(new)
            same_key += int(est == s.key)
            same_sig += int(est is not None and est.sharps == s.key.sharps)
            # the ceiling of this measurement: the same estimate on the piece's own bars 5-12
            real = metrics.estimate_key(metrics.bar_slice(s, 4, min(8, s.n_bars - 4)))
            real_key += int(real == s.key)
            real_sig += int(real is not None and real.sharps == s.key.sharps)
            locked = replace(p, key_lock=True)
            locked_new = metrics.bar_slice(gen.compose(locked, p.seed)[0], 4, 8)
            in_scale.append(metrics.in_key_share(locked_new, s.key))
            same_meter += int(score.time_signature == s.time_signature)
            rows.append({"input_key": str(s.key), "continuation_key": str(est)})
    m = max(1, len(pieces))
    return {
        "pieces": len(pieces),
        "key_lock": False,
        "continuation_key_equals_input_key": same_key / m,
        "continuation_key_signature_equals_input": same_sig / m,  # relative major/minor too
        "real_continuation_key_equals_key": real_key / m,  # the corpus's own bars 5-12
        "real_continuation_key_signature_equals_key": real_sig / m,
        "key_locked_notes_in_input_scale": float(np.mean(in_scale)) if in_scale else 1.0,
        "meter_kept": same_meter / m,
        "examples": rows[:10],
    }
