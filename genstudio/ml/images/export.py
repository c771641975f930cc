"""Export the built-in image model (a diffusion run + its autoencoder run) as an ONNX pack.

    genstudio ml export images --run RUN --ae RUN_AE --data DIR --out resources/models/images-icons

The pack: ``unet.onnx`` (EMA weights; inputs ``sample`` (B,8,16,16), ``timestep`` (B,) int64,
``text`` (B,384), ``use_text`` (B,1) -> ``eps``), ``encoder.onnx`` (``image`` (B,4,64,64) ->
``mean``), ``decoder.onnx`` (``latent`` -> ``image``), ``tokenizer.json`` (MiniLM's), the
safetensors weights of all three networks (for fine-tuning), and ``model.json`` with the latent
scale, the noise schedule, the text encoder's package and sha256, the data sources and licences
and the training provenance.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from genstudio.core.atomic import atomic_write_bytes, read_json
from genstudio.ml import common

PACK_ID = "images-icons"


def export_pack(
    run: Path,
    ae_run: Path,
    data_dir: Path,
    out: Path,
    *,
    metrics: dict | None = None,
    notes: list[str] | None = None,
) -> Path:
    from genstudio.ml.images import data
    from genstudio.ml.images.train import load_run

    unet, unet_cfg, meta = load_run(run, "diffusion")
    ae, ae_cfg, ae_meta = load_run(ae_run, "ae")
    lat = read_json(run / "latents.json")
    if not _same_latents(Path(lat["ae_run"]), Path(ae_run)):
        raise RuntimeError(f"{run} was trained on the latents of {lat['ae_run']}, not {ae_run}")
    idx = read_json(data_dir / "index.json")
    chain = _init_chain(run)
    # the version counts every diffusion step behind the weights, started-from runs included
    total_steps = int(meta["step"]) + sum(int(c.get("steps") or 0) for c in chain)
    training: dict[str, Any] = {
        "script": "genstudio ml train images-ae / images (genstudio/ml/images/train.py)",
        "diffusion": {
            "train_config": read_json(run / "train_config.json"),
            "steps": meta["step"],
            "wall_s": meta.get("wall_s"),
            "started_from": chain,
        },
        "autoencoder": {
            "train_config": read_json(ae_run / "train_config.json"),
            "steps": ae_meta["step"],
            "wall_s": ae_meta.get("wall_s"),
        },
        "hardware": common.hardware(),
        "data": {
            "sources": [*idx["sources"], idx["emojibase"]],
            "items": len(idx["items"]),
            "train": sum(it["split"] == "train" for it in idx["items"]),
            "categories": len(idx["categories"]),
        },
        "notes": notes or [],
    }
    return write_image_pack(
        unet, unet_cfg, ae, ae_cfg, float(lat["latent_scale"]), out,
        version=f"1.{total_steps}", training=training, metrics=metrics,
        categories=idx["categories"], attribution=data.attribution(idx),
        captions=caption_table(idx),
    )  # fmt: skip


def caption_table(idx: dict[str, Any], encoder=None) -> tuple[list[str], np.ndarray]:
    """The labels of the training icons (each once) and their MiniLM embeddings as int8
    (unit vectors x 127): what :meth:`IconModel.nearest_caption` compares a prompt with."""
    from genstudio.ml.images.data import default_encoder

    labels = sorted({it["label"] for it in idx["items"] if it["split"] == "train"})
    enc = encoder or default_encoder()
    v = np.concatenate(
        [enc.encode(labels[i : i + 256]).vectors for i in range(0, len(labels), 256)]
    )
    v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-8)
    return labels, np.round(v * 127.0).astype(np.int8)


def _same_latents(trained_on: Path, ae_run: Path) -> bool:
    """Whether ``ae_run`` encodes as ``trained_on`` does: the same run, or a decoder fine-tune of
    it (``freeze_encoder``, started from it) - the UNet's latents are the same either way."""
    if trained_on.resolve() == ae_run.resolve():
        return True
    cfg = read_json(ae_run / "train_config.json")
    init = cfg.get("init")
    return bool(cfg.get("freeze_encoder") and init and Path(init).resolve() == trained_on.resolve())


def _init_chain(run: Path) -> list[dict[str, Any]]:
    """The runs a diffusion run started from (``TrainConfig.init``), newest first, each with its
    config and the step it had reached - the whole provenance of the weights."""
    chain: list[dict[str, Any]] = []
    cfg = read_json(run / "train_config.json")
    while cfg.get("init") and len(chain) < 16:
        src = Path(cfg["init"])
        try:
            cfg = read_json(src / "train_config.json")
            meta = common.checkpoint_meta(src / "checkpoint.safetensors")
        except Exception as e:  # noqa: BLE001 - a missing source is recorded, not fatal
            chain.append({"run": str(src), "missing": str(e)})
            break
        chain.append(
            {"run": str(src), "train_config": cfg, "steps": meta.get("step"),
             "wall_s": meta.get("wall_s")}
        )  # fmt: skip
        prov = src / "provenance.json"  # a run seeded from a pack (train.runs_from_pack)
        if prov.exists():
            chain[-1]["from_pack"] = read_json(prov).get("pack")
            chain.extend(read_json(prov).get("started_from", []))
            break
    return chain


