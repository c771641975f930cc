"""``genstudio ml report music``: listen-and-look examples for fixed prompts and seeds, and the
model card (pack README + docs/models/music-gpt.md).

Every example is made through the same generator the studio uses; the MIDI, an OGG rendering
(small enough to commit) and a piano-roll PNG go to ``docs/music/``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: (name, params) - fixed prompts and seeds; "continue" and "drums" use the opening below
EXAMPLES: list[tuple[str, dict[str, Any]]] = [
    (
        "folk-d-major-6-8",
        dict(style="folk", key="D major", time_signature="6/8", bars=16, seed=1, tempo=116),
    ),
    (
        "folk-e-minor-4-4",
        dict(style="folk", key="E minor", time_signature="4/4", bars=16, seed=2, tempo=108),
    ),
    (
        "chorale-g-major",
        dict(style="chorale", key="G major", time_signature="4/4", bars=8, seed=3, tempo=72),
    ),
    (
        "chorale-b-minor",
        dict(style="chorale", key="B minor", time_signature="4/4", bars=8, seed=4, tempo=66),
    ),
    (
        "melody-accomp-a-minor-3-4",
        dict(style="melody_accomp", key="A minor", time_signature="3/4", bars=16, seed=5, tempo=96),
    ),
    (
        "loop-folk-g-major",
        dict(
            mode="loop",
            style="folk",
            key="G major",
            time_signature="4/4",
            bars=8,
            seed=6,
            tempo=120,
        ),
    ),
    ("continue-opening", dict(mode="continue", style="folk", key="", bars=8, seed=7)),
    ("variations-opening", dict(mode="variations", style="folk", key="", seed=8, strength=0.5)),
    ("drums-on-opening", dict(mode="drums", seed=9)),
]


def opening():
    """A public-domain opening to continue: the first phrase of "Twinkle, Twinkle" in C."""
    from genstudio.generators.music.score import Note, Score, Track, parse_key

    tune = [60, 60, 67, 67, 69, 69, 67, None, 65, 65, 64, 64, 62, 62, 60, None]
    notes, t = [], 0
    for p in tune:
        if p is None:
            t += 480
            continue
        notes.append(Note(t, p, 480, 84 if t % 1920 == 0 else 72, 0))
        t += 480
    return Score([Track("Melody", 40)], notes, 100.0, (4, 4), parse_key("C major"), 4)


def write_examples(docs: Path, pack_dir: Path | None = None) -> list[dict[str, Any]]:
    from dataclasses import replace

    from genstudio.core.atomic import atomic_write_bytes
    from genstudio.generators.music import audio_io, midi, pianoroll
    from genstudio.generators.music.generator import MusicGenerator, MusicParams, describe_score
    from genstudio.generators.music.soundfont import render_audio

    out_dir = docs / "music"
    out_dir.mkdir(parents=True, exist_ok=True)
    clip = out_dir / "opening.mid"
    midi.write_midi(opening(), clip)
    gen = MusicGenerator(pack_dir)
    rows = []
    for name, kw in EXAMPLES:
        kw = dict(kw)
        if kw.get("mode") in ("continue", "variations", "drums"):
            kw["inputs"] = (str(clip),)
        p = MusicParams(audio=False, **kw)
        score, info = gen.compose(p, p.seed)
        if p.mode == "drums":
            score = replace(score, tempo=100.0)
        midi.write_midi(score, out_dir / f"{name}.mid")
        r = render_audio(score, soundfont="none", normalize=True)
        audio_io.write_audio(out_dir / f"{name}.ogg", r.audio, r.sample_rate)
        atomic_write_bytes(out_dir / f"{name}.png", pianoroll.png_bytes(score))
        rows.append({"name": name, "params": p.to_dict(), **describe_score(score)})
    (out_dir / "examples.json").write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    return rows


def _fmt(x: Any) -> str:
    return f"{x:.3f}" if isinstance(x, float) else str(x)


def model_card(pack_dir: Path, eval_result: dict | None, bench: dict | None) -> str:
    raw = json.loads((pack_dir / "model.json").read_text(encoding="utf-8"))
    tr = raw.get("training", {})
    net = tr.get("net_config", {})
    size = sum(f.stat().st_size for f in pack_dir.iterdir() if f.is_file()) / 1e6
    lines = [
        f"# Model card: {raw['id']} (version {raw['version']})",
        "",
        "Symbolic music: a decoder-only Transformer (MusicGPT, `genstudio/ml/music/model.py`) "
        "over GenStudio's REMI-like tokens (`genstudio/generators/music/tokens.py`: header "
        "style/key/time signature/tempo, then bars of position, track, pitch, velocity, "
        "duration), exported to ONNX with a KV cache and sampled in numpy under constraints "
        "(key lock, voice ranges, exact bars, meter).",
        "",
        f"- Network: {net.get('n_layer')} layers, {net.get('n_head')} heads, width "
        f"{net.get('d_model')}, context {net.get('max_len')} tokens, vocabulary "
        f"{net.get('vocab')}; pack size {size:.1f} MB.",
        "",
        "## Data and licences",
        "",
        "- The music21 corpus as shipped in the `music21` PyPI package "
        "(`genstudio/ml/music/data.py`): Bach chorales (four voices; also reduced to melody + "
        "accompaniment for the melody_accomp style), O'Neill's 1850, Ryan's Mammoth Collection "
        "and Aird's Airs (folk melodies). The compositions are in the public domain; provenance "
        "(collection, corpus path, tune) is recorded per piece in the data cache's index.json. "
        "Essen (non-commercial) is not used.",
        "- Splits by piece (hash of its provenance id): train / valid / held-out.",
        "- Augmentation: all transpositions (-6..+5) that keep the notes on the piano.",
        "",
        "## Training",
        "",
        f"- Script: `{tr.get('script')}`; steps: {tr.get('steps')}; wall time: "
        f"{_fmt((tr.get('wall_s') or 0) / 60)} min; hardware: {tr.get('hardware')}.",
        f"- Config: `{json.dumps(tr.get('train_config'))}`",
    ]
    for note in tr.get("notes") or []:
        lines.append(f"- {note}")
    if eval_result:
        lines += ["", "## Evaluation (`genstudio eval music`)", ""]
        lines.append(
            f"{eval_result['n_per_style']} generated pieces of {eval_result['bars']} bars per "
            "style vs the held-out pieces of that style cut to the same length."
        )
        for style, row in eval_result["styles"].items():
            lines += [
                "",
                f"### {style} ({row['n_generated']} generated, {row['n_heldout']} held-out)",
                "",
                "| metric | generated | held-out | rel. diff | abs. diff | within 10% |",
                "|---|---|---|---|---|---|",
            ]
            for k, m in row["metrics"].items():
                rel = "n/a (held-out 0)" if m["heldout"] == 0 else _fmt(m["rel_diff"])
                lines.append(
                    f"| {k} | {_fmt(m['generated'])} | {_fmt(m['heldout'])} | {rel} | "
                    f"{_fmt(m.get('abs_diff'))} | {'yes' if m['within_10pct'] else '**no**'} |"
                )
            lines.append(f"\nKey lock: {_fmt(row['key_lock_in_scale'])} of notes in the scale.")
            raw = row.get("raw_model_empty_bar_rate") or {}
            if raw.get("n"):
                lines.append(
                    "\nEmpty bars: the generator forbids a generated bar without a note (no "
                    "held-out piece has one), so the rate above is 0 by construction; the raw "
                    f"model with silent bars allowed: {_fmt(raw['generated_silent_bars_allowed'])} "
                    f"over {raw['n']} more pieces."
                )
        v = eval_result["validity"]
        lines += [
            "",
            f"Validity: {v['files']} MIDI files, {_fmt(v['valid_share'])} read back by mido "
            f"with the requested bars/tempo/meter ({v['music21_checked']} also by music21).",
        ]
        loop = eval_result["loop"]["metrics"]
        lines += ["", "Loop seam (last bar -> first bar) vs inner bar boundaries:", ""]
        lines += [
            "| metric | seam | inner mean | inner 10-90% | like inner |",
            "|---|---|---|---|---|",
        ]
        for k, m in loop.items():
            lines.append(
                f"| {k} | {_fmt(m['seam_mean'])} | {_fmt(m['inner_mean'])} | "
                f"{_fmt(m['inner_p10'])}-{_fmt(m['inner_p90'])} | {'yes' if m['like_inner'] else 'no'} |"
            )
        c = eval_result["continue"]
        lines += [
            "",
            f"Continue ({c['pieces']} held-out openings of 4 bars + 8 new bars): with the key "
            f"lock on (the default) {_fmt(c.get('key_locked_notes_in_input_scale'))} of the new "
            "notes are in the opening's scale. With the lock off, the key estimated on the new "
            f"bars equals the opening's key {_fmt(c['continuation_key_equals_input_key'])} "
            f"(same key signature {_fmt(c['continuation_key_signature_equals_input'])}); the same "
            "estimate on the real pieces' own bars 5-12 gives "
            f"{_fmt(c.get('real_continuation_key_equals_key'))} "
            f"({_fmt(c.get('real_continuation_key_signature_equals_key'))}). Meter kept "
            f"{_fmt(c['meter_kept'])}.",
        ]
    if bench:
        k = bench.get("kv_cache_batch1", {})
        lines += ["", "## Speed (`genstudio bench music`)", ""]
        if k:
            lines.append(
                f"- KV cache, batch 1: ONNX Runtime {_fmt(k['onnxruntime']['p50_tok_s'])} tokens/s "
                f"(p50); PyTorch eager {_fmt(k.get('torch_eager', {}).get('p50_tok_s'))}; ratio "
                f"{_fmt(k.get('ort_vs_torch'))}."
            )
        for key, row in bench.items():
            if key.startswith("generate_32_bars"):
                lines.append(f"- {key}: p50 {_fmt(row['p50_s'])} s, p95 {_fmt(row['p95_s'])} s.")
        a = bench.get("audio_32_bars", {})
        if a:
            lines.append(f"- render 32 bars (synth): p50 {_fmt(a['synth']['p50_s'])} s.")
    lines += [
        "",
        "## Limits",
        "",
        "- No drum model: Drums mode is rule-guided (`drums.py`).",
        "- Tempo tokens come mostly from per-style defaults (the corpus rarely marks "
        "tempo); the requested tempo is always written exactly into the MIDI.",
    ]
    return "\n".join(lines) + "\n"
