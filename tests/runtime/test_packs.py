"""Model packs: model.json shape, hashes, pickle refusal, external-data confinement."""

from __future__ import annotations

import json
import os
import pickle  # noqa: TID251 - only to write the files that must be refused
import zipfile
from pathlib import Path

import numpy as np
import pytest

from genstudio.core.errors import ModelPackError, UnsafeModelError
from genstudio.runtime.packs import (
    PACK_FILE,
    check_model_file,
    check_onnx_external_data,
    find_packs,
    load_pack,
    write_pack,
)
from tests.helpers.onnxmodels import (
    if_model_with_subgraph_tensor,
    linear_model,
    point_external_data_at,
)

PICKLE_MSG = "pickle formats can run code; convert to safetensors/ONNX"


@pytest.fixture
def pack_dir(tmp_path) -> Path:
    root = tmp_path / "linear"
    linear_model(root / "model.onnx")
    (root / "README.md").write_text("a tiny model\n")
    write_pack(
        root,
        id="test-linear",
        kind="test",
        files=["model.onnx", "README.md"],
        license="MIT",
        attribution="made by the test suite",
        inputs=[{"name": "x", "shape": ["N", 4]}],
        outputs=[{"name": "y", "shape": ["N", 3]}],
        training={"dataset": "none", "steps": 0},
        metrics={"loss": 0.0},
    )
    return root


def edit_model_json(root: Path, **changes) -> None:
    data = json.loads((root / PACK_FILE).read_text())
    for k, v in changes.items():
        if v is None:
            data.pop(k, None)
        else:
            data[k] = v
    (root / PACK_FILE).write_text(json.dumps(data))


def test_write_and_load_round_trip(pack_dir):
    pack = load_pack(pack_dir)
    assert (pack.id, pack.kind, pack.version, pack.license) == ("test-linear", "test", "1", "MIT")
    assert pack.attribution == "made by the test suite"
    assert pack.inputs == [{"name": "x", "shape": ["N", 4]}]
    assert pack.training == {"dataset": "none", "steps": 0} and pack.metrics == {"loss": 0.0}
    assert set(pack.files) == {"model.onnx", "README.md"}
    info = pack.files["model.onnx"]
    assert info["size"] == (pack_dir / "model.onnx").stat().st_size
    assert len(info["sha256"]) == 64 and pack.sha256() == info["sha256"]
    assert pack.verified
    assert pack.onnx_path() == pack_dir / "model.onnx" == pack.onnx_path("model")
    assert pack.raw["id"] == "test-linear"
    with pytest.raises(ModelPackError, match="no ONNX file 'other'"):
        pack.onnx_path("other")
    # the description is written atomically: no temp files left behind
    assert sorted(p.name for p in pack_dir.iterdir()) == ["README.md", "model.json", "model.onnx"]


@pytest.mark.parametrize("how", ["same-size", "longer"])
def test_changed_file_is_refused_naming_it(pack_dir, how):
    path = pack_dir / "model.onnx"
    size = path.stat().st_size
    linear_model(path, seed=1, in_dim=4 if how == "same-size" else 5)  # other weights
    assert (path.stat().st_size == size) == (how == "same-size")
    with pytest.raises(UnsafeModelError, match=r"model\.onnx") as e:
        load_pack(pack_dir)
    assert "test-linear" in str(e.value)
    assert not load_pack(pack_dir, verify=False).verified  # the cheap checks still pass


def test_missing_file(pack_dir):
    (pack_dir / "README.md").unlink()
    with pytest.raises(ModelPackError, match=r"README\.md is listed in model\.json but missing"):
        load_pack(pack_dir, verify=False)


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_real_pickle_is_refused_whatever_its_name(pack_dir, protocol):
    (pack_dir / "weights.data").write_bytes(pickle.dumps({"w": [1.0, 2.0]}, protocol=protocol))
    with pytest.raises(UnsafeModelError, match="pickle") as e:
        load_pack(pack_dir)  # not even listed in model.json: refused anyway
    assert PICKLE_MSG in str(e.value) and "weights.data" in str(e.value)
    with pytest.raises(UnsafeModelError):
        check_model_file(pack_dir / "weights.data")


