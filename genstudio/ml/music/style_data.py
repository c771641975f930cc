"""Material for the music style-adoption measurement (METRICS.md, "Fine-tuning: style adoption").

A public-domain collection of the music21 corpus that the base MusicGPT never saw (its training
data is :mod:`genstudio.ml.music.data`: Bach chorales and four folk-tune books) is converted with
that module's music21 -> Score helpers, cut into short excerpts, split by piece into a training
half and a held-out half, and written as MIDI files::

    <out>/train/<stem>_bars001-016.mid      excerpts of the training pieces (fine-tune on these)
    <out>/heldout/<stem>_bars001-016.mid    excerpts of the held-out pieces (never train on these)
    <out>/manifest.json                     collection, licence, music21 version, rules, every
                                            piece and excerpt with its split, skips + reasons

    python -m genstudio.ml.music.style_data --out runs/style-eval [--collection monteverdi]
        [--bars 16] [--segments N]

Collection (default ``monteverdi``): Claudio Monteverdi's five-voice madrigals, Books 3-5
(Venice 1592, 1603, 1605) - late-Renaissance vocal polyphony: five independent voices with
staggered imitative entries, long rests in single voices, suspensions, text-driven rhythm and a
wider ambitus, where the base's chorales are four-voice, homophonic, quarter-note hymns. See
:data:`COLLECTIONS` for the licence notes and :data:`CONSIDERED` for the folders looked at and
not used (Palestrina's encodings reserve every derivative electronic format, essenFolksong is
non-commercial, ...).

Rules (all recorded in the manifest):

* **Conversion**: ``data._convert_parts`` (bar grid, ties, grace notes dropped, tempo, meter) +
  ``data._clean`` + ``data._make_score`` (velocity: 72 + 10 on the downbeat, + 4 on a beat, as
  the chorales). The continuo part of Book 5 is dropped (it doubles the bass; the five voices are
  kept). These encodings write a whole-bar rest as two whole rests in some parts, which makes a
  4/4 measure 8 quarters long and would open an empty bar in every other voice; rests that run
  past the bar line are cut at the bar line first (``rest_overflow_fixed``; no note ever runs
  past one in this collection - a piece where one does is skipped as ``note_overflow``).
* **Tracks**: the voices ordered by mean pitch, highest first (track 0 = the top voice, like the
  chorales' Soprano-Bass), named after the parts (Canto, Quinto, Alto, Tenor, Basso), GM program
  52 (choir). ``tokens.encode(score, "style4")`` accepts every excerpt (<= 8 tracks, 4/4).
* **Key**: Krumhansl-Kessler (``metrics.estimate_key``) over the whole piece; the MusicXML
  signatures carry Finale's default mode ("major") for modal pieces, so the signature's key is
  only recorded (``signature_key``).
* **Tempo**: the file's first metronome mark (Finale's playback 120), else 100 quarter bpm.
* **Excerpts**: every piece is cut into consecutive ``bars``-bar excerpts from its first bar
  (16 by default; a 5-voice bar is ~50 tokens, so the 384-token window holds ~7 bars); the
  incomplete tail is dropped; ``segments`` keeps at most that many excerpts per piece. A note
  that starts in an excerpt is cut at its end; notes that start before it are not carried in.
  An excerpt in which a voice has no note is skipped (``silent_voice``): a MIDI track without
  notes is not read back, which would shift the voices' track numbers.
* **Split by piece**, balanced and stable: within each book (3, 4, 5) the pieces, less the
  excluded files, in ``sha1(corpus path)`` order go alternately to train and heldout (a plain
  ``sha1 % 2`` gave 30/16); every excerpt of a piece is in its piece's split.
  ``heldout_halves`` (A/B), the two halves of the floor of D, are made the same way from the
  held-out pieces with ``sha1("half:" + path)``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import re
import sys
import time
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from genstudio.core.atomic import atomic_write_json
from genstudio.core.errors import GenStudioError, InvalidParamsError
from genstudio.generators.music.score import Note, Score, Track
from genstudio.ml.music import data

log = logging.getLogger(__name__)

FORMAT = "genstudio-music-style-eval"
VERSION = 1
STYLE_TOKEN = "style4"
DEFAULT_BARS = 16
SPLITS = ("train", "heldout")
PROGRAM = 52  # GM 53 "Choir Aahs", as the chorales
BASE_VELOCITY = 72
DEFAULT_TEMPO = 100.0

COLLECTIONS: dict[str, dict[str, Any]] = {
    "monteverdi": {
        "name": "monteverdi_madrigals",
        "corpus_dir": "monteverdi",
        "glob": "madrigal.*.mxl",
        "title": "Claudio Monteverdi, Il terzo / quarto / quinto libro de madrigali a cinque "
        "voci (Venice 1592, 1603, 1605)",
        "composer": "Claudio Monteverdi (1567-1643)",
        "licence": "public domain (compositions published 1592-1605)",
        "encoding": (
            "MusicXML exported from Finale 2009/2010 (Dolet Light), distributed with music21 "
            "(corpus/monteverdi, with Dmitri Tymoczko's roman-numeral analyses beside them); no "
            "licence file in the folder and no <rights> element, except madrigal.5.4 and 5.5, "
            "whose <rights> (OCR text) reads 'UT ORPHEUS EDIZIONI 2003': those two are left "
            "out. The other files may come from the same modern edition without saying so; the "
            "music21 corpus licence (CORPUS_LICENCE) covers them as it covers the Bach chorales "
            "of the base data (credited 'PDF (c) 2004 Margaret Greentree')."
        ),
        "exclude": {
            "madrigal.3.1_old.mxl": "duplicate: an older encoding of madrigal.3.1",
            "madrigal.5.4.mxl": "rights_notice: <rights> names UT ORPHEUS EDIZIONI 2003",
            "madrigal.5.5.mxl": "rights_notice: <rights> names UT ORPHEUS EDIZIONI 2003",
        },
        "drop_parts": ("continuo",),
        "why": (
            "Never in the base data (data.considered(): 'not used (yet)'); 48 distinct pieces; "
            "a style the base does not have: five-voice late-Renaissance madrigals (imitative "
            "entries, voices resting for bars, suspensions, text-driven rhythm) against the "
            "base's four-voice homophonic chorales and single-line folk tunes."
        ),
    },
}

CONSIDERED: tuple[dict[str, str], ...] = (
    {
        "corpus_dir": "palestrina",
        "decision": "not used",
        "reason": "1,318 mass sections, but every file says 'Copyright 2000, John Miller. Rights "
        "to all derivative electronic formats reserved ... must be accompanied by the licensing "
        "agreement' (not shipped); mostly 4/2 and 3/2, which the token codec does not have",
    },
    {
        "corpus_dir": "essenFolksong",
        "decision": "not used",
        "reason": "its license.txt grants non-commercial distribution and use only",
    },
    {
        "corpus_dir": "trecento",
        "decision": "not used",
        "reason": "transcriptions after the modern PMFC editions (Editions de L'Oiseau-Lyre, "
        "'Edition by Leo Schrade'), ten with an empty 'Copyright (c)'; 2-3 voices, meters the "
        "codec lacks and changes of meter",
    },
    {
        "corpus_dir": "haydn, mozart, beethoven",
        "decision": "not used",
        "reason": "string quartets: ~45 movements in 17 works, long files (slow to parse), tempo "
        "and meter changes inside movements; fewer distinct works than the madrigals",
    },
    {
        "corpus_dir": "josquin, ciconia, luca, lusitano",
        "decision": "not used",
        "reason": "1-8 pieces each: too few for a style",
    },
)

_EPS = 1e-6


def collection(name: str) -> dict[str, Any]:
    try:
        return dict(COLLECTIONS[name])
    except KeyError:
        raise InvalidParamsError(
            f"Unknown style collection {name!r}.", hint=f"Use one of {sorted(COLLECTIONS)}."
        ) from None


def _sha(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def _alternate(paths: list[str], salt: str, group) -> tuple[list[str], list[str]]:
    """Within each group (a book), the paths in sha1(salt + path) order, alternately first and
    second: balanced halves, by piece, stable for a fixed collection."""
    first: list[str] = []
    second: list[str] = []
    groups: dict[str, list[str]] = {}
    for p in paths:
        groups.setdefault(group(p), []).append(p)
    for g in sorted(groups):
        for i, p in enumerate(sorted(groups[g], key=lambda q: _sha(salt + q))):
            (first if i % 2 == 0 else second).append(p)
    return sorted(first), sorted(second)


def book_of(corpus_path: str) -> str:
    """The book of a madrigal ("monteverdi/madrigal.4.12.mxl" -> "4"); else the folder."""
    m = re.match(r"madrigal\.(\d+)\.", Path(corpus_path).name)
    return m.group(1) if m else str(Path(corpus_path).parent)


def assign_splits(paths: list[str]) -> dict[str, str]:
    """piece -> "train" / "heldout": within each book, sha1(path) order, alternately."""
    train, held = _alternate(paths, "", book_of)
    return {**{p: "train" for p in train}, **{p: "heldout" for p in held}}


def heldout_halves(pieces: list[str]) -> dict[str, list[str]]:
    """The two halves of the held-out pieces for the floor: within each book,
    sha1("half:" + path) order, alternately A and B."""
    a, b = _alternate(pieces, "half:", book_of)
    return {"A": a, "B": b}


def piece_files(coll: dict[str, Any]) -> list[str]:
    folder = data.corpus_root() / coll["corpus_dir"]
    return sorted(f"{coll['corpus_dir']}/{p.name}" for p in folder.glob(coll["glob"]))


# --------------------------------------------------------------------------- conversion


def _fix_rest_overflow(parts: list[Any], bar_ql: float) -> int:
    """Cut rests that run past the bar line (whole-bar rests written twice); count the measures.
    A note past the bar line -> SkipPiece("note_overflow")."""
    fixed = 0
    for part in parts:
        for m in part.getElementsByClass("Measure"):
            if float(m.duration.quarterLength) <= bar_ql + _EPS:
                continue
            over = [
                e
                for e in m.recurse().notesAndRests
                if float(e.getOffsetInHierarchy(m)) + float(e.quarterLength) > bar_ql + _EPS
            ]
            if any(not e.isRest for e in over):
                raise data.SkipPiece(
                    "note_overflow", f"{part.partName} measure {m.number} is longer than a bar"
                )
            for e in over:
                off = float(e.getOffsetInHierarchy(m))
                if off >= bar_ql - _EPS:
                    e.activeSite.remove(e)
                else:
                    e.quarterLength = bar_ql - off
            fixed += 1
    return fixed


def _title(rel: str) -> str:
    """ "Book 4, no. 12" from the file name (the files' own title fields are OCR fragments)."""
    m = re.match(r"madrigal\.(\d+)\.(\d+)\.", Path(rel).name)
    return f"Madrigal, Book {m.group(1)}, no. {m.group(2)}" if m else Path(rel).stem


def convert_piece(coll: dict[str, Any], rel: str) -> tuple[Score, dict[str, Any]]:
    """One multi-voice MusicXML file -> (whole-piece Score, meta). Raises data.SkipPiece."""
    from genstudio.generators.music import metrics
    from genstudio.generators.music import tokens as tk

    s = data._parse_quietly(lambda: data._parse_file(data.corpus_root() / rel))
    if not hasattr(s, "parts") or not len(s.parts):
        raise data.SkipPiece("no_parts")
    drop = tuple(coll.get("drop_parts", ()))
    parts, dropped = [], []
    for p in s.parts:
        name = (p.partName or p.id or "").strip()
        (dropped if any(d in name.lower() for d in drop) else parts).append(p)
    if not 2 <= len(parts) <= tk.N_TRACKS:
        raise data.SkipPiece("tracks", f"{len(parts)} voices")
    ts = data._time_signature(parts)
    if ts not in tk.TIME_SIGNATURES:
        raise data.SkipPiece("unsupported_meter", f"{ts[0]}/{ts[1]}")
    fixed = data._parse_quietly(lambda: _fix_rest_overflow(parts, 4.0 * ts[0] / ts[1]))
    conv = data._parse_quietly(
        lambda: data._convert_parts(s, parts, style_for_tempo="style_eval", fields={}, ts=ts)
    )
    voices = []
    overlaps = 0
    for p, ns in zip(parts, conv["per_part"]):
        if not ns:
            raise data.SkipPiece("empty_voice", str(p.partName))
        cleaned, n_fixed = data._clean(ns)
        overlaps += n_fixed
        voices.append(cleaned)
    order = sorted(range(len(parts)), key=lambda i: -float(np.mean([n[1] for n in voices[i]])))
    names = [(parts[i].partName or f"Voice {i + 1}").strip() for i in order]
    tempo = conv["tempo"] if conv["meta"]["tempo_source"] == "metronome" else DEFAULT_TEMPO
    score = data._make_score(
        [(Track(names[j], PROGRAM), BASE_VELOCITY, voices[i]) for j, i in enumerate(order)],
        tempo=tempo,
        ts=conv["ts"],
        key=conv["key"],
        bars=conv["bars"],
    )
    data._check(score, len(score.notes))
    key = metrics.estimate_key(score)
    score = replace(score, key=key)
    meta = {
        "piece": rel,
        "title": _title(rel),
        "book": book_of(rel),
        "composer": coll["composer"],
        "source": coll["title"],
        "licence": coll["licence"],
        "bars_total": score.bars,
        "notes_total": len(score.notes),
        "tracks": names,
        "parts_in_file": [str(p.partName) for p in s.parts],
        "dropped_parts": [str(p.partName) for p in dropped],
        "key": str(key) if key else None,
        "key_source": "krumhansl_whole_piece",
        "signature_key": conv["meta"]["key"],
        "tempo": tempo,
        "tempo_source": conv["meta"]["tempo_source"]
        if conv["meta"]["tempo_source"] == "metronome"
        else "default",
        "time_signature": conv["meta"]["time_signature"],
        "rest_overflow_fixed": fixed,
        "overlaps_fixed": overlaps,
        "grid_fixes": conv["meta"]["grid_fixes"],
        "pickup_ticks": conv["meta"]["pickup_ticks"],
        "repeats": conv["meta"]["repeats"],
        "grace_dropped": conv["meta"].get("grace_dropped", 0),
    }
    return score, meta


def cut(score: Score, first_bar: int, bars: int) -> Score:
    """Bars ``first_bar .. first_bar + bars`` as a Score from tick 0: the notes that start there,
    each cut at the excerpt's end."""
    bt = score.bar_ticks
    a, b = first_bar * bt, (first_bar + bars) * bt
    notes = [
        Note(n.start - a, n.pitch, min(n.duration, b - n.start), n.velocity, n.track)
        for n in score.notes
        if a <= n.start < b
    ]
    return replace(score, notes=sorted(notes), bars=bars, tracks=[replace(t) for t in score.tracks])


def excerpts(
    score: Score, bars: int, segments: int | None
) -> list[tuple[int, Score | None, str | None]]:
    """(first bar, excerpt or None, skip reason) for every whole ``bars``-bar excerpt."""
    from genstudio.generators.music import tokens as tk

    out: list[tuple[int, Score | None, str | None]] = []
    n = score.n_bars // bars
    for k in range(n if segments is None else min(n, segments)):
        ex = cut(score, k * bars, bars)
        used = {x.track for x in ex.notes}
        silent = [ex.tracks[t].name for t in range(len(ex.tracks)) if t not in used]
        if silent:
            out.append((k * bars, None, f"silent_voice: {', '.join(silent)}"))
            continue
        if len(ex.notes) < data.MIN_NOTES:
            out.append((k * bars, None, "too_short"))
            continue
        try:
            tk.encode(ex, STYLE_TOKEN)
        except InvalidParamsError as e:
            out.append((k * bars, None, f"codec: {e.message}"))
            continue
        out.append((k * bars, ex, None))
    return out


# --------------------------------------------------------------------------- build


def build(
    out: str | Path,
    *,
    collection_name: str = "monteverdi",
    bars: int = DEFAULT_BARS,
    segments: int | None = None,
    progress=None,
) -> dict[str, Any]:
    """Convert the collection into ``out`` (train/, heldout/, manifest.json); return the manifest.

    Old ``.mid`` files in ``out/train`` and ``out/heldout`` are removed first, so the folder is
    exactly what this call describes."""
    from genstudio.generators.music import midi
    from genstudio.generators.music import tokens as tk

    if bars < 2:
        raise InvalidParamsError("An excerpt needs at least 2 bars.")
    coll = collection(collection_name)
    out = Path(out)
    t0 = time.monotonic()
    for split in SPLITS:
        (out / split).mkdir(parents=True, exist_ok=True)
        for old in (out / split).glob("*.mid"):
            old.unlink()
    pieces: list[dict[str, Any]] = []
    items: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    files = piece_files(coll)
    split = assign_splits([r for r in files if Path(r).name not in coll.get("exclude", {})])
    for i, rel in enumerate(files):
        name = Path(rel).name
        if name in coll.get("exclude", {}):
            reason = coll["exclude"][name]
            skipped.append(
                {"piece": rel, "reason": reason.split(":")[0], "detail": reason, "bar": None}
            )
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                score, meta = convert_piece(coll, rel)
        except data.SkipPiece as e:
            skipped.append({"piece": rel, "reason": e.reason, "detail": e.detail, "bar": None})
            continue
        meta = {
            "piece": rel,
            "split": split[rel],
            **{k: v for k, v in meta.items() if k != "piece"},
        }
        kept = []
        for first, ex, why in excerpts(score, bars, segments):
            if ex is None:
                skipped.append(
                    {
                        "piece": rel,
                        "reason": str(why).split(":")[0],
                        "detail": why,
                        "bar": first + 1,
                    }
                )
                continue
            stem = f"{Path(rel).stem}_bars{first + 1:03d}-{first + bars:03d}"
            path = f"{meta['split']}/{stem}.mid"
            midi.write_midi(
                ex, out / path, title=f"{meta['title']} (bars {first + 1}-{first + bars})"
            )
            back = midi.read_midi(out / path)
            if len(back.notes) != len(ex.notes) or len(back.tracks) != len(ex.tracks):
                raise GenStudioError(f"{path} does not read back as written.")
            n_tokens = len(tk.encode(ex, STYLE_TOKEN))
            items.append(
                {
                    "id": stem,
                    "piece": rel,
                    "split": meta["split"],
                    "file": path,
                    "first_bar": first + 1,
                    "bars": bars,
                    "key": meta["key"],
                    "time_signature": meta["time_signature"],
                    "tempo": meta["tempo"],
                    "tracks": len(ex.tracks),
                    "notes": len(ex.notes),
                    "tokens": n_tokens,
                    "tokens_per_bar": round((n_tokens - 6) / bars, 1),
                }
            )
            kept.append(stem)
        meta["excerpts"] = kept
        meta["bars_unused"] = score.n_bars - len(kept) * bars
        pieces.append(meta)
        if progress is not None:
            progress((i + 1) / len(files), rel)
        log.info("%s: %d excerpts (%s)", rel, len(kept), meta["split"])
    by_split = {
        s: [p["piece"] for p in pieces if p["split"] == s and p["excerpts"]] for s in SPLITS
    }
    tpb = [it["tokens_per_bar"] for it in items]
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "build_seconds": round(time.monotonic() - t0, 1),
        "collection": {k: v for k, v in coll.items() if k not in ("exclude", "glob")},
        "collection_key": collection_name,
        "corpus_licence": data.CORPUS_LICENCE,
        "music21": data.music21_version(),
        "style_token": STYLE_TOKEN,
        "bars": bars,
        "segments_per_piece": segments,
        "rules": {
            "split": "by piece: within each book, the pieces (less the excluded files) in "
            "sha1(corpus path) order, alternately train, heldout",
            "heldout_halves": "within each book, the held-out pieces in sha1('half:' + corpus "
            "path) order, alternately A, B",
            "excerpts": f"consecutive {bars}-bar excerpts from bar 1; notes cut at the excerpt "
            "end; notes starting before it dropped; an excerpt with a silent voice is skipped",
            "key": "metrics.estimate_key (Krumhansl-Kessler) over the whole piece",
            "tempo": f"first metronome mark, else {DEFAULT_TEMPO:g} quarter bpm",
            "tracks": "voices by mean pitch, highest first; GM program 52; velocity 72 + 10 "
            "downbeat, + 4 beat",
            "dropped_parts": list(coll.get("drop_parts", ())),
        },
        "considered": [dict(c) for c in CONSIDERED],
        "counts": {
            "pieces": {s: len(by_split[s]) for s in SPLITS},
            "excerpts": {s: sum(1 for it in items if it["split"] == s) for s in SPLITS},
            "skipped_pieces": sum(1 for s in skipped if s["bar"] is None),
            "skipped_excerpts": sum(1 for s in skipped if s["bar"] is not None),
            "tokens_per_bar": {
                "mean": round(float(np.mean(tpb)), 1) if tpb else None,
                "p90": round(float(np.percentile(tpb, 90)), 1) if tpb else None,
                "max": max(tpb) if tpb else None,
            },
        },
        "splits": by_split,
        "heldout_halves": heldout_halves(by_split["heldout"]),
        "pieces": pieces,
        "items": items,
        "skipped": skipped,
    }
    atomic_write_json(out / "manifest.json", manifest)
    return manifest


