"""The Qt shell: the only package that imports PySide6; it never imports torch or genstudio.ml.

Modules are imported lazily by :mod:`genstudio.ui.app` so that the window opens fast.

PySide6-Essentials 6.12.0 is excluded in pyproject.toml: on Python 3.11 its ``void`` methods and
``Signal.emit`` return ``None``/``True`` without taking a reference, and a session aborts after a
few thousand calls ("Fatal Python error: none_dealloc"). tests/ui/test_app.py guards against it.
"""