@pytest.mark.parametrize("ext", [".ckpt", ".pt", ".pth", ".bin", ".pkl", ".pickle"])
def test_pickle_extensions_are_refused(pack_dir, ext):
    (pack_dir / f"weights{ext}").write_bytes(b"anything")
    with pytest.raises(UnsafeModelError, match=PICKLE_MSG.replace(".", r"\.")):
        load_pack(pack_dir)


def test_torch_zip_checkpoint_is_refused(pack_dir):
    with zipfile.ZipFile(pack_dir / "weights.zip", "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps({"w": 1}, protocol=2))
        z.writestr("archive/data/0", b"\0" * 16)
    with pytest.raises(UnsafeModelError, match="PyTorch zip checkpoint"):
        load_pack(pack_dir)


def test_safetensors_is_accepted_even_when_its_header_looks_like_pickle(tmp_path):
    from safetensors.numpy import save_file

    root = tmp_path / "st"
    root.mkdir()
    linear_model(root / "model.onnx")
    # Pad the JSON header so that its 8-byte length starts 0x80 0x02 (a pickle's magic).
    tensors = {"w": np.zeros((2, 2), np.float32)}
    for n in range(1200):
        save_file(tensors, str(root / "lora.safetensors"), metadata={"pad": "x" * n})
        if (root / "lora.safetensors").read_bytes()[:2] == b"\x80\x02":
            break
    else:
        pytest.fail("could not make a header of 0x280 bytes")
    check_model_file(root / "lora.safetensors")
    pack = write_pack(root, id="st", kind="lora", files=["model.onnx", "lora.safetensors"])
    assert "lora.safetensors" in pack.files


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"id": None}, "id"),
        ({"id": ""}, "id"),
        ({"id": "../evil"}, "id"),
        ({"kind": 3}, "kind"),
        ({"version": None}, "version"),
        ({"license": ["MIT"]}, "license"),
        ({"inputs": "x"}, "inputs"),
        ({"outputs": {}}, "outputs"),
        ({"training": []}, "training"),
        ({"metrics": 1}, "metrics"),
        ({"files": None}, "files"),
        ({"files": {}}, "files"),
        ({"files": {"model.onnx": "abc"}}, "files.model.onnx"),
        ({"files": {"model.onnx": {"sha256": "XYZ", "size": 1}}}, "files.model.onnx.sha256"),
        ({"files": {"model.onnx": {"sha256": "0" * 64, "size": -1}}}, "files.model.onnx.size"),
    ],
)
def test_malformed_model_json_names_the_field(pack_dir, changes, field):
    edit_model_json(pack_dir, **changes)
    with pytest.raises(ModelPackError) as e:
        load_pack(pack_dir)
    assert f"'{field}'" in str(e.value)


@pytest.mark.parametrize("name", ["../outside.onnx", "/etc/passwd", "a/../../b", "C:/x.onnx"])
def test_file_names_must_stay_in_the_pack(pack_dir, name):
    edit_model_json(pack_dir, files={name: {"sha256": "0" * 64, "size": 1}})
    with pytest.raises(UnsafeModelError, match="not a plain path inside the pack"):
        load_pack(pack_dir)


@pytest.mark.parametrize("content", ["", "{oops", "[1, 2]"])
def test_unreadable_model_json(pack_dir, content):
    (pack_dir / PACK_FILE).write_text(content)
    with pytest.raises(ModelPackError, match="model"):
        load_pack(pack_dir)


def test_no_model_json_or_no_folder(tmp_path):
    with pytest.raises(ModelPackError, match="does not exist"):
        load_pack(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelPackError, match="does not exist"):
        load_pack(tmp_path / "empty")


