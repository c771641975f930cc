"""Training data for the music model: public-domain pieces of the music21 corpus as Scores.

The music21 PyPI package ships its corpus inside the wheel, so the data arrives with an ordinary
package install and nothing is downloaded at run time. :func:`build` parses the collections of
:func:`collections` once (one process, ~5 min on a busy 2-core machine) into a cache folder::

    <cache>/index.json   format, version, config, provenance + metadata of every piece, skips
    <cache>/notes.npz    every piece's notes as flat arrays (start, duration, pitch, velocity,
                         track) + "offsets" (piece i = rows offsets[i]:offsets[i+1]); no pickle

``notes.npz`` is written first and ``index.json`` last (both atomically); the index records the
SHA-256 of the notes file, so a half-finished rebuild or a stray file is detected. A later
:func:`build` with the same config only checks the cache; a changed :data:`CACHE_VERSION`,
music21 version or config rebuilds it.

Styles
------
* ``chorale``       - Bach chorales, four tracks Soprano/Alto/Tenor/Bass.
* ``folk``          - one "Melody" track (O'Neill's, Ryan's Mammoth, Aird's Airs, Northumbrian
  Minstrelsy).
* ``melody_accomp`` - derived from the chorales: Soprano = "Melody", Alto+Tenor+Bass merged into
  one "Accompaniment" track. The corpus has no sizeable public-domain melody-with-accompaniment
  source (see :func:`considered`).

Conversion rules (music21 -> :class:`Score`, ticks at ``TPQ`` = 480 per quarter)
-------------------------------------------------------------------------------
* Repeats (``|: :|``, ``::``, first/second endings) are expanded as performed, by
  :func:`repeat_plan` (music21's ``expandRepeats`` sends an ABC ``:|`` without a ``|:`` back to
  the start of the tune every time; ours follows ABC usage: back to the last ``|:``, else to
  the bar after the previous ``:|`` or double bar, else to the start; it matches music21 on the
  chorales). A piece whose repeats do not resolve is kept as written if it has no endings, else
  skipped (``bad_repeats``). Textual D.C./D.S. instructions are not followed.
* Bar grid and pickups: measures are laid out one after another; a short measure that starts on
  a bar line and is followed by a full measure is an anacrusis and is right-aligned to the next
  bar line (the pickup bar is padded at its start, so bar 0 is the padded pickup bar and the
  first full bar is bar 1). Short measures that complete each other (the end of a repeated
  section + the pickup into the next) are joined. Where the source is inconsistent (a short
  measure that does not fit the rest of the current bar, a full measure that would start off
  the grid) the measure moves to the next bar line; ``meta["grid_fixes"]`` counts these.
* Ties are merged into one note; rests are dropped; grace notes are dropped; chords are kept as
  simultaneous notes. Same-pitch overlaps inside a track (unison doublings when voices are
  merged) are trimmed so that a track never sounds one pitch twice at once.
* Velocity (the corpus has none): a per-track base (chorale voices 72, folk melody 80,
  melody_accomp melody 84 / accompaniment 64) + 10 on a downbeat, + 4 on another beat (dotted
  quarter beats in compound meters), + 0 off the beat.
* Tempo: the first MetronomeMark with a number (printed, or MusicXML's playback-only
  ``<sound tempo>``; as quarter-note bpm), else for folk tunes a
  tempo word of the header (N:/R:/T: "slow", "lively", ...) or the tune type (reel, jig, ...),
  else 76 bpm (chorales) / 100 beats per minute (folk); clamped to ``TEMPO_RANGE``.
  ``meta["tempo_source"]`` says which.
* Time signature: the first one. Pieces with a meter change are skipped (``meter_change``).
  For ABC the M: fields decide (music21 gives every short bar a time signature of its own).
* ABC bodies lose their quoted strings before parsing (:func:`clean_abc`): here they are
  accents, fingerings and D.C. marks, never chord symbols, and music21 reads ``">"`` as a
  broken-rhythm sign. A tune with several voices keeps its first voice.
* Key: the first key signature with its mode; church modes keep their tonic and map to major
  (ionian, lydian, mixolydian) or minor (dorian, phrygian, aeolian, locrian), the mode is kept
  in ``meta["mode"]``; for ABC with no key signature in the melody part, the K: field; else
  (a signature without a mode) music21's ``analyze("key")``. ``meta["key_source"]`` says which.

Splits are by source piece: ``sha1(source_id)`` -> train / valid / heldout (90/5/5). The source
id is the corpus path (+ ``#X<n>`` for a tune of an ABC file); for O'Neill's it is the tune's
number in the book (``oneills1850#1116``), because the corpus folder holds ~170 numbers in two
transcriptions - the first one (in file order) is kept, the other is skipped as
``duplicate_transcription``. A chorale and its melody_accomp version share the source id and
therefore the split, and adding collections never moves a piece between splits. A valid/heldout
piece whose exact melody (intervals + rhythm, any key) is also in train is flagged
``melody_in_train`` and left out by :func:`load` unless asked for.

    python -m genstudio.ml.music.data build DIR [--limit N]   # prints the stats JSON
    python -m genstudio.ml.music.data stats DIR
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from genstudio.core.atomic import atomic_write_bytes, atomic_write_json, read_json
from genstudio.core.errors import GenStudioError, InvalidParamsError
from genstudio.generators.music.score import (
    TEMPO_RANGE,
    TPQ,
    Key,
    Note,
    Score,
    Track,
    parse_time_signature,
)

log = logging.getLogger(__name__)

CACHE_VERSION = 3  # bump on any change of the conversion: the next build() rebuilds
FORMAT = "genstudio-music-data"
INDEX_NAME = "index.json"
NOTES_NAME = "notes.npz"
STYLES = ("chorale", "folk", "melody_accomp")
SPLITS = ("train", "valid", "heldout")
SPLIT_PERCENT = (90, 5, 5)
MAX_BARS = 256  # Score's bar range; longer pieces are skipped ("too_long")
MIN_NOTES = 8
MIN_BARS = 2

PROGRAM = {"voice": 52, "folk": 40, "melody": 73, "accomp": 0}  # GM: choir, violin, flute, piano
BASE_VELOCITY = {"chorale": 72, "folk": 80, "melody": 84, "accomp": 64}
DOWNBEAT_ACCENT = 10
BEAT_ACCENT = 4
DEFAULT_TEMPO = {"chorale": 76.0}  # quarter bpm
DEFAULT_FOLK_BEAT_BPM = 100.0  # beats per minute, beat = the meter's beat
VOICES = ("soprano", "alto", "tenor", "bass")

# Church modes -> the major/minor key with the same tonic (Score.Key has only major/minor).
MODE_MAP = {
    "ionian": "major",
    "lydian": "major",
    "mixolydian": "major",
    "dorian": "minor",
    "phrygian": "minor",
    "aeolian": "minor",
    "locrian": "minor",
}
# Tempo words in folk-tune headers: beats per minute (beat = the meter's beat). Checked in order.
TEMPO_WORDS = (
    ("very slow", 50.0),
    ("slowly", 60.0),
    ("slow", 60.0),
    ("moderate", 84.0),
    ("lively", 108.0),
    ("spirited", 116.0),
    ("quick", 116.0),
    ("brisk", 116.0),
    ("fast", 120.0),
)
# Tune types (R: field or title): quarter-note bpm of a typical dance tempo.
RHYTHM_TEMPO = (
    ("slip jig", 170.0),
    ("slipjig", 170.0),
    ("double jig", 165.0),
    ("single jig", 165.0),
    ("jig", 165.0),
    ("reel", 200.0),
    ("hornpipe", 160.0),
    ("clog", 160.0),
    ("strathspey", 120.0),
    ("highland fling", 120.0),
    ("fling", 120.0),
    ("polka", 140.0),
    ("slide", 190.0),
    ("set dance", 150.0),
    ("march", 110.0),
    ("waltz", 150.0),
    ("air", 72.0),
)

CORPUS_LICENCE = (
    "music21/corpus/license.txt (installed with music21): 'The BSD licensed music21 software is "
    "distributed with a corpus of encoded compositions which are distributed with the permission "
    "of the encoders (and, where needed, the composers or arrangers) and where permitted under "
    "United States copyright law. Some encodings included in the corpus may not be used for "
    "commercial uses or have other restrictions: please see the licenses embedded in individual "
    "compositions or directories for more details.' ... 'To the best of our knowledge, the each "
    "piece of music in the corpus is either out of copyright in the United States or is licensed "
    "for use, though there may be restrictions on commercial use.' music21/corpus/__init__.py: "
    "'music21 does not own most of the music in the corpus -- it has been licensed to us (or in a "
    "free license). It may not be free in all parts of the world, but to the best of our "
    "knowledge is true for the US.' The music21 package itself is BSD-3-Clause. Of the "
    "directories used here none carries its own licence file (only essenFolksong does: "
    "non-commercial, not used) and no file used has a MusicXML <rights> element."
)

_COLLECTIONS: tuple[dict[str, Any], ...] = (
    {
        "name": "bach_chorales",
        "corpus_dir": "bach",
        "format": "musicxml",
        "styles": ["chorale", "melody_accomp"],
        "title": "Johann Sebastian Bach, four-part chorales",
        "composer": "Johann Sebastian Bach (1685-1750)",
        "licence": "public domain (compositions)",
        "encoding": (
            "MusicXML (Finale/Dolet exports); 361 of the 408 files carry the credit "
            "'PDF (c) 2004 Margaret Greentree, jsbchorales.net', who compiled the chorales in "
            "the corpus (music21/corpus/chorales.py); distributed with music21 by permission, "
            "no per-file licence"
        ),
        "why": (
            "The canonical four-voice (SATB) harmony corpus: strict voice leading and cadences; "
            "the source of the chorale style and of the derived melody_accomp style. Only "
            "bach/*.mxl|xml with parts named Soprano, Alto, Tenor and Bass are used "
            "(instrumental doubling parts are dropped; the .krn duplicates and the .rntxt "
            "analyses are ignored)."
        ),
    },
    {
        "name": "oneills1850",
        "corpus_dir": "oneills1850",
        "format": "abc",
        "styles": ["folk"],
        "title": "O'Neill's Music of Ireland: 1850 Melodies (Chicago, 1903), ed. Francis O'Neill",
        "composer": "traditional (Irish)",
        "licence": "public domain (traditional tunes; published 1903)",
        "encoding": (
            "ABC by volunteers named in each tune's Z: field (Norbert Paap, Henrik Norbeck, "
            "Bob Safranek, Trish O'Neil, ...); distributed with music21, no per-file licence"
        ),
        "why": "The largest clean public-domain single-melody collection: airs, jigs, reels.",
    },
    {
        "name": "ryans_mammoth",
        "corpus_dir": "ryansMammoth",
        "format": "abc",
        "styles": ["folk"],
        "title": "Ryan's Mammoth Collection (Boston: Elias Howe, 1883), ed. William Bradbury Ryan",
        "composer": "traditional (Irish, Scottish, English, American) and 19th-century composers",
        "licence": "public domain (published 1883)",
        "encoding": (
            "ABC contributed by volunteers named in each tune's Z: field (Ray Davies, John "
            "Walsh, Bob Puckette, John Chambers, ...); distributed with music21, no per-file "
            "licence"
        ),
        "why": "Fiddle dance tunes (reels, hornpipes, jigs, clogs): rhythmic single melodies.",
    },
    {
        "name": "airds_airs",
        "corpus_dir": "airdsAirs",
        "format": "abc",
        "styles": ["folk"],
        "title": (
            "James Aird, A Selection of Scotch, English, Irish and Foreign Airs "
            "(Glasgow, 6 vols, 1778-1803)"
        ),
        "composer": "traditional (Scottish, English, Irish) and 18th-century composers",
        "licence": "public domain (published 1778-1803)",
        "encoding": "ABC by Jack Campin (2009); distributed with music21, no per-file licence",
        "why": "Airs, marches and dance tunes for fife, violin or flute: more lyrical melodies.",
    },
    {
        "name": "northumbrian_minstrelsy",
        "corpus_dir": "miscFolk",
        "files": ["northumbrianminstrelsyopus.abc"],
        "format": "abc",
        "styles": ["folk"],
        "title": "J. C. Bruce and J. Stokoe, Northumbrian Minstrelsy (1882)",
        "composer": "traditional (Northumbrian)",
        "licence": "public domain (published 1882)",
        "encoding": "ABC by Jack Campin (v1.0, 2007); distributed with music21",
        "why": "Song tunes and small-pipe tunes from the same encoder as Aird's: a few more "
        "public-domain melodies.",
    },
)

_CONSIDERED: tuple[dict[str, str], ...] = (
    {
        "corpus_dir": "essenFolksong",
        "decision": "not used",
        "reason": "its license.txt grants non-commercial distribution and use only",
    },
    {
        "corpus_dir": "nottingham-dataset",
        "decision": "not used",
        "reason": "melody + chord symbols (the one melody-with-accompaniment source in ABC), but "
        "music21 ships only 2 tunes of it ('partial')",
    },
    {
        "corpus_dir": "leadSheet",
        "decision": "not used",
        "reason": "2 lead sheets; the Irving Berlin encoding says 'All Rights Reserved'",
    },
    {
        "corpus_dir": "schubert, schumann_robert, beach, liliuokalani, johnson_j_r, verdi, "
        "handel, joplin",
        "decision": "not used",
        "reason": "songs with piano / a piano rag would be real melody + accompaniment, but "
        "there are only ~9 of them, with mixed encoding rights notices (e.g. an empty "
        "'Copyright (c)' on schubert/Lindenbaum.xml): too few for a style, so melody_accomp is "
        "derived from the chorales",
    },
    {
        "corpus_dir": "miscFolk/americanfifeopus.abc",
        "decision": "not used",
        "reason": "the encoder downloaded it from a site that has disappeared (unclear "
        "provenance); multi-voice",
    },
    {
        "corpus_dir": "oneills1850, ryansMammoth, airdsAirs",
        "decision": "checked",
        "reason": "no chord symbols in the tunes (quoted strings are fingerings, D.C., "
        "dynamics), so no accompaniment can be derived from them",
    },
    {
        "corpus_dir": "palestrina, monteverdi, josquin, beethoven, haydn, mozart",
        "decision": "not used (yet)",
        "reason": "public-domain compositions, but other textures (Renaissance polyphony, "
        "string quartets) than the three styles asked for",
    },
)


def collections() -> list[dict[str, Any]]:
    """The corpus collections used, with their styles, sources, licences and why they are used."""
    return [dict(c) for c in _COLLECTIONS]


def considered() -> list[dict[str, str]]:
    """Corpus folders that were looked at and not used (or checked), with the reason."""
    return [dict(c) for c in _CONSIDERED]


class SkipPiece(Exception):
    """A piece that is not converted; ``reason`` is a short key counted in the stats."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


