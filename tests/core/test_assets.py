"""Asset records and sidecars: format, validation, ids."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest

from genstudio.core.assets import (
    AssetRecord,
    check_ext,
    is_asset_id,
    new_asset_id,
    normalize_tags,
    now_iso,
    read_sidecar,
    sha256_bytes,
    write_sidecar,
)
from genstudio.core.errors import AssetError


def make_record(**kw) -> AssetRecord:
    base = dict(
        id="20261123-204512-3f9a1c",
        kind="image",
        file="20261123-204512-3f9a1c.png",
        sha256=sha256_bytes(b"x"),
        size=1,
        created="2026-11-23T20:45:12.000000Z",
        modified="2026-11-23T20:45:12.000000Z",
        generator="images.tiny",
        model_id="tiny-v1",
        model_sha256="a" * 64,
        params={"prompt": "a red knight", "steps": 4, "nested": {"a": [1, 2]}},
        seed=42,
        parent="20261123-204500-000000",
        extra={"palette": "pico8"},
        tags=["hero", "draft"],
        favorite=True,
        rating=4,
        trashed=False,
    )
    base.update(kw)
    return AssetRecord(**base)


def test_new_asset_id_is_time_sortable_and_random():
    before = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    ids = {new_asset_id() for _ in range(200)}
    after = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    assert len(ids) == 200  # the random part differs
    for i in ids:
        assert re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{6}", i)
        assert is_asset_id(i)
        assert before <= i[:15] <= after
    assert not is_asset_id("20261123-204512-3F9A1C")
    assert not is_asset_id("../etc/passwd")


def test_now_iso_sorts_like_time():
    a = now_iso()
    b = now_iso()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", a)
    assert a <= b


def test_sidecar_round_trip_keeps_everything_needed_to_reproduce(tmp_path):
    rec = make_record()
    path = tmp_path / f"{rec.id}.json"
    write_sidecar(path, rec)
    doc = json.loads(path.read_text())
    for key in ("generator", "model_id", "model_sha256", "params", "seed", "parent", "created"):
        assert key in doc
    assert doc["format"] == "genstudio.asset" and doc["sidecar_version"] == 1
    assert "status" not in doc  # index-only
    back = read_sidecar(path)
    assert back == rec
    assert back.prompt == "a red knight"
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp file left behind


def test_prompt_property_defaults():
    assert make_record(params={}).prompt == ""
    assert make_record(params={"prompt": 5}).prompt == "5"


def _mutated(**changes):
    d = make_record().to_sidecar()
    for k, v in changes.items():
        if v is KeyError:
            del d[k]
        else:
            d[k] = v
    return d


@pytest.mark.parametrize(
    ("doc", "needle"),
    [
        ([1, 2], "JSON object"),
        (_mutated(id=KeyError), "'id'"),
        (_mutated(id="../x"), "asset id"),
        (_mutated(file="../escape.png"), "file name"),
        (_mutated(file="sub/dir.png"), "file name"),
        (_mutated(size=-1), "size"),
        (_mutated(size="12"), "'size'"),
        (_mutated(sha256="abc"), "sha256"),
        (_mutated(rating=6), "rating"),
        (_mutated(rating=True), "rating"),
        (_mutated(tags="hero"), "tags"),
        (_mutated(tags=["ok", 3]), "tag"),
        (_mutated(params=[1]), "params"),
        (_mutated(extra="x"), "extra"),
        (_mutated(favorite="yes"), "favorite"),
        (_mutated(seed="7"), "'seed'"),
        (_mutated(seed=True), "'seed'"),
        (_mutated(generator=None), "'generator'"),
        (_mutated(format="something.else"), "not a GenStudio asset"),
        (_mutated(sidecar_version=99), "newer GenStudio"),
    ],
)
def test_from_sidecar_rejects_bad_data_with_a_clear_message(doc, needle):
    with pytest.raises(AssetError) as ei:
        AssetRecord.from_sidecar(doc)
    assert needle in str(ei.value)


def test_from_sidecar_accepts_minimal_and_fills_defaults():
    d = {
        "id": "20261123-204512-3f9a1c",
        "kind": "music",
        "file": "song.mid",
        "sha256": "0" * 64,
        "size": 3,
        "created": "2026-01-01T00:00:00.000000Z",
        "generator": "import",
    }
    rec = AssetRecord.from_sidecar(d)
    assert rec.modified == rec.created
    assert rec.tags == [] and rec.rating == 0 and not rec.favorite and not rec.trashed
    assert rec.seed is None and rec.params == {} and rec.status == "ok"


@pytest.mark.parametrize(
    ("content", "needle"),
    [(b"", "empty"), (b'{"id": "2026', "not valid JSON"), (b"\xff\xfe", "not valid JSON")],
)
def test_read_sidecar_errors_name_the_file(tmp_path, content, needle):
    path = tmp_path / "20261123-204512-3f9a1c.json"
    path.write_bytes(content)
    with pytest.raises(AssetError) as ei:
        read_sidecar(path)
    assert needle in str(ei.value) and str(path) in str(ei.value)


def test_read_sidecar_rejects_an_id_that_does_not_match_the_name(tmp_path):
    rec = make_record()
    path = tmp_path / "20990101-000000-000000.json"
    write_sidecar(path, rec)
    with pytest.raises(AssetError, match="different asset id"):
        read_sidecar(path)


def test_check_ext():
    assert check_ext("PNG") == "png"
    assert check_ext(".mid") == "mid"
    for bad in ("", "../x", "p/ng", "a" * 11, "json", "pn g"):
        with pytest.raises(AssetError):
            check_ext(bad)
    with pytest.raises(AssetError):
        check_ext(None)  # type: ignore[arg-type]


def test_normalize_tags():
    assert normalize_tags(["  Hero ", "hero", "", "big   boss", "Boss"]) == [
        "Hero",
        "big boss",
        "Boss",
    ]
    with pytest.raises(AssetError):
        normalize_tags("hero")
    with pytest.raises(AssetError):
        normalize_tags([1])
    with pytest.raises(AssetError):
        normalize_tags(["x" * 101])