def test_not_an_onnx_file(tmp_path):
    root = tmp_path / "junk"
    root.mkdir()
    (root / "model.onnx").write_bytes(b"\x12\x34 this is not protobuf" * 10)
    with pytest.raises(ModelPackError, match="not a valid ONNX file"):
        write_pack(root, id="junk", kind="test", files=["model.onnx"])


# ------------------------------------------------------------------ external data


@pytest.fixture
def external_pack(tmp_path) -> Path:
    root = tmp_path / "ext"
    linear_model(root / "model.onnx", external_data="model.onnx.data")
    pack = write_pack(root, id="ext", kind="test", files=["model.onnx"])
    assert set(pack.files) == {"model.onnx", "model.onnx.data"}  # added automatically
    return root


def test_external_data_inside_the_pack_is_fine(external_pack):
    assert check_onnx_external_data(external_pack / "model.onnx") == ["model.onnx.data"]
    assert load_pack(external_pack).verified


@pytest.mark.parametrize(
    "location", ["../../etc/passwd", "/etc/passwd", "sub/../../x.data", "..\\..\\x.data"]
)
def test_external_data_escaping_the_pack_is_refused(external_pack, location):
    point_external_data_at(external_pack / "model.onnx", location)
    with pytest.raises(UnsafeModelError, match="points outside the model pack"):
        check_onnx_external_data(external_pack / "model.onnx")
    with pytest.raises(UnsafeModelError, match="points outside the model pack"):
        load_pack(external_pack, verify=False)


@pytest.mark.skipif(os.name != "posix", reason="symlinks")
def test_external_data_symlink_escape_is_refused(external_pack, tmp_path):
    secret = tmp_path / "secret.data"
    secret.write_bytes(b"\0" * 64)
    (external_pack / "link.data").symlink_to(secret)
    point_external_data_at(external_pack / "model.onnx", "link.data")
    with pytest.raises(UnsafeModelError, match="not a link out of it"):
        check_onnx_external_data(external_pack / "model.onnx")


def test_external_data_in_a_subgraph_is_checked(tmp_path):
    root = tmp_path / "branchy"
    if_model_with_subgraph_tensor(root / "model.onnx")
    assert check_onnx_external_data(root / "model.onnx") == []
    point_external_data_at(root / "model.onnx", "../../../etc/passwd", tensor="Wsub")
    with pytest.raises(UnsafeModelError, match="'Wsub' points outside"):
        check_onnx_external_data(root / "model.onnx")
    # the Constant node's tensor attribute (in the other branch) is walked too
    if_model_with_subgraph_tensor(root / "model.onnx")
    point_external_data_at(root / "model.onnx", "/etc/shadow", tensor="neg")
    with pytest.raises(UnsafeModelError, match="'neg' points outside"):
        check_onnx_external_data(root / "model.onnx")


def test_unlisted_external_data_is_refused(external_pack):
    data = json.loads((external_pack / PACK_FILE).read_text())
    del data["files"]["model.onnx.data"]
    (external_pack / PACK_FILE).write_text(json.dumps(data))
    with pytest.raises(UnsafeModelError, match="not listed"):
        load_pack(external_pack)


def test_missing_external_data(external_pack):
    (external_pack / "model.onnx.data").unlink()
    with pytest.raises(ModelPackError, match="missing"):
        load_pack(external_pack)


# ------------------------------------------------------------------------ find_packs