# --------------------------------------------------------------------------- music21 access


def corpus_root() -> Path:
    from music21 import corpus

    return Path(corpus.__file__).parent


def music21_version() -> str:
    """The installed music21 (from the package metadata: no music21 import needed)."""
    from importlib import metadata

    try:
        return metadata.version("music21")
    except metadata.PackageNotFoundError:
        import music21

        return str(music21.__version__)


def _read_text(path: Path) -> str:
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


_X_LINE = re.compile(r"(?m)^X:")
_FIELD = re.compile(r"^([A-Za-z]):(.*)$")


def _abc_header(chunk: str) -> dict[str, list[str]]:
    """Header fields of one ABC tune (X: .. K:), each a list of its cleaned values."""
    fields: dict[str, list[str]] = {}
    for line in chunk.splitlines():
        m = _FIELD.match(line.strip())
        if not m:
            continue
        value = m.group(2).strip().strip('"').replace('" "', "; ").strip()
        fields.setdefault(m.group(1).upper() if m.group(1) in "xtk" else m.group(1), []).append(
            value
        )
        if m.group(1) == "K":
            break
    return fields


def _work_id(rel_path: str, x: str, fields: dict[str, list[str]]) -> str | None:
    """O'Neill's folder holds some numbers in two transcriptions (e.g. 1116-1135_mh.abc and
    _ml.abc): its source id is the tune's number in the book (B: field, else X:), so both
    transcriptions share a split and the second is skipped as a duplicate."""
    if not rel_path.startswith("oneills1850/"):
        return None
    m = re.search(r"(\d+)", " ".join(fields.get("B", [])))
    n = m.group(1) if m else x
    return f"oneills1850#{int(n)}" if n.isdigit() else None


