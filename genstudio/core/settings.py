"""User settings: a small JSON file in the user's config folder, written atomically.

A corrupt settings file never stops the studio: it is kept aside as ``settings.json.bad``
and defaults are used, with a message for the log.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from genstudio.core.atomic import atomic_write_json, read_json
from genstudio.core.errors import GenStudioError

log = logging.getLogger(__name__)
SETTINGS_VERSION = 1
MAX_RECENT = 10


def _platform_dir(env: str, win: str, mac: str, xdg: str, xdg_default: str) -> Path:
    if os.environ.get(env):
        return Path(os.environ[env])
    if sys.platform == "win32":
        return Path(os.environ.get("APPDATA", Path.home())) / win
    if sys.platform == "darwin":
        return Path.home() / "Library" / mac
    return Path(os.environ.get(xdg, Path.home() / xdg_default)) / "genstudio"


def config_dir() -> Path:
    return _platform_dir(
        "GENSTUDIO_CONFIG_DIR",
        "GenStudio",
        "Application Support/GenStudio",
        "XDG_CONFIG_HOME",
        ".config",
    )


def data_dir() -> Path:
    return _platform_dir(
        "GENSTUDIO_DATA_DIR",
        "GenStudio",
        "Application Support/GenStudio",
        "XDG_DATA_HOME",
        ".local/share",
    )


def default_projects_dir() -> Path:
    return data_dir() / "projects"


def user_models_dir() -> Path:
    return data_dir() / "models"


@dataclass
class Settings:
    version: int = SETTINGS_VERSION
    theme: str = "system"  # "light" | "dark" | "system"
    recent_projects: list[str] = field(default_factory=list)
    threads: int = 0  # 0 = one per core
    provider: str = "auto"  # "auto" | "cpu" | "cuda"
    last_mode: str = "gallery"
    sample_project_created: bool = False
    #: Python interpreter for child-process jobs (training); "" = the studio's own. The
    #: environment variable GENSTUDIO_TRAIN_PYTHON overrides it.
    training_python: str = ""

    def add_recent(self, path: str | Path) -> None:
        p = str(Path(path).resolve())
        self.recent_projects = [p] + [r for r in self.recent_projects if r != p]
        del self.recent_projects[MAX_RECENT:]


def _settings_path() -> Path:
    return config_dir() / "settings.json"


def load_settings() -> Settings:
    path = _settings_path()
    if not path.exists():
        return Settings()
    try:
        raw = read_json(path, what="settings file")
        if not isinstance(raw, dict):
            raise GenStudioError(f"The settings file {path} does not hold an object.")
    except GenStudioError as e:
        log.warning("%s - using defaults; the bad file is kept as settings.json.bad", e)
        try:
            os.replace(path, path.with_suffix(".json.bad"))
        except OSError:
            pass
        return Settings()
    known = {f.name for f in dataclasses.fields(Settings)}
    values = {k: v for k, v in raw.items() if k in known}
    s = Settings(**values)
    if s.theme not in ("light", "dark", "system"):
        s.theme = "system"
    if not isinstance(s.recent_projects, list):
        s.recent_projects = []
    s.recent_projects = [str(p) for p in s.recent_projects if isinstance(p, str)][:MAX_RECENT]
    try:
        s.threads = max(0, min(256, int(s.threads)))
    except (TypeError, ValueError):
        s.threads = 0
    if s.provider not in ("auto", "cpu", "cuda"):
        s.provider = "auto"
    if not isinstance(s.training_python, str):
        s.training_python = ""
    return s


def save_settings(s: Settings) -> None:
    path = _settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, dataclasses.asdict(s))