def test_find_packs_skips_broken_ones(pack_dir, external_pack, tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    pack_dir.rename(models / "a")
    external_pack.rename(models / "b")
    (models / "c").mkdir()
    (models / "c" / PACK_FILE).write_text("{}")
    (models / "not-a-pack").mkdir()
    errors = []
    found = find_packs(models, tmp_path / "absent", on_error=lambda p, e: errors.append(p.name))
    assert [p.id for p in found] == ["test-linear", "ext"]
    assert not any(p.verified for p in found)  # hashes are checked when a session starts
    assert errors == ["c"]
    assert [p.id for p in find_packs(models / "a")] == ["test-linear"]  # a pack folder itself


def test_find_packs_default_roots(monkeypatch, tmp_path):
    from genstudio.core.settings import user_models_dir

    shipped = tmp_path / "resources"
    monkeypatch.setenv("GENSTUDIO_RESOURCES", str(shipped))
    root = user_models_dir() / "mine"
    linear_model(root / "model.onnx")
    write_pack(root, id="mine", kind="test", files=["model.onnx"])
    assert [p.id for p in find_packs()] == ["mine"]


# ------------------------------------------------------------------ issue 11: defects 7 and 8


class _Opener:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("protocol", [0, 1])
@pytest.mark.parametrize(
    "name", ["weights.safetensors", "weights.dat", "noext", ".hidden", ".cache/blob", "a.json"]
)
def test_protocol_0_and_1_pickles_are_refused_by_content(pack_dir, tmp_path, protocol, name):
    marker = tmp_path / "ran.marker"
    p = pack_dir / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(pickle.dumps({"w": _Opener(str(marker))}, protocol=protocol))
    assert p.read_bytes()[:1] != b"\x80"  # no PROTO byte to give it away
    with pytest.raises(UnsafeModelError, match="pickle") as e:
        load_pack(pack_dir)
    assert name.split("/")[-1] in e.value.message and e.value.hint
    with pytest.raises(UnsafeModelError, match="pickle"):
        check_model_file(p)
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [0, 1, 2, 3, 4, 5])
def test_data_pickles_of_every_protocol_are_refused(tmp_path, protocol):
    p = tmp_path / "weights.dat"
    p.write_bytes(pickle.dumps({"w": [1.5, 2.5], "name": "x" * 50}, protocol=protocol))
    with pytest.raises(UnsafeModelError, match="pickle"):
        check_model_file(p)


def test_a_large_pickle_is_refused_although_only_its_head_is_scanned(tmp_path):
    p = tmp_path / "big.dat"
    p.write_bytes(pickle.dumps(list(range(400_000)), protocol=1))  # > 1 MiB, protocol 1
    assert p.stat().st_size > (1 << 20)
    with pytest.raises(UnsafeModelError, match="pickle"):
        check_model_file(p)


def test_pickle_scan_has_no_false_positives_on_common_files(tmp_path):
    from genstudio.runtime.packs import pickle_kind

    linear_model(tmp_path / "m.onnx")
    samples = [
        (tmp_path / "m.onnx").read_bytes(),
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06\x00\x00",
        b"Git v2.31.7 Release Notes\n==========================\n",
        b"CacheControl==0.14.4\ndistlib==0.4.4\n",
        b"comment_char %\nescape_char /\n\nLC_IDENTIFICATION\n",
        b"Composer: J. S. Bach\nBWV: 311\nTitle: Es\n",
        b'{"id": "x", "files": {}}',
        b"#version: 0.2\nc at</w>\n",
        b"---\nlicense: mit\n---\n# README\n",
        b"MIT License\n\nCopyright (c) 2024\n",
    ]
    rng = np.random.default_rng(0)
    samples += [rng.bytes(4096) for _ in range(300)]
    samples += [rng.standard_normal(1024).astype(np.float16).tobytes() for _ in range(100)]
    hits = [s[:30] for s in samples if pickle_kind(s)]
    assert hits == []


def test_zip_checkpoint_is_refused_by_member_content(pack_dir):
    with zipfile.ZipFile(pack_dir / "weights.safetensors", "w") as z:
        z.writestr("archive/weights", pickle.dumps({"w": 1}, protocol=0))  # no .pkl name
    with pytest.raises(UnsafeModelError, match="PyTorch zip checkpoint"):
        load_pack(pack_dir)


def _st(header: bytes, data: bytes = b"", length: int | None = None) -> bytes:
    return (len(header) if length is None else length).to_bytes(8, "little") + header + data