def abc_tunes(rel_path: str) -> list[dict[str, Any]]:
    """The tunes of one ABC file of the corpus: source id, X number, ordinal, header, text."""
    text = _read_text(corpus_root() / rel_path)
    starts = [m.start() for m in _X_LINE.finditer(text)]
    tunes: list[dict[str, Any]] = []
    seen: Counter[str] = Counter()
    for i, a in enumerate(starts):
        chunk = text[a : starts[i + 1] if i + 1 < len(starts) else len(text)]
        fields = _abc_header(chunk)
        x = (fields.get("X") or [""])[0].strip()
        seen[x] += 1
        tune_id = f"{rel_path}#X{x}" if seen[x] == 1 else f"{rel_path}#X{x}-{seen[x]}"
        tunes.append(
            {
                "source_id": _work_id(rel_path, x, fields) or tune_id,
                "tune_id": tune_id,
                "number": int(x) if x.isdigit() else None,
                "ordinal": i + 1,
                "fields": fields,
                "text": chunk,
            }
        )
    return tunes


def _collection(name: str) -> dict[str, Any]:
    for c in _COLLECTIONS:
        if c["name"] == name:
            return c
    raise InvalidParamsError(
        f"Unknown collection {name!r}.", hint=f"Use one of {[c['name'] for c in _COLLECTIONS]}."
    )


def _collection_files(c: dict[str, Any]) -> list[str]:
    root = corpus_root()
    if c.get("files"):
        return [f"{c['corpus_dir']}/{f}" for f in c["files"]]
    folder = root / c["corpus_dir"]
    exts = (".mxl", ".xml") if c["format"] == "musicxml" else (".abc",)
    return sorted(
        f"{c['corpus_dir']}/{p.name}" for p in folder.iterdir() if p.suffix.lower() in exts
    )


_RKBWV: dict[str, dict[str, Any]] | None = None


def _chorale_info(stem: str) -> dict[str, Any]:
    """BWV number, Riemenschneider number and title of a chorale file name ("bwv1.6")."""
    global _RKBWV
    if _RKBWV is None:
        try:
            from music21.corpus import chorales

            _RKBWV = {str(k): v for k, v in chorales.ChoraleListRKBWV().byBWV.items()}
        except Exception:  # the list is a convenience for provenance only
            _RKBWV = {}
    bwv = stem[3:] if stem.lower().startswith("bwv") else stem
    info = _RKBWV.get(bwv, {})
    return {
        "bwv": bwv,
        "riemenschneider": info.get("riemenschneider"),
        "title": info.get("title") or f"BWV {bwv}",
    }


# --------------------------------------------------------------------------- conversion


def _ticks(ql: Any) -> int:
    return int(round(float(ql) * TPQ))


def _beat_ticks(num: int, den: int) -> int:
    unit = TPQ * 4 // den
    return 3 * unit if den >= 8 and num % 3 == 0 else unit


