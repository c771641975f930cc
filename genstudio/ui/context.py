"""What every panel receives: the current project, the job bridge, settings, app signals."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from genstudio.core import settings as settings_mod
from genstudio.core.errors import GenStudioError

if TYPE_CHECKING:
    from genstudio.core.assets import AssetRecord
    from genstudio.core.project import Project
    from genstudio.core.settings import Settings
    from genstudio.ui.jobs_bridge import JobsBridge

log = logging.getLogger(__name__)


class AppContext(QObject):
    """The shared state of one studio window, handed to each panel's constructor.

    Panels subscribe to the signals and never reach into the main window.
    """

    #: the current project was replaced (argument: the new Project, or None)
    project_changed = Signal(object)
    #: "Reuse these settings" was pressed on an asset (argument: AssetRecord)
    reuse_requested = Signal(object)
    #: an asset was added (by a job or an import); argument: asset id
    asset_added = Signal(str)
    #: an asset's metadata changed (favorite, rating, tags, trash); argument: asset id
    asset_changed = Signal(str)
    #: non-blocking message for the message bar: (text, level "info"|"warning"|"error")
    message = Signal(str, str)
    #: settings were saved (theme, threads, provider)
    settings_changed = Signal(object)
    #: a panel asks for another mode to be shown: (mode id, payload dict for that panel's
    #: ``apply_request``), e.g. Train's "Use this model" -> ("music", {"model", "style"})
    mode_requested = Signal(str, object)

    def __init__(
        self, jobs: JobsBridge, settings: Settings | None = None, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.jobs = jobs
        self.settings = settings if settings is not None else settings_mod.load_settings()
        self._project: Project | None = None
        jobs.asset_added.connect(self.asset_added)

    # --- project ----------------------------------------------------------------------------

    @property
    def project(self) -> Project | None:
        return self._project

    def set_project(self, project: Project | None) -> None:
        old = self._project
        if old is project:
            return
        self._project = project
        from genstudio.runtime import registry

        # fine-tuned packs in the project's models/ are offered (and resolved) from now on
        registry.set_project_models(project.models_dir if project is not None else None)
        self.jobs.set_project(project)
        if old is not None:
            try:
                old.close()
            except Exception:
                log.exception("closing the previous project failed")
        if project is not None:
            self.settings.add_recent(project.root)
            self.save_settings(quiet=True)
        self.project_changed.emit(project)

    def open_project(self, path: str | Path) -> Project | None:
        """Open a project folder; a failure becomes a message, never an exception."""
        from genstudio.core.project import Project

        try:
            project = Project.open(Path(path))
        except GenStudioError as e:
            self.show_message(f"Could not open the project at {path}: {e.user_message()}", "error")
            return None
        except OSError as e:
            self.show_message(f"Could not open the project at {path}: {e}", "error")
            return None
        self.set_project(project)
        if project.read_only:
            self.show_message(read_only_text(project), "warning")
        return project

    def create_project(self, path: str | Path, name: str | None = None) -> Project | None:
        from genstudio.core.project import Project

        try:
            project = Project.create(Path(path), name=name)
        except (GenStudioError, OSError) as e:
            text = e.user_message() if isinstance(e, GenStudioError) else str(e)
            self.show_message(f"Could not create a project at {path}: {text}", "error")
            return None
        self.set_project(project)
        return project

    def close_project(self) -> None:
        self.set_project(None)

    # --- settings, messages, reuse ----------------------------------------------------------

    def save_settings(self, *, quiet: bool = False) -> None:
        try:
            settings_mod.save_settings(self.settings)
        except (GenStudioError, OSError) as e:
            log.warning("settings not saved: %s", e)
            if not quiet:
                self.show_message(f"Settings could not be saved: {e}", "error")
            return
        if not quiet:
            from genstudio.runtime.sessions import shared_cache

            shared_cache().unload()  # sessions restart with the new threads/provider settings
            self.settings_changed.emit(self.settings)

    def show_message(self, text: str, level: str = "info") -> None:
        getattr(log, {"error": "error", "warning": "warning"}.get(level, "info"))(text)
        self.message.emit(text, level)

    def request_reuse(self, record: AssetRecord) -> None:
        self.reuse_requested.emit(record)

    def request_mode(self, mode_id: str, payload: dict | None = None) -> None:
        """Show the mode ``mode_id``; its panel receives ``payload`` (``apply_request``)."""
        self.mode_requested.emit(mode_id, dict(payload or {}))


def read_only_text(project: Project) -> str:
    reason = project.read_only_reason or "it cannot be written"
    return (
        f"The project '{project.name}' is open read-only: {reason}. Nothing in it will be "
        "changed; use Project > Save As to work on a copy."
    )
