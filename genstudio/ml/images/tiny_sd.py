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

import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genstudio.core.atomic import atomic_write_json
from genstudio.core.errors import InvalidParamsError
from genstudio.generators.images import schedulers
from genstudio.ml.images.sd_onnx import bytes_to_unicode, export_parts, write_tokenizer

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
    """The tiny vocabulary as the SD repositories ship a tokenizer folder (SD 1.x pads with
    ``<|endoftext|>``, SD 2.x with ``!``)."""
    vocab, merges = make_clip_vocab()
    write_tokenizer(folder, vocab, merges, pad_token=pad_token)
    return vocab


# --------------------------------------------------------------------------------- model


def _parts(
    kind: str, vocab: dict[str, int], seed: int, vae_scale: float | None = None
) -> dict[str, Any]:
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
            num_attention_heads=width // 64,  # CLIP-L 12, OpenCLIP-H 16: 64 wide heads
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
        block_out_channels=(64, 128) if sd2 else (32, 64),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=width,
        # SD 1.x: 8 heads per block; SD 2.x: 64-wide heads (what a single file implies)
        attention_head_dim=(1, 2) if sd2 else 8,
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
        scaling_factor=vae_scale or (0.2 if sd2 else 0.18215),
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
    export_parts(
        parts["text_encoder"],
        parts["unet"],
        parts["vae"],
        onnx_dir,
        latent=IMAGE_SIZE // 2,
        timestep_dtype="int64" if kind == "sd2" else "float32",  # sd2: Optimum's dtype
    )


def build_tiny_sd(
    out_dir: str | Path, *, kind: str = "sd1", seed: int = 0, vae_scale: float | None = None
) -> TinySD:
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
    parts = _parts(kind, vocab, seed, vae_scale)

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


# ----------------------------------------------------------------------- single-file checkpoint

_UNET_RESNET = (
    ("norm1", "in_layers.0"),
    ("conv1", "in_layers.2"),
    ("norm2", "out_layers.0"),
    ("conv2", "out_layers.3"),
    ("time_emb_proj", "emb_layers.1"),
    ("conv_shortcut", "skip_connection"),
)
_VAE_ATTN = (
    ("group_norm", "norm"),
    ("to_q", "q"),
    ("to_k", "k"),
    ("to_v", "v"),
    ("to_out.0", "proj_out"),
)


def _sub(rest: str, table: tuple[tuple[str, str], ...]) -> str:
    head, _, tail = rest.partition(".")
    for new, old in table:
        if rest.startswith(new + "."):
            return old + rest[len(new) :]
    return f"{head}.{tail}" if tail else head


def _ldm_unet(sd: dict[str, Any], lpb: int) -> dict[str, Any]:
    """diffusers UNet2DConditionModel keys -> the original LDM ``model.diffusion_model.*``."""
    import re

    out: dict[str, Any] = {}
    fixed = {
        "time_embedding.linear_1": "time_embed.0",
        "time_embedding.linear_2": "time_embed.2",
        "conv_in": "input_blocks.0.0",
        "conv_norm_out": "out.0",
        "conv_out": "out.2",
    }
    for key, t in sd.items():
        name, _, leaf = key.rpartition(".")
        if name in fixed:
            out[f"{fixed[name]}.{leaf}"] = t
            continue
        m = re.match(r"down_blocks\.(\d+)\.(resnets|attentions|downsamplers)\.(\d+)\.(.*)", key)
        if m:
            b, kind, j, rest = int(m[1]), m[2], int(m[3]), m[4]
            base = 1 + b * (lpb + 1)
            if kind == "downsamplers":
                out[f"input_blocks.{base + lpb}.0.op.{rest.split('.', 1)[1]}"] = t
            elif kind == "resnets":
                out[f"input_blocks.{base + j}.0.{_sub(rest, _UNET_RESNET)}"] = t
            else:
                out[f"input_blocks.{base + j}.1.{rest}"] = t
            continue
        m = re.match(r"mid_block\.(resnets|attentions)\.(\d+)\.(.*)", key)
        if m:
            idx = {"resnets": 2 * int(m[2]), "attentions": 1}[m[1]]
            rest = _sub(m[3], _UNET_RESNET) if m[1] == "resnets" else m[3]
            out[f"middle_block.{idx}.{rest}"] = t
            continue
        m = re.match(r"up_blocks\.(\d+)\.(resnets|attentions|upsamplers)\.(\d+)\.(.*)", key)
        if m:
            b, kind, j, rest = int(m[1]), m[2], int(m[3]), m[4]
            base = b * (lpb + 1)
            if kind == "upsamplers":
                has_attn = any(k.startswith(f"up_blocks.{b}.attentions.") for k in sd)
                out[f"output_blocks.{base + lpb}.{2 if has_attn else 1}.{rest}"] = t
            elif kind == "resnets":
                out[f"output_blocks.{base + j}.0.{_sub(rest, _UNET_RESNET)}"] = t
            else:
                out[f"output_blocks.{base + j}.1.{rest}"] = t
            continue
        raise KeyError(f"no LDM name for UNet key {key}")
    return {f"model.diffusion_model.{k}": v for k, v in out.items()}


