"""Stable Diffusion parts (diffusers/transformers modules) -> the ONNX folder layout Optimum's
``optimum-cli export onnx`` writes, which :mod:`genstudio.generators.images.sd.folder` loads::

    model_index.json
    text_encoder/model.onnx  (input_ids int32 -> last_hidden_state, pooler_output)
    unet/model.onnx          (sample, timestep, encoder_hidden_states [, timestep_cond]
                              -> out_sample)
    vae_encoder/model.onnx   (sample -> latent_parameters: mean and log-variance)
    vae_decoder/model.onnx   (latent_sample -> sample)
    tokenizer/  scheduler/  and each part's config.json

Used by the model import (:mod:`genstudio.ml.images.sd_convert`) and by the tiny test pipelines
(:mod:`genstudio.ml.images.tiny_sd`). A part whose weights pass ``external_over`` bytes (real
SD UNets are 3.4 GB in float32, over protobuf's 2 GB) keeps them in one ``model.onnx_data``
file beside its graph. Also builds CLIP's tokenizer files from the BPE merge list GenStudio
ships (``data/clip_bpe_simple_vocab_16e6.txt.gz``, MIT, see ``data/LICENSE-clip-bpe.txt``).

torch is imported inside functions only.
"""

from __future__ import annotations

import gzip
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from genstudio.core.atomic import atomic_write_json, atomic_write_text