F32 = '{"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}'


ST_CASES = [
    (_st(b"{}", length=2**63), "header length"),
    (_st(b'{"a": 1}', length=4096), "runs past the end"),
    (b"\x01\x02", "fewer than"),
    (_st(b"{nope}"), "not valid JSON"),
    (_st(b"[1, 2]"), "not a JSON object"),
    (_st(b'{"w": {"dtype": "F99", "shape": [2], "data_offsets": [0, 8]}}', b"\0" * 8), "dtype"),
    (_st(b'{"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}', b"\0" * 8), "shape"),
    (
        _st(b'{"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 80]}}', b"\0" * 8),
        "outside",
    ),
    (_st(b'{"w": ' + F32.encode() + b', "w": ' + F32.encode() + b"}", b"\0" * 8), "twice"),
    (
        _st(
            b'{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},'
            b' "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}',
            b"\0" * 12,
        ),
        "overlaps",
    ),
    (_st(b'{"w": ' + F32.encode() + b"}", b"\0" * 8 + b"junk"), "follow the last tensor"),
    (_st(b'{"__metadata__": {"a": 1}}'), "__metadata__"),
    (_st(b'{"a":' + b"[" * 50_000 + b"]" * 50_000 + b"}"), "nested too deeply"),
]


@pytest.mark.parametrize(("content", "words"), ST_CASES, ids=[w for _, w in ST_CASES])
def test_malformed_safetensors_headers_are_refused(pack_dir, content, words):
    from genstudio.runtime.packs import check_safetensors

    p = pack_dir / "lora.safetensors"
    p.write_bytes(content)
    with pytest.raises(UnsafeModelError, match="not a valid safetensors file") as e:
        check_model_file(p)
    assert words in e.value.message and e.value.hint
    with pytest.raises(UnsafeModelError):
        check_safetensors(p)
    with pytest.raises(UnsafeModelError, match="safetensors"):
        load_pack(pack_dir)  # also when the file is not listed in model.json


def test_valid_safetensors_files_pass(tmp_path):
    from safetensors.numpy import save_file

    from genstudio.runtime.packs import check_safetensors

    p = tmp_path / "w.safetensors"
    save_file(
        {"a": np.ones((3, 5), np.float16), "b": np.zeros(7, np.int64), "e": np.zeros(0)},
        str(p),
        metadata={"format": "pt"},
    )
    check_safetensors(p)
    check_model_file(p)


@pytest.mark.skipif(os.name != "posix", reason="symlinks and FIFOs")
def test_unlisted_link_out_of_the_pack_is_refused_before_it_is_read(pack_dir, tmp_path):
    outside = tmp_path / "outside.onnx"
    linear_model(outside)
    (pack_dir / "extra.onnx").symlink_to(outside)
    with pytest.raises(UnsafeModelError, match="links outside the model folder") as e:
        load_pack(pack_dir)
    assert e.value.hint
    (pack_dir / "extra.onnx").unlink()
    (pack_dir / ".cache").symlink_to(tmp_path)  # a folder link out, hidden
    with pytest.raises(UnsafeModelError, match="links outside"):
        load_pack(pack_dir)


@pytest.mark.skipif(os.name != "posix", reason="symlinks")
def test_model_json_linking_out_of_the_pack_is_refused(pack_dir, tmp_path):
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_bytes((pack_dir / PACK_FILE).read_bytes())  # a valid description
    (pack_dir / PACK_FILE).unlink()
    (pack_dir / PACK_FILE).symlink_to(elsewhere)
    with pytest.raises(UnsafeModelError, match="links outside"):
        load_pack(pack_dir)
    errors = []
    assert find_packs(pack_dir, on_error=lambda p, e: errors.append(e)) == [] and errors


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs")
def test_a_fifo_in_the_pack_is_refused_without_blocking(pack_dir):
    os.mkfifo(pack_dir / "weights.data")
    with pytest.raises(UnsafeModelError, match="not a regular file"):
        load_pack(pack_dir)


