"""Tiny random-weight Stable Diffusion pipelines, exported to the Optimum ONNX layout, for tests.

:func:`build_tiny_sd` builds a diffusers ``StableDiffusionPipeline`` (or the inpainting one) from
tiny parts with random weights - a 2-block ``UNet2DConditionModel``, a 2-block ``AutoencoderKL``
(8x smaller latents would need 4 blocks; this one downsamples 2x), a 1-layer ``CLIPTextModel``
and a CLIP BPE tokenizer trained here on a few dozen made-up words - and writes it twice::

    <out_dir>/diffusers/   save_pretrained (safetensors): the PyTorch reference
    <out_dir>/onnx/        the layout Optimum's ``optimum-cli export onnx`` writes:
        model_index.json
        text_encoder/model.onnx  (input_ids int32 -> last_hidden_state, pooler_output)
        unet/model.onnx          (sample, timestep, encoder_hidden_states [, timestep_cond]
                                  -> out_sample)
        vae_encoder/model.onnx   (sample -> latent_parameters: mean and log-variance)
        vae_decoder/model.onnx   (latent_sample -> sample)
        tokenizer/  scheduler/  and each part's config.json

The text encoders are as wide as the real ones (768 for SD 1.x, 1024 for SD 2.x), because that
width is how a folder is recognised; everything else is as small as diffusers allows, so a
build takes a few seconds on two cores. The kinds differ where real models differ, so that the
pipeline's branches all run:

- ``sd1``: CLIP-L width, quick_gelu, SD 1.5's scheduler config, a float32 timestep of shape (1,),
  tokenizer from vocab.json + merges.txt only, padding with ``<|endoftext|>``.
- ``sd2``: width 1024, gelu, linear projections in the UNet, SD 2.1-v's config (v-prediction,
  DDIM, leading), an int64 timestep, tokenizer.json included, padding with ``!``, and a
  VAE scaling factor other than 0.18215 (so reading it from the config is tested).
- ``inpaint``: ``sd1`` with a 9-channel UNet (latents + mask + masked-image latents).
- ``lcm``: ``sd1`` with an LCM-distilled UNet (``time_cond_proj_dim``: a ``timestep_cond`` input
  carries the guidance scale; no classifier-free guidance) and LCM's scheduler config.

torch, diffusers and transformers are imported inside functions: this module is importable
without them.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genstudio.core.atomic import atomic_write_json, atomic_write_text
from genstudio.core.errors import InvalidParamsError
from genstudio.generators.images import schedulers

KINDS = ("sd1", "sd2", "inpaint", "lcm")
IMAGE_SIZE = 32  # pixels; latents are 16x16 (the tiny VAE downsamples 2x)

_WORDS = (
    "a photo of the cat dog castle red blue green painting portrait landscape mountain river "
    "forest night sky sun moon pixel art sprite knight dragon wizard tree house city street car "
    "ship sea beach snow winter summer flower garden bird fish horse girl boy old young happy "
    "dark light fantasy detailed high quality best masterpiece with and in on at by style "
    "oil watercolor sketch anime cinematic lighting sunset golden hour rain fog"
).split()

SD15_SCHEDULER = schedulers.SD15_CONFIG
SD21_V_SCHEDULER = schedulers.SD2_V_CONFIG
LCM_SCHEDULER = schedulers.LCM_CONFIG


@dataclass(frozen=True)
class TinySD:
    kind: str
    onnx_dir: Path  # the Optimum ONNX layout
    diffusers_dir: Path  # the same weights as a diffusers pipeline (safetensors)
    image_size: int = IMAGE_SIZE


# --------------------------------------------------------------------------------- tokenizer


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


def make_clip_vocab(
    words: tuple[str, ...] | list[str] = _WORDS, merges: int = 160
) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """A CLIP-style BPE vocabulary and merge list learnt from ``words`` (deterministic).

    The order is CLIP's: 256 byte characters, the same with ``</w>``, one token per merge,
    then ``<|startoftext|>`` and ``<|endoftext|>`` (the last two ids, as 49406/49407 in CLIP).
    """
    table = bytes_to_unicode()
    base = list(table.values())
    vocab_list = base + [c + "</w>" for c in base]
    seen = set(vocab_list)
    seqs: list[list[str]] = []
    for w in words:
        chars = [table[b] for b in w.encode("utf-8")]
        chars[-1] += "</w>"
        seqs.append(chars)
    learnt: list[tuple[str, str]] = []
    while len(learnt) < merges:
        pairs: Counter[tuple[str, str]] = Counter()
        for s in seqs:
            pairs.update(zip(s, s[1:]))
        candidates = [(n, p) for p, n in pairs.items() if "".join(p) not in seen]
        if not candidates:
            break
        _, best = max(candidates, key=lambda np_: (np_[0], [-ord(c) for c in "".join(np_[1])]))
        merged = "".join(best)
        learnt.append(best)
        seen.add(merged)
        vocab_list.append(merged)
        for k, s in enumerate(seqs):
            out: list[str] = []
            i = 0
            while i < len(s):
                if i + 1 < len(s) and (s[i], s[i + 1]) == best:
                    out.append(merged)
                    i += 2
                else:
                    out.append(s[i])
                    i += 1
            seqs[k] = out
    vocab_list += ["<|startoftext|>", "<|endoftext|>"]
    return {tok: i for i, tok in enumerate(vocab_list)}, learnt


def write_clip_tokenizer(folder: Path, *, pad_token: str = "<|endoftext|>") -> dict[str, int]:
    """vocab.json, merges.txt, tokenizer_config.json and special_tokens_map.json, as the SD
    repositories ship them (SD 1.x pads with ``<|endoftext|>``, SD 2.x with ``!``)."""
    vocab, merges = make_clip_vocab()
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / "vocab.json", json.dumps(vocab, ensure_ascii=False))
    atomic_write_text(
        folder / "merges.txt", "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges)
    )
    special = {
        "bos_token": "<|startoftext|>",
        "eos_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>",
        "pad_token": pad_token,
    }
    atomic_write_json(folder / "special_tokens_map.json", special)
    atomic_write_json(
        folder / "tokenizer_config.json",
        {
            **special,
            "model_max_length": 77,
            "do_lower_case": True,
            "tokenizer_class": "CLIPTokenizer",
        },
    )
    return vocab


# --------------------------------------------------------------------------------- model


def _parts(kind: str, vocab: dict[str, int], seed: int) -> dict[str, Any]:
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    sd2 = kind == "sd2"
    width = 1024 if sd2 else 768
    torch.manual_seed(seed)
    text = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(vocab),
            hidden_size=width,
            intermediate_size=64,
            num_hidden_layers=1,
            num_attention_heads=4,
            max_position_embeddings=77,
            hidden_act="gelu" if sd2 else "quick_gelu",
            projection_dim=32,
            bos_token_id=vocab["<|startoftext|>"],
            eos_token_id=vocab["<|endoftext|>"],
            pad_token_id=0 if sd2 else vocab["<|endoftext|>"],
            attn_implementation="eager",
        )
    )
    unet = UNet2DConditionModel(
        sample_size=IMAGE_SIZE // 2,
        in_channels=9 if kind == "inpaint" else 4,
        out_channels=4,
        layers_per_block=1,
        block_out_channels=(32, 64),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=width,
        attention_head_dim=(2, 4) if sd2 else 8,
        use_linear_projection=sd2,
        norm_num_groups=32,
        time_cond_proj_dim=32 if kind == "lcm" else None,
    )
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        block_out_channels=(32, 64),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=32,
        sample_size=IMAGE_SIZE,
        scaling_factor=0.2 if sd2 else 0.18215,
    )
    # Random init leaves the conv_out/zero-initialised layers near zero; a little noise on every
    # weight makes the UNet's output depend on all its inputs (else parity would be trivial).
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for model in (unet, vae):
            for p in model.parameters():
                p.add_(0.02 * torch.randn(p.shape, generator=g))
    for m in (text, unet, vae):
        m.eval()
    return {"text_encoder": text, "unet": unet, "vae": vae}


def _export(parts: dict[str, Any], kind: str, onnx_dir: Path) -> None:
    import torch

    from genstudio.ml.common import export_onnx

    text, unet, vae = parts["text_encoder"], parts["unet"], parts["vae"]

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

    for sub in ("text_encoder", "unet", "vae_encoder", "vae_decoder"):
        (onnx_dir / sub).mkdir(parents=True, exist_ok=True)
    lat = IMAGE_SIZE // 2
    width = text.config.hidden_size
    img_axes = {0: "batch", 2: "height", 3: "width"}
    export_onnx(
        TextEncoder(),
        (torch.zeros(1, 77, dtype=torch.int32),),
        onnx_dir / "text_encoder" / "model.onnx",
        ["input_ids"],
        ["last_hidden_state", "pooler_output"],
        {
            "input_ids": {0: "batch"},
            "last_hidden_state": {0: "batch"},
            "pooler_output": {0: "batch"},
        },
    )
    if kind == "sd2":
        timestep = torch.tensor([999], dtype=torch.int64)  # Optimum's dtype
    else:
        timestep = torch.tensor([999.0], dtype=torch.float32)
    args: tuple[Any, ...] = (
        torch.randn(2, unet.config.in_channels, lat, lat),
        timestep,
        torch.randn(2, 77, width),
    )
    names = ["sample", "timestep", "encoder_hidden_states"]
    axes: dict[str, dict[int, str]] = {
        "sample": img_axes,
        "encoder_hidden_states": {0: "batch", 1: "sequence"},
        "out_sample": img_axes,
    }
    if kind == "lcm":
        args = (*args, torch.randn(2, unet.config.time_cond_proj_dim))
        names.append("timestep_cond")
        axes["timestep_cond"] = {0: "batch"}
    export_onnx(UNet(), args, onnx_dir / "unet" / "model.onnx", names, ["out_sample"], axes)
    export_onnx(
        VaeEncoder(),
        (torch.randn(1, 3, IMAGE_SIZE, IMAGE_SIZE),),
        onnx_dir / "vae_encoder" / "model.onnx",
        ["sample"],
        ["latent_parameters"],
        {"sample": img_axes, "latent_parameters": img_axes},
    )
    export_onnx(
        VaeDecoder(),
        (torch.randn(1, 4, lat, lat),),
        onnx_dir / "vae_decoder" / "model.onnx",
        ["latent_sample"],
        ["sample"],
        {"latent_sample": img_axes, "sample": img_axes},
    )


def build_tiny_sd(out_dir: str | Path, *, kind: str = "sd1", seed: int = 0) -> TinySD:
    """Build the tiny pipeline ``kind`` (one of :data:`KINDS`) under ``out_dir`` (see the
    module docstring for the layout). Deterministic for a seed."""
    import torch
    from diffusers import StableDiffusionInpaintPipeline, StableDiffusionPipeline
    from transformers import CLIPTokenizer

    if kind not in KINDS:
        raise InvalidParamsError(
            f"Unknown tiny SD kind {kind!r}.", hint=f"Choose one of: {', '.join(KINDS)}."
        )
    out = Path(out_dir)
    onnx_dir, ref_dir = out / "onnx", out / "diffusers"
    for d in (onnx_dir, ref_dir):
        if d.exists():
            shutil.rmtree(d)
    tok_dir = onnx_dir / "tokenizer"
    vocab = write_clip_tokenizer(tok_dir, pad_token="!" if kind == "sd2" else "<|endoftext|>")
    tokenizer = CLIPTokenizer.from_pretrained(str(tok_dir))
    parts = _parts(kind, vocab, seed)

    from diffusers import DDIMScheduler, LCMScheduler, PNDMScheduler

    sched_cfg = {"sd2": SD21_V_SCHEDULER, "lcm": LCM_SCHEDULER}.get(kind, SD15_SCHEDULER)
    sched_cls = {"sd2": DDIMScheduler, "lcm": LCMScheduler}.get(kind, PNDMScheduler)
    scheduler = sched_cls.from_config({k: v for k, v in sched_cfg.items() if k != "_class_name"})
    cls = StableDiffusionInpaintPipeline if kind == "inpaint" else StableDiffusionPipeline
    pipe = cls(
        vae=parts["vae"],
        text_encoder=parts["text_encoder"],
        tokenizer=tokenizer,
        unet=parts["unet"],
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(str(ref_dir), safe_serialization=True)

    with torch.no_grad():
        _export(parts, kind, onnx_dir)
    # The configs Optimum copies next to the ONNX files.
    shutil.copy(ref_dir / "model_index.json", onnx_dir / "model_index.json")
    for src, dst in (
        ("text_encoder", "text_encoder"),
        ("unet", "unet"),
        ("vae", "vae_encoder"),
        ("vae", "vae_decoder"),
        ("scheduler", "scheduler"),
    ):
        (onnx_dir / dst).mkdir(parents=True, exist_ok=True)
        for f in (ref_dir / src).glob("*.json"):
            shutil.copy(f, onnx_dir / dst / f.name)
    # The scheduler config as the model repositories ship it (keys left out take each
    # scheduler's own default), not as diffusers rewrites it with every default filled in.
    for d in (ref_dir, onnx_dir):
        atomic_write_json(d / "scheduler" / "scheduler_config.json", sched_cfg)
    if kind == "sd2" and (ref_dir / "tokenizer" / "tokenizer.json").is_file():
        shutil.copy(ref_dir / "tokenizer" / "tokenizer.json", tok_dir / "tokenizer.json")
    return TinySD(kind=kind, onnx_dir=onnx_dir, diffusers_dir=ref_dir)