def _ldm_vae(sd: dict[str, Any], n_levels: int) -> dict[str, Any]:
    """diffusers AutoencoderKL keys -> LDM ``first_stage_model.*`` (attention as 1x1 convs)."""
    import re

    out: dict[str, Any] = {}
    for key, t in sd.items():
        k = key.replace("conv_norm_out", "norm_out").replace("conv_shortcut", "nin_shortcut")
        m = re.match(r"(encoder|decoder)\.(down|up)_blocks\.(\d+)\.(resnets|downsamplers|upsamplers)\.(\d+)\.(.*)", k)  # fmt: skip
        if m:
            side, _, b, kind, j, rest = m.groups()
            level = int(b) if side == "encoder" else n_levels - 1 - int(b)
            word = "down" if side == "encoder" else "up"
            if kind == "resnets":
                k = f"{side}.{word}.{level}.block.{j}.{rest}"
            else:
                k = f"{side}.{word}.{level}.{'downsample' if side == 'encoder' else 'upsample'}.{rest}"
        m = re.match(r"(encoder|decoder)\.mid_block\.(resnets|attentions)\.(\d+)\.(.*)", k)
        if m:
            side, kind, j, rest = m.groups()
            if kind == "resnets":
                k = f"{side}.mid.block_{int(j) + 1}.{rest}"
            else:
                k = f"{side}.mid.attn_1.{_sub(rest, _VAE_ATTN)}"
                if t.ndim == 2:
                    t = t[:, :, None, None]
        out[f"first_stage_model.{k}"] = t
    return out


def _ldm_openclip(sd: dict[str, Any]) -> dict[str, Any]:
    """transformers CLIPTextModel keys -> OpenCLIP's ``cond_stage_model.model.*`` (SD 2.x)."""
    import re

    import torch

    out: dict[str, Any] = {}
    pre = "cond_stage_model.model."
    qkv: dict[str, dict[str, Any]] = {}
    names = {
        "text_model.embeddings.token_embedding.weight": "token_embedding.weight",
        "text_model.embeddings.position_embedding.weight": "positional_embedding",
        "text_model.final_layer_norm.weight": "ln_final.weight",
        "text_model.final_layer_norm.bias": "ln_final.bias",
    }
    sub = (
        ("layer_norm1", "ln_1"),
        ("layer_norm2", "ln_2"),
        ("mlp.fc1", "mlp.c_fc"),
        ("mlp.fc2", "mlp.c_proj"),
        ("self_attn.out_proj", "attn.out_proj"),
    )
    for key, t in sd.items():
        if key in names:
            out[pre + names[key]] = t
            continue
        m = re.match(r"text_model\.encoder\.layers\.(\d+)\.(.*)", key)
        if not m:
            continue  # position_ids and the like
        i, rest = m.groups()
        q = re.match(r"self_attn\.(q|k|v)_proj\.(weight|bias)", rest)
        if q:
            qkv.setdefault(f"{i}.{q[2]}", {})[q[1]] = t
            continue
        out[f"{pre}transformer.resblocks.{i}.{_sub(rest, sub)}"] = t
    for ik, parts in qkv.items():
        i, leaf = ik.split(".")
        out[f"{pre}transformer.resblocks.{i}.attn.in_proj_{leaf}"] = torch.cat(
            [parts["q"], parts["k"], parts["v"]]
        )
    width = sd["text_model.final_layer_norm.weight"].shape[0]
    out[pre + "text_projection"] = torch.eye(width)  # SD never uses it; real files carry it
    return out


def save_single_file(tiny: TinySD, path: str | Path) -> Path:
    """The tiny pipeline as one LDM-layout ``.safetensors`` checkpoint, the way A1111 and model
    sites keep SD (``model.diffusion_model.*``, ``first_stage_model.*``, ``cond_stage_model.*``).
    The tests check it with diffusers' own ``from_single_file``, so this inverse mapping is
    verified by an independent reader before GenStudio's import is compared with it."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from safetensors.torch import save_file
    from transformers import CLIPTextModel

    ref = tiny.diffusers_dir
    unet = UNet2DConditionModel.from_pretrained(str(ref / "unet"))
    vae = AutoencoderKL.from_pretrained(str(ref / "vae"))
    text = CLIPTextModel.from_pretrained(str(ref / "text_encoder"))
    state: dict[str, Any] = {}
    state.update(_ldm_unet(unet.state_dict(), unet.config.layers_per_block))
    state.update(_ldm_vae(vae.state_dict(), len(vae.config.block_out_channels)))
    # transformers 5 names the text model's tensors without its "text_model." prefix
    text_sd = {
        (k if k.startswith("text_model.") else f"text_model.{k}"): v
        for k, v in text.state_dict().items()
    }
    if tiny.kind == "sd2":
        state.update(_ldm_openclip(text_sd))
    else:
        state.update(
            {
                f"cond_stage_model.transformer.{k}": v
                for k, v in text_sd.items()
                if "position_ids" not in k
            }
        )
    path = Path(path)
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    return path
