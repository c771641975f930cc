"""Where GenStudio finds its shipped resources (icons, palettes, model packs, licenses)."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def resources_dir() -> Path:
    """``resources/`` beside the package in a checkout, or inside a frozen (PyInstaller) app."""
    if os.environ.get("GENSTUDIO_RESOURCES"):
        return Path(os.environ["GENSTUDIO_RESOURCES"])
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        return Path(frozen_root) / "resources"
    return Path(__file__).resolve().parents[2] / "resources"


def shipped_models_dir() -> Path:
    return resources_dir() / "models"


def licenses_dir() -> Path:
    return resources_dir() / "licenses"