def write_image_pack(
    unet,
    unet_cfg,
    ae,
    ae_cfg,
    latent_scale: float,
    out: Path,
    *,
    version: str,
    training: dict[str, Any],
    metrics: dict | None = None,
    categories: list[str] | None = None,
    attribution: str = "",
    captions: tuple[list[str], np.ndarray] | None = None,
) -> Path:
    """Export trained (or, in tests, random) networks as a pack folder ``out``; ``captions``
    (labels, int8 embeddings) become ``captions.npz``, the model's known-prompt table."""
    import torch

    from genstudio.generators import text_encoder as te
    from genstudio.ml.images.train import SCHEDULER_CONFIG
    from genstudio.runtime.packs import write_pack

    unet.eval()
    ae.eval()
    out.mkdir(parents=True, exist_ok=True)
    c = unet_cfg.latent

    class Enc(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.e = ae.encoder

        def forward(self, image):
            return self.e(image)[0]

    b = 2
    common.export_onnx(
        unet,
        (
            torch.zeros(b, c, 16, 16),
            torch.zeros(b, dtype=torch.int64),
            torch.zeros(b, 384),
            torch.ones(b, 1),
        ),
        out / "unet.onnx",
        input_names=["sample", "timestep", "text", "use_text"],
        output_names=["eps"],
        dynamic_axes={k: {0: "batch"} for k in ("sample", "timestep", "text", "use_text", "eps")},
    )
    common.export_onnx(
        ae.decoder,
        (torch.zeros(b, c, 16, 16),),
        out / "decoder.onnx",
        input_names=["latent"],
        output_names=["image"],
        dynamic_axes={"latent": {0: "batch"}, "image": {0: "batch"}},
    )
    common.export_onnx(
        Enc(),
        (torch.zeros(b, 4, 64, 64),),
        out / "encoder.onnx",
        input_names=["image"],
        output_names=["mean"],
        dynamic_axes={"image": {0: "batch"}, "mean": {0: "batch"}},
    )
    # fp16 copy of the weights for fine-tuning (half the size; the ONNX graphs stay fp32)
    state = {f"unet.{k}": v.half() for k, v in unet.state_dict().items()}
    state.update({f"ae.{k}": v.half() for k, v in ae.state_dict().items()})
    common.save_checkpoint(out / "weights.safetensors", state, {"version": version})
    shutil.copyfile(te.default_tokenizer_path(), out / "tokenizer.json")
    files = ["unet.onnx", "decoder.onnx", "encoder.onnx", "tokenizer.json", "weights.safetensors"]
    if captions is not None:
        import io

        buf = io.BytesIO()
        np.savez_compressed(buf, labels=np.array(captions[0]), emb=captions[1])
        atomic_write_bytes(out / "captions.npz", buf.getvalue())
        files.append("captions.npz")
    write_pack(
        out,
        id=PACK_ID,
        kind="image",
        version=version,
        license="MIT",
        attribution=attribution,
        files=files,
        inputs=[{"name": "prompt"}],
        outputs=[{"name": "image", "shape": [64, 64, 4]}],
        training=training,
        metrics=metrics or {},
        extra={
            "latent_shape": [c, 16, 16],
            "latent_scale": float(latent_scale),
            "scheduler": SCHEDULER_CONFIG,
            "tokenizer": "tokenizer.json",
            "text_encoder": {
                "package": te.ENCODER_PACKAGE,
                "file": "model.onnx",
                "sha256": te.ENCODER_SHA256,
                "model": "sentence-transformers/all-MiniLM-L6-v2 (int8 ONNX), Apache-2.0",
            },
            "net_config": {
                "unet": dataclasses.asdict(unet_cfg),
                "autoencoder": dataclasses.asdict(ae_cfg),
            },
            "categories": categories or [],
        },
    )
    return out


def write_random_pack(out: Path, seed: int = 0) -> Path:
    """A tiny pack with random weights (tests of the pipeline's mechanics, never shipped)."""
    import torch

    from genstudio.ml.images.model import AEConfig, UNetConfig, build_ae, build_unet

    torch.manual_seed(seed)
    ae_cfg = AEConfig(ch=8, latent=4)
    unet_cfg = UNetConfig(latent=4, ch=16, emb=32, heads=2, text_scale=384**0.5, text_tokens=2)
    ae, unet = build_ae(ae_cfg), build_unet(unet_cfg)
    # zero-initialised outputs: give the test model a signal through every path
    for m in (unet.out, unet.xa2.out, unet.xma.out, unet.xua2.out):
        for p in m.parameters():
            torch.nn.init.normal_(p, 0.0, 0.02)
    return write_image_pack(
        unet, unet_cfg, ae, ae_cfg, 1.0, out, version="0.random",
        training={"notes": ["random"]}, attribution="random weights, never shipped",
    )  # fmt: skip


def parity(pack: Path, run: Path, ae_run: Path, seed: int = 0) -> dict[str, float]:
    """Max |ONNX Runtime - torch| of the UNet and the decoder on random inputs."""
    import torch

    from genstudio.generators.images.icons import IconModel
    from genstudio.ml.images.train import load_run

    unet, cfg, _ = load_run(run, "diffusion")
    ae, _, _ = load_run(ae_run, "ae")
    m = IconModel(pack)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, cfg.latent, 16, 16)).astype(np.float32)
    txt = rng.standard_normal((2, 384)).astype(np.float32)
    use = np.array([[1.0], [0.0]], np.float32)
    with torch.no_grad():
        ref = unet(torch.from_numpy(x), torch.tensor([10, 500]), torch.from_numpy(txt),
                   torch.from_numpy(use)).numpy()  # fmt: skip
        dec = ae.decoder(torch.from_numpy(x)).numpy()
    got = m.unet.run(None, {"sample": x, "timestep": np.array([10, 500]), "text": txt,
                            "use_text": use})[0]  # fmt: skip
    got_dec = m.decoder.run(None, {"latent": x})[0]
    return {
        "unet_max_abs_diff": float(np.abs(got - ref).max()),
        "decoder_max_abs_diff": float(np.abs(got_dec - dec).max()),
    }