def load_manifest(data_dir: str | Path) -> dict[str, Any]:
    from genstudio.core.atomic import read_json

    path = Path(data_dir) / "manifest.json"
    hint = f"Build it with: python -m genstudio.ml.music.style_data --out {data_dir}"
    if not path.exists():
        raise GenStudioError(f"No style-eval material in {data_dir}.", hint=hint)
    m = read_json(path, what="style-eval manifest")
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        raise GenStudioError(f"{path} is not a style-eval manifest.", hint=hint)
    return m


def load_items(
    data_dir: str | Path, split: str, manifest: dict[str, Any] | None = None
) -> list[tuple[Score, dict[str, Any]]]:
    """(Score read back from its MIDI file, with the manifest's key; item) of one split."""
    from genstudio.generators.music import midi
    from genstudio.generators.music.score import parse_key

    m = manifest or load_manifest(data_dir)
    out = []
    for it in m["items"]:
        if it["split"] != split:
            continue
        s = midi.read_midi(Path(data_dir) / it["file"])
        key = parse_key(it["key"]) if it.get("key") else None
        out.append((replace(s, key=key, bars=int(it["bars"])), it))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m genstudio.ml.music.style_data")
    ap.add_argument("--out", required=True, help="folder for train/, heldout/, manifest.json")
    ap.add_argument("--collection", default="monteverdi", choices=sorted(COLLECTIONS))
    ap.add_argument("--bars", type=int, default=DEFAULT_BARS, help="bars per excerpt")
    ap.add_argument(
        "--segments", type=int, default=None, help="at most this many excerpts per piece"
    )
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    try:
        m = build(args.out, collection_name=args.collection, bars=args.bars, segments=args.segments)
    except GenStudioError as e:
        print(e.user_message(), file=sys.stderr)
        return 1
    from collections import Counter

    summary = {
        "out": str(args.out),
        "collection": m["collection"]["name"],
        "music21": m["music21"],
        "bars": m["bars"],
        "counts": m["counts"],
        "skipped_by_reason": dict(Counter(s["reason"] for s in m["skipped"])),
        "build_seconds": m["build_seconds"],
    }
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
