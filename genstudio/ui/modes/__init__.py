"""Mode registry: the plug-in point through which generator issues add their panels.

A *mode* is one entry of the sidebar (Sprites, Images, Music, Gallery). Entries are
``"module:Class"`` strings, so listing the modes imports no panel code; a panel module is
imported the first time its mode is shown. Adding a panel takes one line in ``_MODES`` below
(or a :func:`register_mode` call from a plug-in or a test)::

    ModeSpec(
        id="sprites", title="Sprites", icon_name="sprites",
        factory="genstudio.ui.modes.sprites:SpritesPanel", order=10,
        generators=("sprites.*",),
    )

The panel class derives from :class:`genstudio.ui.modes.base.ModePanel` and is built as
``Panel(ctx)`` with the :class:`genstudio.ui.context.AppContext`. A mode that declares
``generators`` is shown only when at least one registered generator matches one of the
patterns (so no empty panels); ``generators`` also routes "Reuse these settings" from a
gallery asset back to the mode that made it.

This module is Qt-free on purpose (it imports no panel), so tests and the CLI can read it.
"""

from __future__ import annotations

import fnmatch
import importlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ModeSpec:
    """One sidebar entry. ``factory`` is ``"package.module:ClassName"``."""

    id: str
    title: str
    icon_name: str
    factory: str
    order: int = 100
    #: fnmatch patterns of generator names this mode runs and can reuse settings from.
    generators: tuple[str, ...] = ()
    #: one line for the sidebar tooltip
    description: str = ""

    def matches_generator(self, generator: str) -> bool:
        return any(fnmatch.fnmatchcase(generator, pat) for pat in self.generators)

    def is_available(self) -> bool:
        """True when the mode has something to run (or runs nothing, like the gallery)."""
        if not self.generators:
            return True
        from genstudio import generators

        return any(self.matches_generator(name) for name in generators.names())


GALLERY = ModeSpec(
    id="gallery",
    title="Gallery",
    icon_name="gallery",
    factory="genstudio.ui.gallery.panel:GalleryPanel",
    order=1000,
    description="Browse, search, tag and reuse everything in the project",
)

_MODES: dict[str, ModeSpec] = {
    m.id: m
    for m in (
        GALLERY,
        ModeSpec(
            id="sprites",
            title="Sprites",
            icon_name="sprites",
            factory="genstudio.ui.modes.sprites:SpritesPanel",
            order=10,
            generators=("sprites.*",),
            description="Character sprite sheets: 4 directions, idle + walk, engine-ready",
        ),
        ModeSpec(
            id="music",
            title="Music",
            icon_name="music",
            factory="genstudio.ui.modes.music:MusicPanel",
            order=30,
            generators=("music.*",),
            description="MIDI music: generate, continue, vary, bridge, loop, add drums; play it",
        ),
        ModeSpec(
            id="images",
            title="Images",
            icon_name="images",
            factory="genstudio.ui.modes.images:ImagesPanel",
            order=20,
            generators=("images.*",),
            description="Icons and images from a prompt; img2img, inpainting, pixel art",
        ),
        ModeSpec(
            id="train",
            title="Train",
            icon_name="train",
            factory="genstudio.ui.modes.train:TrainPanel",
            order=40,
            generators=("train.*",),
            description="Teach a model your own material: a new music style from your MIDI files",
        ),
    )
}


def register_mode(spec: ModeSpec) -> None:
    """Add or replace a mode. Call before the main window is built (or rebuild its sidebar)."""
    if ":" not in spec.factory:
        raise ValueError(f"ModeSpec.factory must be 'module:Class', got {spec.factory!r}")
    _MODES[spec.id] = spec


def unregister_mode(mode_id: str) -> None:
    if mode_id != GALLERY.id:  # the gallery is always there
        _MODES.pop(mode_id, None)


def all_modes() -> list[ModeSpec]:
    return sorted(_MODES.values(), key=lambda m: (m.order, m.id))


def modes() -> list[ModeSpec]:
    """The modes to show, in sidebar order (Gallery always included)."""
    return [m for m in all_modes() if m.is_available()]


def get_mode(mode_id: str) -> ModeSpec | None:
    return _MODES.get(mode_id)


def mode_for_generator(generator: str) -> ModeSpec | None:
    """The shown mode that can reuse settings from an asset made by ``generator``."""
    for m in modes():
        if m.matches_generator(generator):
            return m
    return None


def load_factory(spec: ModeSpec) -> Any:
    module_name, _, attr = spec.factory.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj
