"""ComfyUI: the PNG ``prompt`` chunk (API-format graph JSON; the ``workflow`` UI graph is not
needed and not read).

Supported: ``KSampler`` and ``KSamplerAdvanced`` (with several, the one fed by an empty latent
- the first pass - wins, then the lowest node id); seed (``seed``/``noise_seed``), steps, cfg,
``sampler_name``, ``scheduler`` (as ``extra["Schedule type"]``), ``denoise`` (only when below
1); prompts through ``positive``/``negative`` to ``CLIPTextEncode`` ``text`` (also ``text_g``
of the SDXL encoder, through conditioning pass-through nodes and text primitive nodes); size
from the node feeding ``latent_image`` (``EmptyLatentImage`` and alike); model from
``CheckpointLoaderSimple`` ``ckpt_name`` / ``UNETLoader`` ``unet_name`` (through ``LoraLoader``
and other nodes with a ``model`` input); clip skip from ``CLIPSetLastLayer``. Every walk
visits a node at most once and goes at most :data:`_MAX_GRAPH_DEPTH` nodes deep.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeGuard, TypeVar

from genstudio.generators.images.metadata.common import (
    _INT_RANGES,
    MAX_CLIP_SKIP,
    MAX_SIDE,
    ImageSettings,
    _exact_int_in,
    _is_int,
    _json,
    _to_float,
)
from genstudio.generators.images.metadata.samplers import genstudio_scheduler_name

COMFYUI_KEYWORD = "prompt"

_MAX_GRAPH_DEPTH = 64
_COMFY_SAMPLERS = ("KSampler", "KSamplerAdvanced")
_COMFY_TEXT_KEYS = ("text", "text_g", "string", "value", "prompt")
_COMFY_COND_KEYS = ("conditioning", "conditioning_to", "conditioning_1", "conditioning_from")
_COMFY_VALUE_KEYS = ("value", "seed", "noise_seed", "int", "float", "number", "string", "text")
# ComfyUI scheduler -> A1111 "Schedule type".
_COMFY_SCHEDULE_TYPES: dict[str, str] = {
    "normal": "Normal",
    "karras": "Karras",
    "exponential": "Exponential",
    "sgm_uniform": "SGM Uniform",
    "simple": "Simple",
    "ddim_uniform": "DDIM",
    "beta": "Beta",
    "kl_optimal": "KL Optimal",
}

_T = TypeVar("_T")


class _Graph:
    def __init__(self, graph: Mapping[Any, Any]) -> None:
        self.nodes: dict[str, dict[str, Any]] = {}
        for nid, node in graph.items():
            if (
                isinstance(node, dict)
                and isinstance(node.get("inputs"), dict)
                and isinstance(node.get("class_type"), str)
            ):
                self.nodes[str(nid)] = node

    def link(self, value: Any) -> str | None:
        """The node id a ``[node_id, slot]`` input points to, if that node exists."""
        if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str | int):
            nid = str(value[0])
            return nid if nid in self.nodes else None
        return None

    def inputs(self, nid: str) -> dict[str, Any]:
        return self.nodes[nid]["inputs"]

    @staticmethod
    def _enter(nid: str | None, seen: set[str]) -> TypeGuard[str]:
        """Whether a walk may visit ``nid`` (a node, not seen yet, not too deep); marks it."""
        if nid is None or nid in seen or len(seen) > _MAX_GRAPH_DEPTH:
            return False
        seen.add(nid)
        return True

    def _along(
        self, inputs: Mapping[str, Any], keys: tuple[str, ...], walk: Callable[[str | None], _T]
    ) -> _T | None:
        """The first answer that is not None of ``walk`` on the nodes linked from ``keys``."""
        for key in keys:
            got = walk(self.link(inputs.get(key)))
            if got is not None:
                return got
        return None

    def value(self, v: Any, seen: set[str] | None = None) -> Any:
        """A widget value, following links to primitive nodes (each node visited once)."""
        nid = self.link(v)
        if nid is None:
            return v if isinstance(v, str | int | float) and not isinstance(v, bool) else None
        seen = set() if seen is None else seen
        if not self._enter(nid, seen):
            return None
        inputs = self.inputs(nid)
        for key in _COMFY_VALUE_KEYS:
            if key in inputs:
                got = self.value(inputs[key], seen)
                if got is not None:
                    return got
        return None

    def text(self, nid: str | None, side: str, seen: set[str]) -> str | None:
        """Prompt text reached from a conditioning input (``side``: positive/negative)."""
        if not self._enter(nid, seen):
            return None
        inputs = self.inputs(nid)
        for key in _COMFY_TEXT_KEYS:
            v = inputs.get(key)
            if isinstance(v, str):
                return v
            got = self.text(self.link(v), side, seen)
            if got is not None:
                return got
        return self._along(inputs, (side, *_COMFY_COND_KEYS), lambda n: self.text(n, side, seen))

    def clip_skip(self, nid: str | None, seen: set[str]) -> int | None:
        """From a text encoder along its ``clip`` inputs to a CLIPSetLastLayer."""
        if not self._enter(nid, seen):
            return None
        node = self.nodes[nid]
        if node["class_type"] == "CLIPSetLastLayer":
            v = self.value(node["inputs"].get("stop_at_clip_layer"))
            return -v if _is_int(v) and -MAX_CLIP_SKIP <= v <= -1 else None
        return self._along(
            node["inputs"], ("clip", *_COMFY_COND_KEYS), lambda n: self.clip_skip(n, seen)
        )

    def text_node(self, nid: str | None, side: str, seen: set[str]) -> str | None:
        """The node that holds the prompt text (for clip skip), like :meth:`text`."""
        if not self._enter(nid, seen):
            return None
        inputs = self.inputs(nid)
        if any(k in inputs for k in _COMFY_TEXT_KEYS) and "clip" in inputs:
            return nid
        return self._along(
            inputs, (side, *_COMFY_COND_KEYS), lambda n: self.text_node(n, side, seen)
        )

    def model(self, nid: str | None, seen: set[str]) -> str | None:
        if not self._enter(nid, seen):
            return None
        inputs = self.inputs(nid)
        for key in ("ckpt_name", "unet_name"):
            v = self.value(inputs.get(key))
            if isinstance(v, str) and v:
                return v
        return self.model(self.link(inputs.get("model")), seen)

    def size(self, nid: str | None, seen: set[str]) -> tuple[int, int] | None:
        if not self._enter(nid, seen):
            return None
        inputs = self.inputs(nid)
        w, h = self.value(inputs.get("width")), self.value(inputs.get("height"))
        if _is_int(w) and _is_int(h):
            return (w, h) if 1 <= w <= MAX_SIDE and 1 <= h <= MAX_SIDE else None
        return self.size(self.link(inputs.get("samples")), seen)


def _comfy_sort_key(nid: str) -> tuple[int, int, str]:
    # ASCII digits only: str.isdigit() is also true for "²" and other digits int() refuses,
    # and a very long digit string is past int()'s limit
    if nid.isascii() and nid.isdigit() and len(nid) <= 18:
        return (0, int(nid), "")
    return (1, 0, nid)


def _parse_comfyui(text: str) -> ImageSettings | None:
    """Settings from a ComfyUI ``prompt`` graph; None without a supported sampler node."""
    graph = _json(text)
    if not isinstance(graph, dict):
        return None
    g = _Graph(graph)
    samplers = sorted(
        (nid for nid, n in g.nodes.items() if n["class_type"] in _COMFY_SAMPLERS),
        key=_comfy_sort_key,
    )
    if not samplers:
        return None
    first_pass = [
        nid for nid in samplers if g.size(g.link(g.inputs(nid).get("latent_image")), set())
    ]
    nid = (first_pass or samplers)[0]
    inputs = g.inputs(nid)

    s = ImageSettings(source="comfyui")
    pos = g.link(inputs.get("positive"))
    s.prompt = g.text(pos, "positive", set()) or ""
    s.negative_prompt = g.text(g.link(inputs.get("negative")), "negative", set()) or ""
    seed = g.value(inputs.get("seed", inputs.get("noise_seed")))
    s.seed = _exact_int_in(seed, *_INT_RANGES["seed"])
    s.steps = _exact_int_in(g.value(inputs.get("steps")), *_INT_RANGES["steps"])
    s.cfg_scale = _to_float(g.value(inputs.get("cfg")))
    name = g.value(inputs.get("sampler_name"))
    s.sampler = genstudio_scheduler_name(name) if isinstance(name, str) and name else None
    scheduler = g.value(inputs.get("scheduler"))
    if isinstance(scheduler, str) and scheduler:
        s.extra["Schedule type"] = _COMFY_SCHEDULE_TYPES.get(scheduler, scheduler)
    denoise = _to_float(g.value(inputs.get("denoise")))
    if denoise is not None and 0 <= denoise < 1:
        s.denoising_strength = denoise
    size = g.size(g.link(inputs.get("latent_image")), set())
    if size:
        s.width, s.height = size
    s.model_name = g.model(g.link(inputs.get("model")), set())
    s.clip_skip = g.clip_skip(g.text_node(pos, "positive", set()), set())
    return s
