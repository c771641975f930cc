"""The Qt shell: the only package that imports PySide6; it never imports torch or genstudio.ml.

Modules are imported lazily by :mod:`genstudio.ui.app` so that the window opens fast.
"""

from __future__ import annotations

import sys


def _make_singletons_immortal() -> None:
    """Work around PySide6 6.12 on Python 3.11: C++ ``void`` methods return ``None`` and
    ``Signal.emit`` returns ``True`` without taking a reference (harmless on 3.12+, where these
    objects are immortal), so every call lowers a reference count by one and a session aborts
    after a few thousand calls with "Fatal Python error: none_dealloc" / "bool_dealloc".
    Lifting the counts far out of reach makes them immortal, as Python 3.12 does.
    """
    if sys.version_info >= (3, 12):
        return
    import ctypes

    for obj in (None, True, False):
        refcnt = ctypes.c_ssize_t.from_address(id(obj))
        if refcnt.value < 1 << 40:
            refcnt.value += 1 << 50


_make_singletons_immortal()