CLIP_BPE = Path(__file__).with_name("data") / "clip_bpe_simple_vocab_16e6.txt.gz"
BOS, EOS = "<|startoftext|>", "<|endoftext|>"
EXTERNAL_OVER = 1_800_000_000  # bytes of weights above which a part's tensors go to one side file


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible byte -> printable character table (256 entries)."""
    bs = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs], strict=True))


def clip_vocab() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """CLIP's vocabulary (49,408 tokens) and merge list, built the way OpenAI's
    ``simple_tokenizer`` builds them from the shipped merge file: 256 byte characters, the same
    with ``</w>``, one token per merge (the first 48,894), then BOS and EOS."""
    lines = gzip.decompress(CLIP_BPE.read_bytes()).decode("utf-8").split("\n")
    merges = [tuple(m.split()) for m in lines[1 : 49152 - 256 - 2 + 1]]
    base = list(bytes_to_unicode().values())
    tokens = base + [b + "</w>" for b in base] + ["".join(m) for m in merges] + [BOS, EOS]
    return {t: i for i, t in enumerate(tokens)}, [(a, b) for a, b in merges]


def write_tokenizer(
    folder: Path,
    vocab: dict[str, int],
    merges: list[tuple[str, str]],
    *,
    pad_token: str = EOS,
    max_length: int = 77,
) -> None:
    """vocab.json, merges.txt, tokenizer_config.json and special_tokens_map.json, as the SD
    repositories ship them (SD 1.x pads with ``<|endoftext|>``, SD 2.x with ``!``)."""
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / "vocab.json", json.dumps(vocab, ensure_ascii=False))
    atomic_write_text(
        folder / "merges.txt", "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges)
    )
    special = {"bos_token": BOS, "eos_token": EOS, "unk_token": EOS, "pad_token": pad_token}
    atomic_write_json(folder / "special_tokens_map.json", special)
    atomic_write_json(
        folder / "tokenizer_config.json",
        {
            **special,
            "model_max_length": max_length,
            "do_lower_case": True,
            "tokenizer_class": "CLIPTokenizer",
        },
    )


def _export_part(
    model: Any,
    args: tuple,
    path: Path,
    input_names: list[str],
    output_names: list[str],
    axes: dict[str, dict[int, str]],
    external_over: int,
) -> None:
    """One part into ``path`` (self-contained, or with ``model.onnx_data`` beside it when its
    weights pass ``external_over`` bytes), through a temporary folder renamed into place."""
    import warnings

    import onnx
    import torch

    from genstudio.ml.common import export_onnx

    size = sum(p.numel() * p.element_size() for p in model.parameters())
    path.parent.mkdir(parents=True, exist_ok=True)
    if size <= external_over:
        export_onnx(model, args, path, input_names, output_names, axes)
        return
    tmp = path.parent / ".export.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model.eval(),
                args,
                str(tmp / "model.onnx"),
                input_names=input_names,
                output_names=output_names,
                dynamic_axes=axes,
                opset_version=17,
                dynamo=False,
            )
        proto = onnx.load(str(tmp / "model.onnx"), load_external_data=True)
        out = tmp / "out"
        out.mkdir()
        onnx.save_model(
            proto,
            str(out / "model.onnx"),
            save_as_external_data=True,
            all_tensors_to_one_file=True,
            location="model.onnx_data",
            size_threshold=1024,
        )
        del proto
        for name in ("model.onnx_data", "model.onnx"):  # the graph last: it is what is looked for
            (out / name).replace(path.parent / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


WEIGHT_MAP = "genstudio-weights.json"


def write_weight_map(module: Any, onnx_path: Path, *, strip: str = "") -> dict[str, Any]:
    """``<part>/genstudio-weights.json``: where each 2-D and 4-D weight of ``module`` (Linear
    and Conv, what a LoRA changes) lies in the exported graph - the ONNX initializer holding
    it, as it is or transposed (the exporter folds a Linear's transpose into a new, unnamed
    initializer). Found by content, so it holds whatever the exporter did. LoRAs are then
    merged into those initializers with numpy, in the studio, without torch
    (:mod:`genstudio.generators.images.sd.lora`). ``strip`` drops a prefix from the names
    (``text_model.``)."""
    import hashlib

    import numpy as np
    import onnx
    from onnx import numpy_helper

    proto = onnx.load(str(onnx_path), load_external_data=True)
    by_content: dict[tuple[tuple[int, ...], str], str] = {}
    for init in proto.graph.initializer:
        if len(init.dims) in (2, 4):
            arr = numpy_helper.to_array(init)
            key = (tuple(arr.shape), hashlib.sha1(np.ascontiguousarray(arr).tobytes()).hexdigest())
            by_content.setdefault(key, init.name)
    del proto
    weights: dict[str, Any] = {}
    for name, p in module.named_parameters():
        if p.ndim not in (2, 4):
            continue
        w = p.detach().float().cpu().numpy()
        for transposed, arr in ((False, w), (True, w.T if w.ndim == 2 else None)):
            if arr is None:
                continue
            arr = np.ascontiguousarray(arr)
            hit = by_content.get((tuple(arr.shape), hashlib.sha1(arr.tobytes()).hexdigest()))
            if hit is not None:
                weights[name.removeprefix(strip)] = {"init": hit, "transposed": transposed}
                break
    doc = {"format": "genstudio-weights", "schema": 1, "weights": weights}
    atomic_write_json(onnx_path.parent / WEIGHT_MAP, doc)
    return doc


def export_parts(
    text: Any,
    unet: Any,
    vae: Any,
    onnx_dir: Path,
    *,
    latent: int = 16,
    timestep_dtype: str = "float32",
    external_over: int = EXTERNAL_OVER,
    step: Callable[[str], None] | None = None,
) -> None:
    """Export the text encoder, UNet and both VAE halves into ``onnx_dir`` (Optimum's names
    and dynamic axes). ``latent`` is the traced latent size (any size runs afterwards);
    ``step(part)`` is called before each part (progress and cancel)."""
    import torch

    class TextEncoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.m = text

        def forward(self, input_ids):  # (B, 77) int32
            out = self.m(input_ids=input_ids.long())
            return out.last_hidden_state, out.pooler_output

    class UNet(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.m = unet

        def forward(self, sample, timestep, encoder_hidden_states, timestep_cond=None):
            return self.m(
                sample, timestep, encoder_hidden_states, timestep_cond=timestep_cond
            ).sample

    class VaeEncoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.m = vae

        def forward(self, sample):  # (B, 3, H, W) in [-1, 1] -> (B, 2C, H/f, W/f)
            return self.m.encode(sample).latent_dist.parameters

    class VaeDecoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.m = vae

        def forward(self, latent_sample):
            return self.m.decode(latent_sample).sample

    def begin(part: str) -> None:
        if step is not None:
            step(part)

    factor = 2 ** (len(vae.config.block_out_channels) - 1)
    width = text.config.hidden_size
    seq = int(text.config.max_position_embeddings)
    img_axes = {0: "batch", 2: "height", 3: "width"}
    begin("text_encoder")
    _export_part(
        TextEncoder(),
        (torch.zeros(1, seq, dtype=torch.int32),),
        onnx_dir / "text_encoder" / "model.onnx",
        ["input_ids"],
        ["last_hidden_state", "pooler_output"],
        {
            "input_ids": {0: "batch"},
            "last_hidden_state": {0: "batch"},
            "pooler_output": {0: "batch"},
        },
        external_over,
    )
    write_weight_map(text, onnx_dir / "text_encoder" / "model.onnx", strip="text_model.")
    begin("unet")
    if timestep_dtype == "int64":
        timestep = torch.tensor([999], dtype=torch.int64)  # what Optimum exports
    else:
        timestep = torch.tensor([999.0], dtype=torch.float32)
    args: tuple[Any, ...] = (
        torch.randn(2, unet.config.in_channels, latent, latent),
        timestep,
        torch.randn(2, seq, width),
    )
    names = ["sample", "timestep", "encoder_hidden_states"]
    axes: dict[str, dict[int, str]] = {
        "sample": img_axes,
        "encoder_hidden_states": {0: "batch", 1: "sequence"},
        "out_sample": img_axes,
    }
    if unet.config.time_cond_proj_dim:
        args = (*args, torch.randn(2, unet.config.time_cond_proj_dim))
        names.append("timestep_cond")
        axes["timestep_cond"] = {0: "batch"}
    _export_part(
        UNet(), args, onnx_dir / "unet" / "model.onnx", names, ["out_sample"], axes, external_over
    )
    write_weight_map(unet, onnx_dir / "unet" / "model.onnx")
    begin("vae_encoder")
    _export_part(
        VaeEncoder(),
        (torch.randn(1, 3, latent * factor, latent * factor),),
        onnx_dir / "vae_encoder" / "model.onnx",
        ["sample"],
        ["latent_parameters"],
        {"sample": img_axes, "latent_parameters": img_axes},
        external_over,
    )
    begin("vae_decoder")
    _export_part(
        VaeDecoder(),
        (torch.randn(1, vae.config.latent_channels, latent, latent),),
        onnx_dir / "vae_decoder" / "model.onnx",
        ["latent_sample"],
        ["sample"],
        {"latent_sample": img_axes, "sample": img_axes},
        external_over,
    )


def write_configs(
    onnx_dir: Path,
    *,
    model_index: dict[str, Any],
    text: Any,
    unet: Any,
    vae: Any,
    scheduler: dict[str, Any],
) -> None:
    """model_index.json, the scheduler config and each part's config.json, as Optimum copies
    them next to the ONNX files."""
    atomic_write_json(onnx_dir / "model_index.json", model_index)
    (onnx_dir / "scheduler").mkdir(parents=True, exist_ok=True)
    atomic_write_json(onnx_dir / "scheduler" / "scheduler_config.json", scheduler)
    for sub, cfg in (
        ("text_encoder", text.config.to_dict()),
        ("unet", dict(unet.config)),
        ("vae_encoder", dict(vae.config)),
        ("vae_decoder", dict(vae.config)),
    ):
        (onnx_dir / sub).mkdir(parents=True, exist_ok=True)
        atomic_write_json(onnx_dir / sub / "config.json", _jsonable(cfg))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
