"""The music training data: music21 corpus -> Score conversion, splits, cache, stats."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("music21")

from genstudio.core.errors import GenStudioError, InvalidParamsError  # noqa: E402
from genstudio.generators.music.score import Key, Note, Score, Track, transpose  # noqa: E402
from genstudio.ml.music import data  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 4
ONEILL = "oneills1850/0001-0050.abc"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = tmp_path_factory.mktemp("music-data")
    data.build(cache, limit_per_collection=LIMIT)
    return cache


def _oneill(number: int) -> tuple[Score, dict]:
    tune = next(t for t in data.abc_tunes(ONEILL) if t["number"] == number)
    return data.convert_abc_tune("oneills1850", ONEILL, tune)


def _abc(text: str) -> tuple[Score, dict]:
    tune = {
        "source_id": "test.abc#X1",
        "tune_id": "test.abc#X1",
        "number": 1,
        "ordinal": 1,
        "fields": data._abc_header(text),
        "text": text,
    }
    return data.convert_abc_tune("oneills1850", "test.abc", tune)


def _sane(score: Score) -> None:
    assert score.notes, "no notes"
    assert score.bars >= 1
    end = score.bars * score.bar_ticks
    for n in score.notes:
        assert n.duration > 0 and n.start >= 0, n
        assert 0 <= n.pitch <= 127 and 1 <= n.velocity <= 127, n
        assert 0 <= n.track < len(score.tracks)
        assert n.start + n.duration <= end, (n, end)
    assert score.notes == score.sorted_notes()
    # a track never sounds one pitch twice at once
    last: dict[tuple[int, int], int] = {}
    for n in score.notes:
        k = (n.track, n.pitch)
        assert last.get(k, -1) <= n.start, n
        last[k] = n.start + n.duration


def _first_downbeat_note(score: Score, bar: int, track: int = 0) -> Note:
    t = bar * score.bar_ticks
    return next(n for n in score.notes if n.track == track and n.start == t)


# --------------------------------------------------------------------------- collections


def test_collections_are_public_domain_with_provenance():
    cols = data.collections()
    names = [c["name"] for c in cols]
    assert names[:4] == ["bach_chorales", "oneills1850", "ryans_mammoth", "airds_airs"]
    for c in cols:
        assert "public domain" in c["licence"]
        assert c["encoding"] and c["why"] and c["title"]
        assert set(c["styles"]) <= set(data.STYLES)
        assert c["corpus_dir"] != "essenFolksong"
    assert {s for c in cols for s in c["styles"]} == set(data.STYLES)
    assert any(c["corpus_dir"] == "essenFolksong" for c in data.considered())
    assert "license.txt" in data.CORPUS_LICENCE


# --------------------------------------------------------------------------- conversion


def test_chorale_four_voices_and_melody_accomp():
    (chorale, meta), (ma, ma_meta) = data.convert_chorale("bach/bwv1.6.mxl")
    _sane(chorale)
    _sane(ma)
    assert [t.name for t in chorale.tracks] == ["Soprano", "Alto", "Tenor", "Bass"]
    assert [t.name for t in ma.tracks] == ["Melody", "Accompaniment"]
    assert chorale.time_signature == (4, 4) and chorale.key == Key(5, "major")  # F major
    assert chorale.bars == 21 and meta["bars"] == 21
    assert meta["pickup_ticks"] == 480 and meta["grid_fixes"] == 0
    # the one-beat pickup is right-aligned: it starts on beat 4 of the padded bar 0
    assert min(n.start for n in chorale.notes) == 3 * 480
    assert _first_downbeat_note(chorale, 1).pitch == 72  # soprano C5 on the first downbeat
    assert {n.track for n in chorale.notes} == {0, 1, 2, 3}
    # melody = soprano exactly; the accompaniment holds alto + tenor + bass
    sop = [(n.start, n.pitch, n.duration) for n in chorale.notes if n.track == 0]
    mel = [(n.start, n.pitch, n.duration) for n in ma.notes if n.track == 0]
    assert sop == mel
    atb = {(n.start, n.pitch) for n in chorale.notes if n.track > 0}
    assert {(n.start, n.pitch) for n in ma.notes if n.track == 1} == atb
    assert meta["source_id"] == ma_meta["source_id"] == "bach/bwv1.6.mxl"
    assert meta["composer"].startswith("Johann Sebastian Bach")
    assert meta["licence"].startswith("public domain") and meta["bwv"] == "1.6"
    assert meta["dropped_parts"] == ["Horn 2"]
    assert meta["transcriber"].startswith("Margaret Greentree")
    assert meta["tempo_source"] == "metronome" and chorale.tempo == 76.0


def test_oneill_tune_with_pickup_lines_up_on_the_bar_grid():
    score, meta = _oneill(2)  # "Fare You Well", 2/4, two-sixteenth pickup
    _sane(score)
    assert meta["title"] == "Fare You Well"
    assert [t.name for t in score.tracks] == ["Melody"]
    assert score.time_signature == (2, 4) and score.key == Key(2, "major")
    assert meta["pickup_ticks"] == 240 and meta["grid_fixes"] == 0
    first = score.notes[0]
    assert (first.start, first.pitch) == (960 - 240, 78)  # F#5 right-aligned in bar 0
    down = _first_downbeat_note(score, 1)
    assert (down.pitch, down.duration) == (81, 360)  # A5 dotted eighth on the first downbeat
    assert down.velocity == data.BASE_VELOCITY["folk"] + data.DOWNBEAT_ACCENT
    assert meta["tempo_source"] == "word:slow"
    assert meta["corpus_path"] == ONEILL and meta["number"] == 2
    assert meta["source_id"] == "oneills1850#2" and meta["tune_id"] == f"{ONEILL}#X2"
    assert "Norbert Paap" in meta["transcriber"]


def test_oneill_tune_in_six_eight():
    score, meta = _oneill(5)  # "The Fun at Donnybrook"
    _sane(score)
    assert score.time_signature == (6, 8) and score.bar_ticks == 1440
    assert score.key == Key(7, "minor")  # G minor
    assert meta["pickup_ticks"] == 240
    down = _first_downbeat_note(score, 1)
    assert (down.pitch, down.duration) == (67, 360)
    # the second beat of a 6/8 bar is the dotted quarter
    second_beat = [n for n in score.notes if n.start == 1440 + 720]
    assert second_beat and all(
        n.velocity == data.BASE_VELOCITY["folk"] + data.BEAT_ACCENT for n in second_beat
    )


def test_tune_without_pickup_and_with_short_bar_marks():
    # music21 gives the mid-tune pickup bar its own time signature (1/16): not a meter change
    score, meta = _oneill(1)
    _sane(score)
    assert score.time_signature == (2, 4) and meta["pickup_ticks"] == 0
    assert (score.notes[0].start, score.notes[0].pitch, score.notes[0].duration) == (0, 67, 360)
    assert meta["grid_fixes"] == 0


def test_ties_grace_notes_chords_and_repeats():
    text = "X:1\nT:Tied\nM:3/4\nL:1/8\nK:D\nA2|d6-|d2 [df]2 {g}f2|e6:|\n"
    score, meta = _abc(text)
    _sane(score)
    notes = [(n.start, n.pitch, n.duration) for n in score.notes]
    one_pass = [
        (960, 69, 480),  # pickup A4 (a quarter), right-aligned in bar 0
        (1440, 74, 1920),  # d6 tied to d2: one note across the bar line
        (3360, 74, 480),  # the chord [df]: two simultaneous notes
        (3360, 78, 480),
        (3840, 78, 480),  # the grace note {g} is dropped
        (4320, 76, 1440),
    ]
    second = [(s + 4 * 1440, p, d) for s, p, d in one_pass]  # the repeat's pickup pads bar 4
    assert notes == one_pass + second
    assert score.bars == 8 and meta["repeats"] == "expanded"
    assert meta["grace_dropped"] == 2
    assert score.key == Key(2, "major") and meta["tempo_source"] == "default"
    assert score.tempo == 100.0


def test_meter_change_and_degenerate_tunes_are_skipped():
    with pytest.raises(data.SkipPiece) as e:
        _abc("X:1\nT:m\nM:3/4\nL:1/8\nK:G\nGABcde|\nM:2/4\nGABc|GABc|GABc|]\n")
    assert e.value.reason == "meter_change"
    with pytest.raises(data.SkipPiece) as e:
        _abc("X:1\nT:short\nM:4/4\nL:1/4\nK:G\nGABc|]\n")
    assert e.value.reason == "too_short"
    with pytest.raises(data.SkipPiece) as e:
        _abc("X:1\nT:free\nM:none\nL:1/4\nK:G\nGABc|GABc|GABc|]\n")
    assert e.value.reason == "no_time_signature"


def test_modal_key_keeps_its_tonic():
    score, meta = _abc("X:1\nT:d\nM:4/4\nL:1/8\nK:Ador\nABcd efge|dcBA GABc|ABcd e2A2|]\n")
    assert score.key == Key(9, "minor") and meta["mode"] == "dorian"
    assert meta["key_source"] == "signature_mode"


def test_repeat_plan_follows_abc_usage():
    def flags(spec: str):
        out = []
        for tok in spec.split():
            ending = frozenset(int(c) for c in tok if c.isdigit()) or None
            out.append(("S" in tok, "E" in tok, "D" in tok, ending))
        return out

    # "A :| B :|" -> A A B B (music21 would give A A B A A B)
    assert data.repeat_plan(flags("a aE b bE")) == [0, 1, 0, 1, 2, 3, 2, 3]
    # "|: A [1 x :| [2 y || B :|"
    assert data.repeat_plan(flags("Sa 1E 2D b bE")) == [0, 1, 0, 2, 3, 4, 3, 4]
    # a double bar starts a new section for the next :|
    assert data.repeat_plan(flags("a aD b bE")) == [0, 1, 2, 3, 2, 3]
    assert data.repeat_plan(flags("a b")) == [0, 1]


# --------------------------------------------------------------------------- splits, cache


def test_split_rule_is_stable_and_balanced():
    assert data.split_of("bach/bwv1.6.mxl") == "train"
    ids = [f"piece-{i}" for i in range(4000)]
    first = [data.split_of(i) for i in ids]
    assert first == [data.split_of(i) for i in ids]
    share = {s: first.count(s) / len(first) for s in data.SPLITS}
    assert 0.87 < share["train"] < 0.93 and 0.03 < share["valid"] < 0.07
    assert 0.03 < share["heldout"] < 0.07


def test_splits_are_disjoint_and_shared_by_derived_styles(built: Path):
    by_split = {s: data.load(built, s) for s in data.SPLITS}
    ids = {s: {m["source_id"] for _, m in pieces} for s, pieces in by_split.items()}
    assert not ids["train"] & ids["valid"]
    assert not ids["train"] & ids["heldout"]
    assert not ids["valid"] & ids["heldout"]
    everything = [m for pieces in by_split.values() for _, m in pieces]
    assert len({m["id"] for m in everything}) == len(everything)
    for m in everything:
        assert m["split"] == data.split_of(m["source_id"])
    styles = {m["style"] for m in everything}
    assert styles == set(data.STYLES)
    chorales = {m["source_id"] for m in everything if m["style"] == "chorale"}
    derived = {m["source_id"] for m in everything if m["style"] == "melody_accomp"}
    assert chorales == derived
    only_folk = data.load(built, "train", style="folk")
    assert only_folk and all(m["style"] == "folk" for _, m in only_folk)


def test_cache_round_trip_is_exact(built: Path):
    loaded = {m["id"]: (s, m) for s, m in data.iter_pieces(built)}
    fresh = data.convert_chorale("bach/bwv1.6.mxl")
    fresh += [data.convert_abc_tune("oneills1850", ONEILL, t) for t in data.abc_tunes(ONEILL)[:3]]
    for score, meta in fresh:
        got, got_meta = loaded[meta["id"]]
        assert got == score
        assert {k: got_meta[k] for k in meta} == json.loads(json.dumps(meta))
    for score, meta in loaded.values():
        _sane(score)
        assert meta["licence"].startswith("public domain")
        assert meta["collection"] and meta["corpus_path"] and meta["title"]


def test_second_build_uses_the_cache(built: Path, monkeypatch: pytest.MonkeyPatch):
    def boom(*_a, **_k):
        raise AssertionError("parsed again")

    monkeypatch.setattr(data, "_convert_item", boom)
    st = data.build(built, limit_per_collection=LIMIT)
    assert st["pieces"] == data.stats(built)["pieces"] > 0


def test_stats(built: Path):
    st = data.stats(built)
    assert st["version"] == data.CACHE_VERSION
    assert st["config"]["limit_per_collection"] == LIMIT
    assert set(st["by_style"]) == set(data.STYLES)
    assert sum(v["pieces"] for v in st["by_split"].values()) == st["pieces"]
    assert sum(v["notes"] for v in st["by_style"].values()) == st["notes"]
    assert st["by_collection"]["oneills1850/folk"]["pieces"] <= LIMIT
    assert "4/4" in st["time_signatures"] and st["keys"]
    assert st["skipped"]["total"] == sum(st["skipped"]["by_reason"].values())
    json.dumps(st)


def test_corrupt_cache_is_a_clear_error_then_rebuilt(built: Path, tmp_path: Path):
    cache = tmp_path / "copy"
    shutil.copytree(built, cache)
    (cache / data.INDEX_NAME).write_text('{"format": "genstudio-music-da', encoding="utf-8")
    with pytest.raises(GenStudioError) as e:
        data.load(cache, "train")
    assert "damaged" in str(e.value) and "build" in str(e.value)
    data.build(cache, limit_per_collection=LIMIT)
    assert len(data.load(cache, "train")) == len(data.load(built, "train"))

    blob = bytearray((cache / data.NOTES_NAME).read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    (cache / data.NOTES_NAME).write_bytes(bytes(blob))
    with pytest.raises(GenStudioError, match="does not match"):
        data.load(cache, "valid")
    assert data._cache_problem(cache, data._config(LIMIT)) is not None


def test_version_or_config_change_rebuilds(built: Path, monkeypatch: pytest.MonkeyPatch):
    assert data._cache_problem(built, data._config(LIMIT)) is None
    assert data._cache_problem(built, data._config(LIMIT + 1)) == "built with another config"
    monkeypatch.setattr(data, "CACHE_VERSION", data.CACHE_VERSION + 1)
    assert "version" in data._cache_problem(built, data._config(LIMIT))
    with pytest.raises(GenStudioError, match="version"):
        data.load(built, "train")


def test_missing_cache_and_bad_arguments(tmp_path: Path, built: Path):
    with pytest.raises(GenStudioError, match="No music data"):
        data.load(tmp_path / "nothing", "train")
    with pytest.raises(InvalidParamsError):
        data.load(built, "test")
    with pytest.raises(InvalidParamsError):
        data.load(built, "train", style="jazz")


def test_cli_prints_stats(built: Path, capsys: pytest.CaptureFixture[str]):
    assert data.main(["stats", str(built)]) == 0
    assert json.loads(capsys.readouterr().out)["pieces"] == data.stats(built)["pieces"]


def test_import_does_not_load_music21():
    code = "import sys, genstudio.ml.music.data; print('music21' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr[-2000:]


def test_transpose_helper():
    s = Score(
        tracks=[Track("Melody"), Track("Drums", is_drum=True)],
        notes=[Note(0, 60, 480, 80, 0), Note(0, 36, 240, 90, 1)],
        key=Key(0, "major"),
    )
    up = transpose(s, 3)
    assert [n.pitch for n in up.notes] == [63, 36] and up.key == Key(3, "major")
    assert [n.pitch for n in s.notes] == [60, 36]
    assert transpose(s, -12).key == Key(0, "major")
    with pytest.raises(InvalidParamsError):
        transpose(s, 70)


def test_quoted_annotations_do_not_change_the_rhythm():
    # music21 would read the accent annotation ">" as a broken-rhythm sign
    score, meta = _abc('X:1\nT:q\nM:3/4\nL:1/8\nK:D\nA2|">"G3 ABc|d6|"4"e6|fedcBA|]\n')
    assert meta["grid_fixes"] == 0
    assert [(n.start, n.duration) for n in score.notes[:3]] == [
        (960, 480),
        (1440, 720),
        (2160, 240),
    ]


def test_oneill_second_transcriptions_are_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    mh = next(t for t in data.abc_tunes("oneills1850/1116-1135_mh.abc") if t["number"] == 1116)
    ml = next(t for t in data.abc_tunes("oneills1850/1116-1135_ml.abc") if t["number"] == 1116)
    assert mh["source_id"] == ml["source_id"] == "oneills1850#1116"
    assert mh["tune_id"] != ml["tune_id"]
    coll = data._collection("oneills1850")
    items = [
        (coll, "oneills1850/1116-1135_mh.abc", mh),
        (coll, "oneills1850/1116-1135_ml.abc", ml),
    ]
    monkeypatch.setattr(data, "_items", lambda _limit: items)
    st = data.build(tmp_path, limit_per_collection=1)
    assert st["pieces"] == 1 and st["skipped"]["by_reason"] == {"duplicate_transcription": 1}
    (_, meta), *_ = data.iter_pieces(tmp_path)
    assert meta["tune_id"] == mh["tune_id"] and "Michael Hogan" in meta["transcriber"]


def test_train_duplicates_are_left_out_of_evaluation_splits(built: Path):
    for split in ("valid", "heldout"):
        some = data.load(built, split)
        every = data.load(built, split, include_train_duplicates=True)
        assert {m["id"] for _, m in some} <= {m["id"] for _, m in every}
        assert not any(m["melody_in_train"] for _, m in some)


@pytest.mark.parametrize("path", ["bach/bwv103.6.mxl", "bach/bwv8.6.mxl"])  # :| and endings
def test_repeat_plan_matches_music21_on_chorales(path: str):
    s = data._parse_file(data.corpus_root() / path)
    part = s.parts[0]
    measures = list(part.getElementsByClass("Measure"))
    plan = data.repeat_plan(data._bar_flags(part, measures))
    reference = [m.number for m in s.expandRepeats().parts[0].getElementsByClass("Measure")]
    assert plan is not None and len(plan) > len(measures)
    assert [measures[j].number for j in plan] == reference


def test_layout_pads_pickups_and_fixes_inconsistent_bars():
    bar = 960
    # pickup (3/4 of a bar), 3 full bars, a short last bar, the repeat's pickup, 2 full bars
    starts, end, pickup, fixes = data._layout([720, 960, 960, 960, 720, 240, 960, 960], bar)
    assert starts == [240, 960, 1920, 2880, 3840, 4560, 4800, 5760] and end == 6720
    assert (pickup, fixes) == (720, 0)
    # the repeat's pickup does not fit the short bar before it: it opens the next bar, padded
    starts, _end, _pickup, fixes = data._layout([720, 960, 720, 720, 960], bar)
    assert starts == [240, 960, 1920, 3120, 3840] and fixes == 1


def test_abc_key_field_fallback():
    assert data._abc_key({"K": ["A Dorian"]}) == (Key(9, "minor"), "dorian")
    assert data._abc_key({"K": ["Gm"]}) == (Key(7, "minor"), None)
    assert data._abc_key({"K": ["Bb"]}) == (Key(10, "major"), None)
    assert data._abc_key({"K": ["none"]}) is None
