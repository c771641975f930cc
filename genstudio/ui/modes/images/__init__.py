"""The Images mode: text-to-image, img2img and inpainting with the ``images.*`` generators.

``state`` holds the Qt-free logic (settings <-> params, reuse from PNG metadata, model folders),
``canvas`` the :class:`ImageCanvas` (result / live preview / init image + mask brush), ``panel``
the :class:`ImagesPanel` registered in :mod:`genstudio.ui.modes`.
"""

from genstudio.ui.modes.images.panel import ImagesPanel

__all__ = ["ImagesPanel"]
