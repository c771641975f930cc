"""InvokeAI: ``invokeai_metadata`` JSON (3+), and for 2.x the ``sd-metadata`` JSON and the
older ``Dream`` command string.

3+: model as ``{"model_name"}`` (3.x) or ``{"name", "hash"}`` (4.x+). All versions: ``*_k``
schedulers become ``Schedule type: Karras``. 2.x: ``[bracketed]`` parts of the prompt are the
negative prompt.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from genstudio.generators.images.metadata.common import (
    _INT_RANGES,
    MAX_A1111_CHARS,
    MAX_CLIP_SKIP,
    ImageSettings,
    _int_in,
    _json,
    _str_or_none,
    _to_float,
    _to_int,
)
from genstudio.generators.images.metadata.samplers import (
    GENSTUDIO_SCHEDULERS,
    genstudio_scheduler_name,
)

INVOKEAI_KEYWORD = "invokeai_metadata"
INVOKEAI_SD_METADATA_KEYWORD = "sd-metadata"
INVOKEAI_DREAM_KEYWORD = "Dream"

_DREAM_RE = re.compile(r'^"(.*?)"(.*)$', re.DOTALL)


def _apply_invoke_scheduler(s: ImageSettings, name: Any) -> None:
    if not isinstance(name, str) or not name:
        return
    base = name[:-2] if name.endswith("_k") else None
    if base is not None and genstudio_scheduler_name(base) in GENSTUDIO_SCHEDULERS:
        s.sampler = genstudio_scheduler_name(base)
        s.extra["Schedule type"] = "Karras"
    else:
        s.sampler = genstudio_scheduler_name(name)


def _apply_basics(
    s: ImageSettings,
    values: Mapping[str, Any],
    keys: tuple[str, str, str, str, str, str],
    whole: Callable[[Any, int, int], int | None],
) -> None:
    """Seed, steps, CFG scale, width, height and scheduler from ``values`` under ``keys`` (in
    that order); ``whole`` reads the whole numbers (JSON numbers or command-line text)."""
    seed, steps, cfg, width, height, scheduler = keys
    for name, key in (("seed", seed), ("steps", steps), ("width", width), ("height", height)):
        setattr(s, name, whole(values.get(key), *_INT_RANGES[name]))
    s.cfg_scale = _to_float(values.get(cfg))
    _apply_invoke_scheduler(s, values.get(scheduler))


def _parse_invokeai(text: str) -> ImageSettings | None:
    """InvokeAI 3+ ``invokeai_metadata``; None when it is not such a record."""
    meta = _json(text)
    if not isinstance(meta, dict):
        return None
    known = ("positive_prompt", "negative_prompt", "seed", "steps", "cfg_scale", "scheduler")
    if not any(k in meta for k in known):
        return None
    s = ImageSettings(source="invokeai")
    for name, key in (("prompt", "positive_prompt"), ("negative_prompt", "negative_prompt")):
        v = meta.get(key)
        setattr(s, name, v if isinstance(v, str) else "")
    _apply_basics(s, meta, ("seed", "steps", "cfg_scale", "width", "height", "scheduler"), _int_in)
    clip_skip = _int_in(meta.get("clip_skip"), 0, MAX_CLIP_SKIP - 1)
    if clip_skip:  # InvokeAI counts skipped layers (0 = none); A1111's 1 = none
        s.clip_skip = clip_skip + 1
    strength = _to_float(meta.get("strength"))
    if strength is not None and meta.get("generation_mode", "img2img") != "txt2img":
        s.denoising_strength = strength
    model = meta.get("model")
    if isinstance(model, dict):
        s.model_name = _str_or_none(model.get("model_name")) or _str_or_none(model.get("name"))
        s.model_hash = _str_or_none(model.get("hash"))
    elif isinstance(model, str):
        s.model_name = model or None
    return s


def _split_bracket_negative(prompt: str) -> tuple[str, str]:
    """InvokeAI 2.x: ``[bracketed]`` parts of a prompt are the negative prompt."""
    negatives = [m.strip(" ,") for m in re.findall(r"\[([^\[\]]*)\]", prompt)]
    positive = re.sub(r"\s*\[[^\[\]]*\]\s*", " ", prompt)
    positive = re.sub(r"[ \t]+", " ", positive).strip(" ,")
    return positive, ", ".join(n for n in negatives if n)


def _parse_invokeai_sd_metadata(text: str) -> ImageSettings | None:
    """InvokeAI 2.x ``sd-metadata``; None without its ``image`` object."""
    meta = _json(text)
    if not isinstance(meta, dict) or not isinstance(meta.get("image"), dict):
        return None
    image = meta["image"]
    s = ImageSettings(source="invokeai")
    prompt = image.get("prompt")
    if isinstance(prompt, list):  # [{"prompt": ..., "weight": ...}]: the first one
        prompt = next(
            (
                p["prompt"]
                for p in prompt
                if isinstance(p, dict) and isinstance(p.get("prompt"), str)
            ),
            None,
        )
    if isinstance(prompt, str):
        s.prompt, s.negative_prompt = _split_bracket_negative(prompt)
    _apply_basics(s, image, ("seed", "steps", "cfg_scale", "width", "height", "sampler"), _int_in)
    if image.get("type") == "img2img":
        s.denoising_strength = _to_float(image.get("strength"))
    s.model_name = _str_or_none(meta.get("model_weights"))
    s.model_hash = _str_or_none(meta.get("model_hash"))
    return s


def _parse_invokeai_dream(text: str) -> ImageSettings | None:
    """InvokeAI 2.x ``Dream`` string: ``"prompt" -s steps -S seed -W w -H h -C cfg -A
    sampler -f strength``; None when it does not start with a quoted prompt."""
    m = _DREAM_RE.match(text.strip())
    if not m or len(text) > MAX_A1111_CHARS:
        return None
    prompt, args = m.groups()
    opts = dict(re.findall(r"\s-(\w+)\s+(\S+)", args))
    s = ImageSettings(source="invokeai")
    s.prompt, s.negative_prompt = _split_bracket_negative(prompt)
    _apply_basics(s, opts, ("S", "s", "C", "W", "H", "A"), _to_int)
    if "f" in opts:
        s.denoising_strength = _to_float(opts["f"])
    return s
