"""The Sprites mode: consistent character sprite sheets from the ``sprites.*`` generators.

``state`` holds the Qt-free logic (settings, reuse, variations, export), ``widgets`` the pixel
views and the export dialog, ``panel`` the :class:`SpritesPanel` registered in
:mod:`genstudio.ui.modes`.
"""

from genstudio.ui.modes.sprites.panel import SpritesPanel

__all__ = ["SpritesPanel"]