def _layout(durs: list[int], bar: int) -> tuple[list[int], int, int, int]:
    """Measure lengths (ticks) -> (measure starts, end, pickup ticks, grid fixes). See module doc."""
    starts: list[int] = []
    p = fixes = pickup = 0
    for i, d in enumerate(durs):
        if d >= bar:
            if p % bar:
                p = -(-p // bar) * bar
                fixes += 1
        elif d > 0:
            if p % bar and p % bar + d > bar:  # two short measures that do not fit one bar
                p = -(-p // bar) * bar
                fixes += 1
            if p % bar == 0 and i + 1 < len(durs) and durs[i + 1] >= bar:
                p += bar - d  # anacrusis: right-align to the next bar line
                if i == 0:
                    pickup = d
        starts.append(p)
        p += d
    return starts, p, pickup, fixes


def _time_signature(parts: list[Any]) -> tuple[int, int]:
    found = set()
    first = None
    for part in parts:
        for ts in part.recurse().getElementsByClass("TimeSignature"):
            found.add((ts.numerator, ts.denominator))
            if first is None:
                first = (int(ts.numerator), int(ts.denominator))
    if first is None:
        raise SkipPiece("no_time_signature")
    if len(found) > 1:
        raise SkipPiece("meter_change", " -> ".join(f"{n}/{d}" for n, d in sorted(found)))
    try:
        return parse_time_signature(first)
    except InvalidParamsError as e:
        raise SkipPiece("unsupported_meter", f"{first[0]}/{first[1]}") from e


_INLINE_METER = re.compile(r"\[M:\s*([^\]]*)\]|^M:(.*)$", re.MULTILINE)


def _abc_meter_value(text: str) -> tuple[int, int]:
    v = text.strip().split("%")[0].strip()
    if v in ("C", "c"):
        return 4, 4
    if v in ("C|", "c|"):
        return 2, 2
    if not v or v.lower() == "none":
        raise SkipPiece("no_time_signature", v or "empty M:")
    m = re.fullmatch(r"(\d+)\s*/\s*(\d+)", v)
    if not m:
        raise SkipPiece("unsupported_meter", v)
    try:
        return parse_time_signature((int(m.group(1)), int(m.group(2))))
    except InvalidParamsError as e:
        raise SkipPiece("unsupported_meter", v) from e


def abc_meter(tune: dict[str, Any]) -> tuple[int, int]:
    """The meter of an ABC tune from its M: fields. music21 marks every short bar (a pickup
    inside the tune) with a time signature of its own length, so for ABC the header and inline
    M: fields are the truth: a tune whose body changes the meter is skipped ("meter_change")."""
    values = tune["fields"].get("M")
    if not values:
        raise SkipPiece("no_time_signature")
    ts = _abc_meter_value(values[-1])
    text = tune["text"]
    k = re.search(r"(?m)^K:.*$", text)
    body = text[k.end() :] if k else ""
    found = {ts}
    for m in _INLINE_METER.finditer(body):
        found.add(_abc_meter_value(m.group(1) if m.group(1) is not None else m.group(2)))
    if len(found) > 1:
        raise SkipPiece("meter_change", " -> ".join(f"{n}/{d}" for n, d in sorted(found)))
    return ts


_ABC_MODES = {
    "": "major", "m": "minor", "min": "minor", "minor": "minor", "maj": "major", "major": "major",
    "ion": "ionian", "dor": "dorian", "phr": "phrygian", "lyd": "lydian", "mix": "mixolydian",
    "aeo": "aeolian", "loc": "locrian",
}  # fmt: skip


def _abc_key(fields: dict[str, list[str]]) -> tuple[Key, str | None] | None:
    """The K: field ("A Dorian", "Gm", "Bb") when music21 gives the melody no key signature."""
    from genstudio.generators.music.score import parse_key

    m = re.match(r"\s*([A-G][b#]?)\s*([A-Za-z]*)", (fields.get("K") or [""])[0])
    if not m:
        return None
    word = m.group(2).lower()
    mode = _ABC_MODES.get(word) or _ABC_MODES.get(word[:3])
    if mode is None:
        return None
    tonic = parse_key(m.group(1)).tonic
    if mode in ("major", "minor"):
        return Key(tonic, mode), None
    return Key(tonic, MODE_MAP[mode]), mode


def _key(
    m21_score: Any, part: Any, fields: dict[str, list[str]] | None = None
) -> tuple[Key, str, str | None, int]:
    """(key, key_source, original mode if a church mode, number of key-signature changes)."""
    from music21 import key as m21key

    sigs = list(part.recurse().getElementsByClass("KeySignature"))
    changes = sum(1 for a, b in zip(sigs, sigs[1:]) if a.sharps != b.sharps)
    k0 = sigs[0] if sigs else None
    mode = k0.mode if isinstance(k0, m21key.Key) else None
    if mode in ("major", "minor"):
        return Key(k0.tonic.pitchClass, mode), "signature", None, changes
    if mode in MODE_MAP:
        return Key(k0.tonic.pitchClass, MODE_MAP[mode]), "signature_mode", mode, changes
    if k0 is None and fields:
        found = _abc_key(fields)
        if found is not None:
            return found[0], "abc_header", found[1], changes
    try:
        an = m21_score.analyze("key")
    except Exception as e:
        raise SkipPiece("no_key", str(e)[:120]) from e
    mode = an.mode if an.mode in ("major", "minor") else MODE_MAP.get(an.mode, "major")
    return Key(an.tonic.pitchClass, mode), "analysis", None, changes


def _quarter_bpm(beat_bpm: float, num: int, den: int) -> float:
    return beat_bpm * _beat_ticks(num, den) / TPQ


def _tempo(
    m21_score: Any, style: str, fields: dict[str, list[str]], ts: tuple[int, int]
) -> tuple[float, str]:
    tempo, source = None, "default"
    for mm in m21_score.recurse().getElementsByClass("MetronomeMark"):
        # a MusicXML <sound tempo> without a printed mark is "playback only": numberSounding
        if getattr(mm, "numberImplicit", False) or (mm.number is None and not mm.numberSounding):
            continue
        try:
            q = mm.getQuarterBPM()
        except Exception:
            q = None
        if q:
            tempo, source = float(q), "metronome"
            break
    if tempo is None and style == "folk":
        text = " ".join(fields.get("N", []) + fields.get("R", []) + fields.get("T", [])).lower()
        rhythm = " ".join(fields.get("R", []) + fields.get("T", [])).lower()
        for word, bpm in TEMPO_WORDS:
            if re.search(rf"\b{word}\b", text):
                tempo, source = _quarter_bpm(bpm, *ts), f"word:{word}"
                break
        else:
            for word, q in RHYTHM_TEMPO:
                if re.search(rf"\b{word}\b", rhythm):
                    tempo, source = q, f"rhythm:{word}"
                    break
        if tempo is None:
            tempo = _quarter_bpm(DEFAULT_FOLK_BEAT_BPM, *ts)
    if tempo is None:
        tempo = DEFAULT_TEMPO.get(style, 100.0)
    return round(min(max(tempo, TEMPO_RANGE[0]), TEMPO_RANGE[1]), 2), source


_DOUBLE_BARS = {"double", "final", "light-light", "light-heavy", "heavy-light", "heavy-heavy"}


def _bar_flags(
    part: Any, measures: list[Any]
) -> list[tuple[bool, bool, bool, frozenset[int] | None]]:
    """Per measure: (start repeat, end repeat, double bar after it, ending numbers or None)."""
    from music21 import bar

    n = len(measures)
    start, end, double = [False] * n, [False] * n, [False] * n
    for i, m in enumerate(measures):
        lb, rb = m.leftBarline, m.rightBarline
        if isinstance(lb, bar.Repeat):
            if lb.direction == "start":
                start[i] = True
            elif i > 0:
                end[i - 1] = True
        elif lb is not None and lb.type in _DOUBLE_BARS and i > 0:
            double[i - 1] = True
        if isinstance(rb, bar.Repeat):
            if rb.direction == "end":
                end[i] = True
            elif i + 1 < n:
                start[i + 1] = True
        elif rb is not None and rb.type in _DOUBLE_BARS:
            double[i] = True
    endings: list[frozenset[int] | None] = [None] * n
    pos = {id(m): i for i, m in enumerate(measures)}
    for rb in part.recurse().getElementsByClass("RepeatBracket"):
        nums = getattr(rb, "numberRange", None) or [
            int(x) for x in re.findall(r"\d+", str(rb.number))
        ]
        for m in rb.getSpannedElements():
            if id(m) in pos and nums:
                endings[pos[id(m)]] = frozenset(int(x) for x in nums)
    return list(zip(start, end, double, endings))


def repeat_plan(flags: list[tuple[bool, bool, bool, frozenset[int] | None]]) -> list[int] | None:
    """The order measures are played in, ABC/MusicXML repeat semantics: ``:|`` goes back to the
    last ``|:``, else to the measure after the previous ``:|`` or double bar, else to the start;
    first/second endings are played on the first/second pass. None = it does not resolve."""
    n = len(flags)
    out: list[int] = []
    i = sec = 0
    passno = 1
    steps = 0
    while i < n:
        steps += 1
        if steps > 4 * n + 8:
            return None
        start, end, double, ending = flags[i]
        if start and passno == 1:
            sec = i
        if ending is not None and passno not in ending:
            i += 1
            continue
        out.append(i)
        if end:
            if passno == 1:
                passno, i = 2, sec
                continue
            passno, sec = 1, i + 1
        elif passno == 2 and ending is not None:
            nxt = flags[i + 1][3] if i + 1 < n else None
            if nxt is None or 2 not in nxt:
                passno, sec = 1, i + 1
        elif passno == 1 and double:
            sec = i + 1
        i += 1
    return out


def _raw_notes(part: Any, measures: list[Any], starts: list[int], counts: Counter) -> list:
    """(start, pitch, duration, tie type) of every sounding pitch of a part on the new grid."""
    out = []
    for m, base in zip(measures, starts):
        for el in m.recurse().notes:
            dur = el.duration
            if dur.isGrace or dur.quarterLength <= 0:
                counts["grace_dropped"] += 1
                continue
            start = base + _ticks(el.getOffsetInHierarchy(m))
            length = _ticks(dur.quarterLength)
            if length <= 0:
                counts["zero_dropped"] += 1
                continue
            subs = el.notes if el.isChord else (el,)
            for sub in subs:
                pitch = getattr(sub, "pitch", None)
                if pitch is None:  # unpitched percussion
                    continue
                midi = int(round(pitch.ps))
                if not 0 <= midi <= 127:
                    counts["out_of_range_dropped"] += 1
                    continue
                tie = sub.tie or (el.tie if el.isChord else None)
                out.append((start, midi, length, tie.type if tie is not None else None))
    return out


def _merge_ties(raw: list) -> list[list[int]]:
    raw = sorted(raw, key=lambda r: (r[0], r[1]))
    out: list[list[int]] = []
    open_: dict[int, int] = {}  # pitch -> index into out
    wants_next: dict[int, bool] = {}
    for start, pitch, length, tie in raw:
        j = open_.get(pitch)
        if (
            j is not None
            and out[j][0] + out[j][2] == start
            and (tie in ("stop", "continue") or wants_next.get(pitch))
        ):
            out[j][2] += length
        else:
            out.append([start, pitch, length])
            open_[pitch] = len(out) - 1
        wants_next[pitch] = tie in ("start", "continue")
    return out


def _clean(notes: list[list[int]]) -> tuple[list[list[int]], int]:
    """Drop same-start same-pitch doubles (keep the longer), trim same-pitch overlaps."""
    notes = sorted(notes, key=lambda n: (n[0], n[1], -n[2]))
    last: dict[int, list[int]] = {}
    out: list[list[int]] = []
    fixed = 0
    for n in notes:
        prev = last.get(n[1])
        if prev is not None and n[0] < prev[0] + prev[2]:
            fixed += 1
            if n[0] == prev[0]:
                continue
            prev[2] = n[0] - prev[0]
        out.append(n)
        last[n[1]] = n
    return out, fixed


def _velocity(start: int, bar: int, beat: int, base: int) -> int:
    pos = start % bar
    accent = DOWNBEAT_ACCENT if pos == 0 else BEAT_ACCENT if pos % beat == 0 else 0
    return max(1, min(127, base + accent))


def _fingerprint(notes: list[list[int]]) -> str:
    """Transposition-invariant hash of a melody (intervals + durations): finds duplicate tunes."""
    seq = sorted(notes, key=lambda n: (n[0], -n[1]))
    top: list[list[int]] = []
    for n in seq:  # highest pitch per onset
        if not top or top[-1][0] != n[0]:
            top.append(n)
    parts = [f"{b[1] - a[1]}:{b[0] - a[0]}" for a, b in zip(top, top[1:])]
    return hashlib.sha1(",".join(parts).encode()).hexdigest()[:16]


def _make_score(
    tracks: list[tuple[Track, int, list[list[int]]]],
    *,
    tempo: float,
    ts: tuple[int, int],
    key: Key,
    bars: int,
) -> Score:
    bar = TPQ * 4 * ts[0] // ts[1]
    beat = _beat_ticks(*ts)
    notes = [
        Note(s, p, d, _velocity(s, bar, beat, base), t)
        for t, (_track, base, ns) in enumerate(tracks)
        for s, p, d in ns
    ]
    notes.sort(key=lambda n: (n.start, n.track, n.pitch))
    return Score(
        tracks=[t for t, _, _ in tracks],
        notes=notes,
        tempo=tempo,
        time_signature=ts,
        key=key,
        bars=bars,
    )


def _convert_parts(
    m21_score: Any,
    parts: list[Any],
    *,
    style_for_tempo: str,
    fields: dict[str, list[str]],
    ts: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """Shared work for one parsed piece: grid, notes per part, tempo, meter, key, bars."""
    ts = ts or _time_signature(parts)
    bar = TPQ * 4 * ts[0] // ts[1]
    measures = [list(p.getElementsByClass("Measure")) for p in parts]
    if not any(measures):  # no bar lines at all (music21 makes no measures): one long "measure"
        measures = [[p] for p in parts]
    if len({len(ms) for ms in measures}) != 1 or not measures[0]:
        raise SkipPiece("parts_misaligned", str([len(ms) for ms in measures]))
    if measures[0][0] is parts[0]:
        flags: list[tuple[bool, bool, bool, frozenset[int] | None]] = [(False, False, False, None)]
    else:
        flags = _bar_flags(parts[0], measures[0])
    has_brackets = any(f[3] is not None for f in flags)
    repeats = "none"
    if any(f[0] or f[1] or f[3] is not None for f in flags):
        plan = repeat_plan(flags)
        if plan is None or len(plan) > 4 * len(flags):
            if has_brackets:
                raise SkipPiece("bad_repeats")
            repeats = "as_written"
        else:
            measures = [[ms[j] for j in plan] for ms in measures]
            repeats = "expanded"
    durs = [
        max(_ticks(ms[i].duration.quarterLength) for ms in measures)
        for i in range(len(measures[0]))
    ]
    starts, end, pickup, fixes = _layout(durs, bar)
    counts: Counter[str] = Counter()
    per_part = []
    for part, ms in zip(parts, measures):
        per_part.append(_merge_ties(_raw_notes(part, ms, starts, counts)))
    end = max([end] + [n[0] + n[2] for ns in per_part for n in ns])
    bars = max(1, -(-end // bar))
    key, key_source, mode, key_changes = _key(m21_score, parts[0], fields)
    tempo, tempo_source = _tempo(m21_score, style_for_tempo, fields, ts)
    return {
        "ts": ts,
        "bars": bars,
        "per_part": per_part,
        "key": key,
        "tempo": tempo,
        "meta": {
            "tempo": tempo,
            "tempo_source": tempo_source,
            "time_signature": f"{ts[0]}/{ts[1]}",
            "key": str(key),
            "key_source": key_source,
            "mode": mode,
            "key_changes": key_changes,
            "bars": bars,
            "pickup_ticks": pickup,
            "grid_fixes": fixes,
            "repeats": repeats,
            **{k: v for k, v in sorted(counts.items())},
        },
    }


def _check(score: Score, n_notes: int) -> None:
    if score.bars > MAX_BARS:
        raise SkipPiece("too_long", f"{score.bars} bars")
    if n_notes < MIN_NOTES or score.bars < MIN_BARS:
        raise SkipPiece("too_short", f"{n_notes} notes, {score.bars} bars")


def _parse_quietly(fn: Callable[[], Any]) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return fn()
        except SkipPiece:
            raise
        except Exception as e:
            raise SkipPiece("parse_error", f"{type(e).__name__}: {str(e)[:160]}") from e


def _parse_file(path: Path) -> Any:
    from music21 import converter

    c = converter.Converter()
    c.parseFile(path, forceSource=True, storePickle=False)  # no music21 pickle cache on disk
    return c.stream


def convert_chorale(rel_path: str) -> list[tuple[Score, dict[str, Any]]]:
    """One chorale file of the corpus -> [(chorale Score, meta), (melody_accomp Score, meta)]."""
    s = _parse_quietly(lambda: _parse_file(corpus_root() / rel_path))
    return _chorale_from_m21(s, rel_path)


def _chorale_from_m21(s: Any, rel_path: str) -> list[tuple[Score, dict[str, Any]]]:
    if not hasattr(s, "parts") or not len(s.parts):
        raise SkipPiece("not_satb", "no parts")
    chosen: dict[str, Any] = {}
    for p in s.parts:
        name = (p.partName or p.id or "").strip().lower()
        for v in VOICES:
            if name.startswith(v) and v not in chosen:
                chosen[v] = p
                break
    if len(chosen) != 4:
        names = [p.partName for p in s.parts]
        raise SkipPiece("not_satb", f"parts {names}")
    dropped = [p.partName for p in s.parts if all(p is not q for q in chosen.values())]
    parts = [chosen[v] for v in VOICES]
    conv = _parse_quietly(lambda: _convert_parts(s, parts, style_for_tempo="chorale", fields={}))
    voices = []
    fixed_total = 0
    for ns in conv["per_part"]:
        if not ns:
            raise SkipPiece("empty_voice")
        cleaned, fixed = _clean(ns)
        fixed_total += fixed
        voices.append(cleaned)
    info = _chorale_info(Path(rel_path).stem)
    coll = _collection("bach_chorales")
    credits = [
        " ".join(str(tb.content).split())
        for tb in s.recurse().getElementsByClass("TextBox")
        if getattr(tb, "content", None)
    ]
    greentree = any("greentree" in c.lower() for c in credits)
    base_meta = {
        "source_id": rel_path,
        "collection": coll["name"],
        "corpus_path": rel_path,
        "number": None,
        "title": info["title"],
        "bwv": info["bwv"],
        "riemenschneider": info["riemenschneider"],
        "composer": coll["composer"],
        "source": coll["title"],
        "transcriber": "Margaret Greentree (credited in the file)"
        if greentree
        else "not named in the file (music21 corpus)",
        "credits": credits,
        "licence": coll["licence"],
        "encoding_licence": "music21 corpus (see collections() and corpus_licence)",
        "dropped_parts": dropped,
        "fingerprint": _fingerprint(voices[0]),
        **conv["meta"],
    }
    score_args = {
        "tempo": conv["tempo"],
        "ts": conv["ts"],
        "key": conv["key"],
        "bars": conv["bars"],
    }
    chorale = _make_score(
        [
            (Track(v.capitalize(), PROGRAM["voice"]), BASE_VELOCITY["chorale"], ns)
            for v, ns in zip(VOICES, voices)
        ],
        **score_args,
    )
    n_chorale = len(chorale.notes)
    _check(chorale, n_chorale)
    accomp, fixed_acc = _clean([n for ns in voices[1:] for n in ns])
    melody_accomp = _make_score(
        [
            (Track("Melody", PROGRAM["melody"]), BASE_VELOCITY["melody"], voices[0]),
            (Track("Accompaniment", PROGRAM["accomp"]), BASE_VELOCITY["accomp"], accomp),
        ],
        **score_args,
    )
    return [
        (
            chorale,
            {
                **base_meta,
                "id": f"chorale:{rel_path}",
                "style": "chorale",
                "notes": n_chorale,
                "overlaps_fixed": fixed_total,
            },
        ),
        (
            melody_accomp,
            {
                **base_meta,
                "id": f"melody_accomp:{rel_path}",
                "style": "melody_accomp",
                "notes": len(melody_accomp.notes),
                "overlaps_fixed": fixed_total + fixed_acc,
            },
        ),
    ]


_QUOTED = re.compile(r'"[^"\n]*"')


def clean_abc(text: str) -> str:
    """Drop quoted strings from the tune body: in these collections they are annotations
    (accents written as ">", fingerings, "D.C.", dynamics), never chord symbols, and music21
    reads a quoted ">" as a broken-rhythm sign, which shortens the bar."""
    k = re.search(r"(?m)^K:.*$", text)
    if not k:
        return text
    body = "\n".join(
        line
        if _FIELD.match(line.strip()) or line.lstrip().startswith("%")
        else _QUOTED.sub("", line)
        for line in text[k.end() :].split("\n")
    )
    return text[: k.end()] + body


def convert_abc_tune(
    collection: str, rel_path: str, tune: dict[str, Any]
) -> tuple[Score, dict[str, Any]]:
    """One tune (an item of :func:`abc_tunes`) of an ABC collection -> (folk Score, meta)."""
    from music21 import converter

    coll = _collection(collection)
    fields = tune["fields"]
    ts = abc_meter(tune)

    def parse() -> Any:
        s = converter.parseData(clean_abc(tune["text"]), format="abc")
        if not hasattr(s, "parts"):
            raise SkipPiece("parse_error", f"got a {type(s).__name__}")
        if not len(s.parts):
            raise SkipPiece("empty")
        return s

    s = _parse_quietly(parse)
    voices = len(s.parts)
    if voices > 1:  # keep the melody (first voice)
        from music21 import stream

        keep = stream.Score()
        keep.insert(0, s.parts[0])
        if s.metadata is not None:
            keep.insert(0, s.metadata)
        s = keep
    conv = _parse_quietly(
        lambda: _convert_parts(s, [s.parts[0]], style_for_tempo="folk", fields=fields, ts=ts)
    )
    melody, fixed = _clean(conv["per_part"][0])
    if not melody:
        raise SkipPiece("empty")
    score = _make_score(
        [(Track("Melody", PROGRAM["folk"]), BASE_VELOCITY["folk"], melody)],
        tempo=conv["tempo"],
        ts=conv["ts"],
        key=conv["key"],
        bars=conv["bars"],
    )
    _check(score, len(score.notes))
    titles = fields.get("T", [])
    meta = {
        "id": f"folk:{tune['source_id']}",
        "source_id": tune["source_id"],
        "tune_id": tune["tune_id"],
        "style": "folk",
        "collection": coll["name"],
        "corpus_path": rel_path,
        "number": tune["number"],
        "ordinal": tune["ordinal"],
        "title": titles[0] if titles else f"{rel_path} #{tune['ordinal']}",
        "other_titles": titles[1:],
        "composer": (fields.get("C") or [coll["composer"]])[0],
        "source": coll["title"],
        "book": "; ".join(fields.get("B", []) + fields.get("S", [])) or None,
        "rhythm": "; ".join(fields.get("R", [])) or None,
        "abc_notes": "; ".join(fields.get("N", [])) or None,
        "transcriber": "; ".join(fields.get("Z", [])) or None,
        "licence": coll["licence"],
        "encoding_licence": "music21 corpus (see collections() and corpus_licence)",
        "dropped_voices": voices - 1,
        "notes": len(score.notes),
        "overlaps_fixed": fixed,
        "fingerprint": _fingerprint(melody),
        **conv["meta"],
    }
    return score, meta


# --------------------------------------------------------------------------- splits


def split_of(source_id: str) -> str:
    """Deterministic split of a source piece: sha1 of its id -> train / valid / heldout."""
    h = int.from_bytes(hashlib.sha1(source_id.encode("utf-8")).digest()[:8], "big") % 100
    if h < SPLIT_PERCENT[0]:
        return "train"
    return "valid" if h < SPLIT_PERCENT[0] + SPLIT_PERCENT[1] else "heldout"


# --------------------------------------------------------------------------- build / cache


def _items(limit: int | None) -> list[tuple[dict[str, Any], str, dict[str, Any] | None]]:
    """(collection, corpus path, tune or None for a whole-file piece) in a fixed order."""
    items = []
    for c in _COLLECTIONS:
        n = 0
        for rel in _collection_files(c):
            if limit is not None and n >= limit:
                break
            if c["format"] == "musicxml":
                items.append((c, rel, None))
                n += 1
                continue
            for tune in abc_tunes(rel):
                if limit is not None and n >= limit:
                    break
                items.append((c, rel, tune))
                n += 1
    return items


def _convert_item(c: dict[str, Any], rel: str, tune: dict[str, Any] | None):
    if tune is None:
        return convert_chorale(rel)
    return [convert_abc_tune(c["name"], rel, tune)]


def _config(limit: int | None) -> dict[str, Any]:
    return {
        "limit_per_collection": limit,
        "collections": [c["name"] for c in _COLLECTIONS],
        "music21": music21_version(),
    }


def _piece_record(score: Score, meta: dict[str, Any]) -> dict[str, Any]:
    rec = dict(meta)
    rec["split"] = split_of(meta["source_id"])
    rec["score"] = {
        "tracks": [[t.name, t.program, t.is_drum] for t in score.tracks],
        "tempo": score.tempo,
        "time_signature": list(score.time_signature),
        "key": None if score.key is None else [score.key.tonic, score.key.mode],
        "bars": score.bars,
        "tpq": score.tpq,
    }
    return rec


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _cache_problem(cache_dir: Path, config: dict[str, Any] | None) -> str | None:
    """Why the cache cannot be used as it is (None = it can)."""
    idx_path = cache_dir / INDEX_NAME
    if not idx_path.exists():
        return "no cache yet"
    try:
        index = read_json(idx_path, what="music data index")
    except GenStudioError as e:
        return str(e)
    if not isinstance(index, dict) or index.get("format") != FORMAT:
        return "not a music data index"
    if index.get("version") != CACHE_VERSION:
        return f"cache version {index.get('version')} != {CACHE_VERSION}"
    if config is not None and index.get("config") != config:
        return "built with another config"
    notes = cache_dir / NOTES_NAME
    try:
        data = notes.read_bytes()
    except OSError as e:
        return f"notes file unreadable: {e}"
    if _sha256(data) != index.get("notes_sha256"):
        return "notes file does not match the index"
    return None


def build(
    cache_dir: str | Path,
    *,
    limit_per_collection: int | None = None,
    progress: Callable[[float, str], None] | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Parse every collection once into ``cache_dir`` (or keep a valid cache); return the stats.

    ``limit_per_collection`` keeps the first N pieces (files or tunes) of each collection, for
    tests. ``progress(fraction, message)`` is called as pieces are converted. A cache from another
    version/config, or a corrupt one, is rebuilt."""
    cache_dir = Path(cache_dir)
    config = _config(limit_per_collection)
    problem = "forced" if force else _cache_problem(cache_dir, config)
    if problem is None:
        return stats(cache_dir)
    if problem != "no cache yet":
        log.warning("Rebuilding the music data in %s: %s", cache_dir, problem)
    cache_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    items = _items(limit_per_collection)
    records: list[dict[str, Any]] = []
    arrays: list[np.ndarray] = []
    skipped: list[dict[str, Any]] = []
    kept: dict[tuple[str, str], str] = {}  # (style, source id) -> the transcription kept
    for i, (c, rel, tune) in enumerate(items):
        sid = rel if tune is None else tune["source_id"]
        corpus_id = rel if tune is None else tune["tune_id"]
        try:
            dup = next((kept[(s, sid)] for s in c["styles"] if (s, sid) in kept), None)
            if dup is not None:
                raise SkipPiece("duplicate_transcription", f"{sid} already taken from {dup}")
            converted = _convert_item(c, rel, tune)
        except SkipPiece as e:
            skipped.append(
                {
                    "source_id": sid,
                    "corpus_id": corpus_id,
                    "collection": c["name"],
                    "styles": c["styles"],
                    "reason": e.reason,
                    "detail": e.detail,
                }
            )
            converted = []
        for score, meta in converted:
            kept[(meta["style"], sid)] = corpus_id
            records.append(_piece_record(score, meta))
            arrays.append(
                np.array(
                    [(n.start, n.duration, n.pitch, n.velocity, n.track) for n in score.notes],
                    dtype=np.int64,
                ).reshape(-1, 5)
            )
        if progress is not None:
            progress((i + 1) / max(1, len(items)), f"{c['name']}: {sid}")
        if (i + 1) % 200 == 0 or i + 1 == len(items):
            log.info(
                "%d/%d converted (%d pieces, %d skipped) %.0f s",
                i + 1,
                len(items),
                len(records),
                len(skipped),
                time.monotonic() - t0,
            )
    train_melodies = {(r["style"], r["fingerprint"]) for r in records if r["split"] == "train"}
    for r in records:  # exact same melody (any key) in train: left out of valid/heldout by load()
        r["melody_in_train"] = r["split"] != "train" and (r["style"], r["fingerprint"]) in (
            train_melodies
        )
    notes_blob = _pack(arrays)
    atomic_write_bytes(cache_dir / NOTES_NAME, notes_blob)
    index = {
        "format": FORMAT,
        "version": CACHE_VERSION,
        "config": config,
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "build_seconds": round(time.monotonic() - t0, 1),
        "items": len(items),
        "notes_file": NOTES_NAME,
        "notes_sha256": _sha256(notes_blob),
        "tpq": TPQ,
        "split_rule": "sha1(source_id) first 8 bytes big-endian % 100: <90 train, <95 valid, "
        "else heldout",
        "collections": collections(),
        "considered": considered(),
        "corpus_licence": CORPUS_LICENCE,
        "conversion": {
            "velocity": {
                "base": BASE_VELOCITY,
                "downbeat_accent": DOWNBEAT_ACCENT,
                "beat_accent": BEAT_ACCENT,
            },
            "programs": PROGRAM,
            "default_tempo": {"chorale": DEFAULT_TEMPO["chorale"], "folk_beat_bpm": 100.0},
            "max_bars": MAX_BARS,
            "min_notes": MIN_NOTES,
            "min_bars": MIN_BARS,
        },
        "pieces": records,
        "skipped": skipped,
    }
    atomic_write_json(cache_dir / INDEX_NAME, index)
    _MEMO.clear()
    return stats(cache_dir)


def _pack(arrays: list[np.ndarray]) -> bytes:
    allrows = np.concatenate(arrays) if arrays else np.zeros((0, 5), np.int64)
    offsets = np.zeros(len(arrays) + 1, np.int64)
    offsets[1:] = np.cumsum([len(a) for a in arrays])
    buf = io.BytesIO()
    np.savez_compressed(
        buf,
        start=allrows[:, 0].astype(np.int32),
        duration=allrows[:, 1].astype(np.int32),
        pitch=allrows[:, 2].astype(np.uint8),
        velocity=allrows[:, 3].astype(np.uint8),
        track=allrows[:, 4].astype(np.uint8),
        offsets=offsets,
    )
    return buf.getvalue()


_MEMO: dict[str, tuple[tuple[int, int, int, int], dict[str, Any], dict[str, np.ndarray]]] = {}


def _open(cache_dir: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The index and the note arrays; a missing or damaged cache -> GenStudioError with a hint."""
    cache_dir = Path(cache_dir)
    hint = f"Build it with: python -m genstudio.ml.music.data build {cache_dir}"
    idx_path, notes_path = cache_dir / INDEX_NAME, cache_dir / NOTES_NAME
    try:
        st_i, st_n = idx_path.stat(), notes_path.stat()
    except OSError as e:
        raise GenStudioError(f"No music data in {cache_dir}.", hint=hint) from e
    stamp = (st_i.st_mtime_ns, st_i.st_size, st_n.st_mtime_ns, st_n.st_size)
    memo = _MEMO.get(str(cache_dir.resolve()))
    if memo is not None and memo[0] == stamp and memo[1].get("version") == CACHE_VERSION:
        return memo[1], memo[2]
    try:
        index = read_json(idx_path, what="music data index")
    except GenStudioError as e:
        raise GenStudioError(
            f"The music data in {cache_dir} is damaged: {e.message}", hint=hint
        ) from e
    if not isinstance(index, dict) or index.get("format") != FORMAT:
        raise GenStudioError(f"{idx_path} is not a music data index.", hint=hint)
    if index.get("version") != CACHE_VERSION:
        raise GenStudioError(
            f"The music data in {cache_dir} is version {index.get('version')}; this GenStudio "
            f"reads version {CACHE_VERSION}.",
            hint=hint,
        )
    blob = notes_path.read_bytes()
    if _sha256(blob) != index.get("notes_sha256"):
        raise GenStudioError(
            f"The notes file of the music data in {cache_dir} does not match its index.",
            hint=hint,
        )
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as z:
            arrays = {
                k: z[k] for k in ("start", "duration", "pitch", "velocity", "track", "offsets")
            }
    except Exception as e:
        raise GenStudioError(f"The notes file in {cache_dir} cannot be read: {e}", hint=hint) from e
    if len(arrays["offsets"]) != len(index.get("pieces", [])) + 1:
        raise GenStudioError(f"The music data in {cache_dir} is inconsistent.", hint=hint)
    _MEMO.clear()
    _MEMO[str(cache_dir.resolve())] = (stamp, index, arrays)
    return index, arrays


def _score_of(rec: dict[str, Any], cols: tuple[list[int], ...], a: int, b: int) -> Score:
    sc = rec["score"]
    starts, durs, pitches, vels, tracks = (c[a:b] for c in cols)
    key = None if sc["key"] is None else Key(int(sc["key"][0]), str(sc["key"][1]))
    return Score(
        tracks=[Track(str(n), int(p), bool(d)) for n, p, d in sc["tracks"]],
        notes=list(map(Note, starts, pitches, durs, vels, tracks)),
        tempo=float(sc["tempo"]),
        time_signature=(int(sc["time_signature"][0]), int(sc["time_signature"][1])),
        key=key,
        bars=int(sc["bars"]),
        tpq=int(sc.get("tpq", TPQ)),
    )


def _check_args(split: str | None, style: str | None) -> None:
    if split is not None and split not in SPLITS:
        raise InvalidParamsError(f"Unknown split {split!r}.", hint=f"Use one of {list(SPLITS)}.")
    if style is not None and style not in STYLES:
        raise InvalidParamsError(f"Unknown style {style!r}.", hint=f"Use one of {list(STYLES)}.")


def iter_pieces(
    cache_dir: str | Path,
    split: str | None = None,
    style: str | None = None,
    *,
    include_train_duplicates: bool = False,
) -> Iterator[tuple[Score, dict[str, Any]]]:
    """Like :func:`load` but lazy; ``split=None`` gives every split."""
    _check_args(split, style)
    index, arrays = _open(cache_dir)
    offsets = arrays["offsets"].tolist()
    wanted = [
        i
        for i, rec in enumerate(index["pieces"])
        if (split is None or rec["split"] == split)
        and (style is None or rec["style"] == style)
        and (include_train_duplicates or not rec.get("melody_in_train"))
    ]
    if not wanted:
        return
    lo, hi = offsets[wanted[0]], offsets[wanted[-1] + 1]
    cols = tuple(
        arrays[k][lo:hi].tolist() for k in ("start", "duration", "pitch", "velocity", "track")
    )
    for i in wanted:
        rec = index["pieces"][i]
        meta = {k: v for k, v in rec.items() if k != "score"}
        yield _score_of(rec, cols, offsets[i] - lo, offsets[i + 1] - lo), meta


def load(
    cache_dir: str | Path,
    split: str,
    style: str | None = None,
    *,
    include_train_duplicates: bool = False,
) -> list[tuple[Score, dict[str, Any]]]:
    """Every piece of a split (optionally one style) as (Score, meta), in the cache's order.

    A valid/heldout piece whose melody (intervals + rhythm, any key) also occurs in train, e.g.
    the same tune in O'Neill's and Ryan's, is left out unless ``include_train_duplicates``.

    ``meta`` holds the provenance (id, source_id, collection, corpus_path, number, title,
    composer, source, transcriber, licence) and conversion facts (tempo_source, key_source,
    pickup_ticks, grid_fixes, repeats, ...). Raises GenStudioError for a missing/damaged cache."""
    if split not in SPLITS:
        _check_args(split, style)
    import gc

    enabled = gc.isenabled()
    gc.disable()  # ~1M small objects: the cyclic collector would rescan them again and again
    try:
        return list(
            iter_pieces(cache_dir, split, style, include_train_duplicates=include_train_duplicates)
        )
    finally:
        if enabled:
            gc.enable()


def stats(cache_dir: str | Path) -> dict[str, Any]:
    """Pieces/notes/bars per collection, style and split; meters, keys; skips by reason."""
    index, _arrays = _open(cache_dir)
    pieces = index["pieces"]

    def blank() -> dict[str, Any]:
        return {"pieces": 0, "notes": 0, "bars": 0}

    by_style: dict[str, Any] = {}
    by_collection: dict[str, Any] = {}
    by_split: dict[str, Any] = {s: blank() for s in SPLITS}
    ts: Counter[str] = Counter()
    keys: Counter[str] = Counter()
    key_sources: Counter[str] = Counter()
    tempo_sources: Counter[str] = Counter()
    repeats: Counter[str] = Counter()
    pickups = grid_fixed = 0
    fp_splits: dict[tuple[str, str], set[str]] = {}
    for p in pieces:
        st = by_style.setdefault(p["style"], {**blank(), "by_split": {s: blank() for s in SPLITS}})
        for bucket in (
            st,
            st["by_split"][p["split"]],
            by_split[p["split"]],
            by_collection.setdefault(f"{p['collection']}/{p['style']}", blank()),
        ):
            bucket["pieces"] += 1
            bucket["notes"] += p["notes"]
            bucket["bars"] += p["bars"]
        ts[p["time_signature"]] += 1
        keys[p["key"]] += 1
        key_sources[p["key_source"]] += 1
        tempo_sources[p["tempo_source"].split(":")[0]] += 1
        repeats[p["repeats"]] += 1
        pickups += bool(p["pickup_ticks"])
        grid_fixed += bool(p["grid_fixes"])
        fp_splits.setdefault((p["style"], p["fingerprint"]), set()).add(p["split"])
    skipped = index.get("skipped", [])
    dup_groups = [v for v in fp_splits.values()]
    return {
        "cache": str(cache_dir),
        "version": index["version"],
        "config": index["config"],
        "created_utc": index.get("created_utc"),
        "build_seconds": index.get("build_seconds"),
        "items_parsed": index.get("items"),
        "pieces": len(pieces),
        "notes": sum(p["notes"] for p in pieces),
        "by_style": by_style,
        "by_split": by_split,
        "by_collection": by_collection,
        "time_signatures": dict(ts.most_common()),
        "keys": dict(sorted(keys.items(), key=lambda kv: -kv[1])),
        "key_sources": dict(key_sources),
        "tempo_sources": dict(tempo_sources),
        "repeats": dict(repeats),
        "pieces_with_pickup": pickups,
        "pieces_with_grid_fixes": grid_fixed,
        "melody_duplicates": {
            "distinct_melodies": len(dup_groups),
            "pieces_sharing_a_melody": len(pieces) - len(dup_groups),
            "melodies_in_more_than_one_split": sum(1 for v in dup_groups if len(v) > 1),
            "left_out_by_load_as_train_duplicates": dict(
                Counter(f"{p['style']}/{p['split']}" for p in pieces if p.get("melody_in_train"))
            ),
        },
        "skipped": {
            "total": len(skipped),
            "by_reason": dict(Counter(s["reason"] for s in skipped).most_common()),
            "by_collection": {
                c: dict(Counter(s["reason"] for s in skipped if s["collection"] == c))
                for c in sorted({s["collection"] for s in skipped})
            },
        },
    }


def main(argv: list[str] | None = None) -> int:
    import argparse
    import sys

    ap = argparse.ArgumentParser(prog="python -m genstudio.ml.music.data")
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="parse the corpus into DIR (or keep a valid cache)")
    b.add_argument("dir")
    b.add_argument("--limit", type=int, default=None, help="pieces per collection (tests)")
    b.add_argument("--force", action="store_true")
    s = sub.add_parser("stats", help="print the stats of a built cache")
    s.add_argument("dir")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    try:
        if args.cmd == "build":
            out = build(args.dir, limit_per_collection=args.limit, force=args.force)
        else:
            out = stats(args.dir)
    except GenStudioError as e:
        print(e.user_message(), file=sys.stderr)
        return 1
    print(json.dumps(out, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
