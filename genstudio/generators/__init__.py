"""Generator registry: the one plug-in point for inference pipelines.

Entries are "module:Class" strings so that listing generators imports nothing heavy.
"""

from __future__ import annotations

import importlib
from typing import Any

from genstudio.core.errors import InvalidParamsError
from genstudio.generators.base import Generator

_REGISTRY: dict[str, str] = {
    "sprites.procedural": "genstudio.generators.sprites.generator:ProceduralSpriteGenerator",
    "sprites.spritenet": "genstudio.generators.sprites.model_gen:SpriteNetGenerator",
    "sprites.lpc": "genstudio.generators.sprites.lpc.generator:LpcSpriteGenerator",
    "music.gpt": "genstudio.generators.music.generator:MusicGenerator",
    "images.diffusion": "genstudio.generators.images.generator:ImageGenerator",
    "train.music": "genstudio.generators.training:TrainMusicGenerator",
    "models.import_sd": "genstudio.generators.images.sd.convert:ImportSDGenerator",
}
_INSTANCES: dict[str, Generator] = {}


def register(name: str, target: str | type[Generator]) -> None:
    """Register a generator by "module:Class" path (or a class, used by tests and plug-ins)."""
    _INSTANCES.pop(name, None)
    if isinstance(target, str):
        _REGISTRY[name] = target
    else:
        _REGISTRY[name] = f"{target.__module__}:{target.__qualname__}"
        _INSTANCES[name] = target()


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)
    _INSTANCES.pop(name, None)


def names() -> list[str]:
    return sorted(_REGISTRY)


def get(name: str) -> Generator:
    if name in _INSTANCES:
        return _INSTANCES[name]
    if name not in _REGISTRY:
        raise InvalidParamsError(
            f"Unknown generator {name!r}.", hint=f"Available: {', '.join(names()) or 'none'}"
        )
    inst = load_class(name)()
    _INSTANCES[name] = inst
    return inst


def load_class(name: str) -> type[Generator]:
    """The class registered as ``name`` (imports its module; no instance is made)."""
    module_name, _, cls_name = _REGISTRY[name].partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in cls_name.split("."):
        obj = getattr(obj, part)
    return obj  # type: ignore[no-any-return]


def targets() -> dict[str, str]:
    """Every registered generator as ``{name: "module:Class"}`` (the packaging recipe derives
    its hidden imports from it)."""
    return dict(_REGISTRY)