@pytest.mark.skipif(os.name != "posix", reason="symlinks")
def test_a_file_swapped_for_a_link_after_the_scan_is_refused_at_session_time(pack_dir, tmp_path):
    from genstudio.runtime.sessions import SessionCache

    pack = load_pack(pack_dir, verify=False)  # the scan (find_packs does not hash)
    outside = tmp_path / "same.onnx"
    outside.write_bytes((pack_dir / "model.onnx").read_bytes())  # same bytes, same hash
    (pack_dir / "model.onnx").unlink()
    (pack_dir / "model.onnx").symlink_to(outside)
    with pytest.raises(UnsafeModelError, match="links outside"):
        SessionCache(threads=1, prefer=("CPUExecutionProvider",)).get(pack)


def test_ort_memory_address_location_is_refused(external_pack):
    from genstudio.runtime.packs import check_session_file

    # even with a file at that literal path, ONNX Runtime would read process memory
    weird = external_pack / "*" / "_ORT_MEM_ADDR_" / "*"
    weird.parent.mkdir(parents=True)
    weird.write_bytes(b"\0" * 64)
    point_external_data_at(external_pack / "model.onnx", "*/_ORT_MEM_ADDR_/*")
    with pytest.raises(UnsafeModelError, match="_ORT_MEM_ADDR_") as e:
        check_onnx_external_data(external_pack / "model.onnx")
    assert e.value.hint
    with pytest.raises(UnsafeModelError, match="_ORT_MEM_ADDR_"):
        load_pack(external_pack, verify=False)
    with pytest.raises(UnsafeModelError, match="_ORT_MEM_ADDR_"):
        check_session_file(external_pack, external_pack / "model.onnx")


def test_external_data_past_the_end_of_its_file_is_refused(external_pack):
    import onnx

    path = external_pack / "model.onnx"
    model = onnx.load(str(path), load_external_data=False)
    for t in model.graph.initializer:
        for kv in t.external_data:
            if kv.key == "offset":
                kv.value = "999999"
    path.write_bytes(model.SerializeToString())
    with pytest.raises(UnsafeModelError, match="past the end"):
        check_onnx_external_data(path)


def test_oversized_onnx_file_is_refused_without_reading_it(tmp_path):
    p = tmp_path / "huge.onnx"
    with open(p, "wb") as f:  # sparse: no disk used
        f.write(b"\x08\x08")
        f.truncate(3 << 30)
    with pytest.raises(UnsafeModelError, match="2 GB"):
        check_model_file(p)
    with pytest.raises(UnsafeModelError, match="2 GB"):
        check_onnx_external_data(p)


def test_fine_tuning_weights_may_be_left_out_but_not_changed(pack_dir):
    """The studio bundle ships packs without their fine-tuning safetensors (the training
    add-on has them): such a pack still loads and verifies; a present one must match."""
    import json

    from genstudio.runtime.packs import load_pack as load

    desc = json.loads((pack_dir / "model.json").read_text())
    weights = pack_dir / "weights.safetensors"
    header = b'{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'
    weights.write_bytes(len(header).to_bytes(8, "little") + header + b"\0\0\0\0")
    import hashlib

    desc["files"]["weights.safetensors"] = {
        "sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
        "size": weights.stat().st_size,
    }
    (pack_dir / "model.json").write_text(json.dumps(desc))
    assert load(pack_dir).verified
    weights.write_bytes(weights.read_bytes()[:-1] + b"\1")
    with pytest.raises(UnsafeModelError, match="weights.safetensors"):
        load(pack_dir)
    weights.unlink()
    assert load(pack_dir).verified  # absent: fine
    (pack_dir / "model.onnx").unlink()
    with pytest.raises(ModelPackError, match=r"model\.onnx is listed in model\.json but missing"):
        load(pack_dir)
