"""The studio window: mode sidebar, panels, queue and log docks, menus, drops, messages."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QSize, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMenu,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from genstudio.core import logs
from genstudio.core.errors import GenStudioError
from genstudio.ui import icons, modes, services
from genstudio.ui.message_bar import MessageBar

if TYPE_CHECKING:
    from genstudio.core.assets import AssetRecord
    from genstudio.core.project import Project
    from genstudio.ui.context import AppContext
    from genstudio.ui.log_panel import LogPanel
    from genstudio.ui.modes.base import ModePanel
    from genstudio.ui.queue_panel import QueuePanel

log = logging.getLogger(__name__)
MAX_MODE_SHORTCUTS = 9


class _ErrorRelay(QObject):
    """Receives Qt-free error notifications from any thread; delivers them queued."""

    error = Signal(str)


class MainWindow(QMainWindow):
    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.panels: dict[str, ModePanel] = {}
        self.mode_specs: list[modes.ModeSpec] = []
        self._closed = False
        self.setWindowTitle("GenStudio")
        self.resize(1280, 800)
        self.setMinimumSize(QSize(900, 560))
        self.setAcceptDrops(True)
        self.setDockOptions(QMainWindow.DockOption.AnimatedDocks)

        # --- central: sidebar | (message bar / panel stack)
        central = QWidget()
        outer = QVBoxLayout(central)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        self.stack = QStackedWidget()
        outer.addWidget(self.stack, 1)
        self.setCentralWidget(central)
        # floats over the top of the panels: a message never moves a control under the mouse
        self.message_bar = MessageBar(central)

        self.sidebar = QListWidget()
        self.sidebar.setObjectName("Sidebar")
        self.sidebar.setIconSize(QSize(20, 20))
        self.sidebar.setFixedWidth(150)
        self.sidebar.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.sidebar.currentRowChanged.connect(self._sidebar_row_changed)
        side_dock = QDockWidget("Modes")
        side_dock.setObjectName("ModesDock")
        side_dock.setTitleBarWidget(QWidget())
        side_dock.setFeatures(QDockWidget.DockWidgetFeature.NoDockWidgetFeatures)
        side_dock.setWidget(self.sidebar)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, side_dock)

        # --- docks: queue (right), log (bottom)
        from genstudio.ui.log_panel import LogPanel
        from genstudio.ui.queue_panel import QueuePanel

        self.queue_panel: QueuePanel = QueuePanel(ctx.jobs)
        self.queue_dock = QDockWidget("Queue")
        self.queue_dock.setObjectName("QueueDock")
        self.queue_dock.setWidget(self.queue_panel)
        self.queue_dock.setMinimumWidth(280)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.queue_dock)
        self.log_panel: LogPanel = LogPanel()
        self.log_panel.attach()
        if logging.getLogger("genstudio").level == logging.NOTSET:
            logging.getLogger("genstudio").setLevel(logging.INFO)
        self.log_dock = QDockWidget("Log")
        self.log_dock.setObjectName("LogDock")
        self.log_dock.setWidget(self.log_panel)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.log_dock)
        self.resizeDocks([self.queue_dock], [320], Qt.Orientation.Horizontal)
        self.resizeDocks([self.log_dock], [180], Qt.Orientation.Vertical)
        self.log_dock.hide()

        # --- status bar
        self.project_label = QLabel()
        self.read_only_label = QLabel()
        self.statusBar().addWidget(self.project_label, 1)
        self.statusBar().addPermanentWidget(self.read_only_label)

        self._build_menus()

        # --- wiring
        ctx.message.connect(self.message_bar.show_message)
        ctx.project_changed.connect(self._project_changed)
        ctx.reuse_requested.connect(self.reuse_settings)
        ctx.mode_requested.connect(self.open_mode_with)
        self._errors = _ErrorRelay(self)
        self._errors.error.connect(
            lambda text: self.message_bar.show_message(text, "error"),
            Qt.ConnectionType.QueuedConnection,
        )
        self._remove_error_listener = logs.add_error_listener(self._on_error)

        self.rebuild_sidebar()
        self._project_changed(ctx.project)

    # --- menus and shortcuts ----------------------------------------------------------------

    def _action(self, text: str, slot, shortcut=None, menu: QMenu | None = None) -> QAction:
        act = QAction(text, self)
        if shortcut is not None:
            if isinstance(shortcut, list):
                act.setShortcuts(shortcut)
            else:
                act.setShortcut(shortcut)
        act.triggered.connect(lambda _checked=False: slot())
        self.addAction(act)
        if menu is not None:
            menu.addAction(act)
        return act

    def _build_menus(self) -> None:
        mb = self.menuBar()
        pm = mb.addMenu("&Project")
        self.act_new = self._action("&New Project...", self.new_project, QKeySequence("Ctrl+N"), pm)
        self.act_open = self._action(
            "&Open Project...", self.open_project_dialog, QKeySequence("Ctrl+O"), pm
        )
        self.recent_menu = pm.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        self.act_save_as = self._action(
            "Save Project &As...", self.save_project_as, QKeySequence("Ctrl+Shift+S"), pm
        )
        pm.addSeparator()
        self.act_settings = self._action(
            "&Settings...", self.open_settings, QKeySequence("Ctrl+,"), pm
        )
        pm.addSeparator()
        self._action("&Quit", self.close, QKeySequence("Ctrl+Q"), pm)

        vm = mb.addMenu("&View")
        self.mode_menu = vm.addMenu("&Mode")
        self.mode_actions: list[QAction] = []
        self.act_generate = self._action(
            "&Generate",
            self.generate_in_active_panel,
            [QKeySequence("Ctrl+Return"), QKeySequence("Ctrl+Enter")],
            vm,
        )
        self.act_search = self._action(
            "&Find in Gallery", self.focus_search, QKeySequence("Ctrl+F"), vm
        )
        vm.addSeparator()
        vm.addAction(self.queue_dock.toggleViewAction())
        self.queue_dock.toggleViewAction().setShortcut(QKeySequence("Ctrl+J"))
        vm.addAction(self.log_dock.toggleViewAction())
        self.log_dock.toggleViewAction().setShortcut(QKeySequence("Ctrl+L"))
        theme_menu = vm.addMenu("&Theme")
        for label, value in (("System", "system"), ("Light", "light"), ("Dark", "dark")):
            self._action(label, lambda v=value: self.set_theme(v), None, theme_menu)
        vm.addSeparator()
        self.act_fullscreen = self._action(
            "&Full Screen", self.toggle_fullscreen, QKeySequence("F11"), vm
        )

        hm = mb.addMenu("&Help")
        self._action("&Getting Started", self.show_getting_started, QKeySequence("F1"), hm)
        self._action(
            "&Keyboard Shortcuts", self.show_shortcuts, QKeySequence("Ctrl+/"), hm
        )
        hm.addSeparator()
        self._action("&About GenStudio", self.show_about, None, hm)

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        recent = [p for p in self.ctx.settings.recent_projects if Path(p).is_dir()]
        if not recent:
            a = self.recent_menu.addAction("No recent projects")
            a.setEnabled(False)
        for p in recent:
            a = self.recent_menu.addAction(p)
            a.triggered.connect(lambda _c=False, path=p: self.ctx.open_project(path))

    # --- modes ------------------------------------------------------------------------------

    def rebuild_sidebar(self) -> None:
        current = self.current_mode_id()
        self.mode_specs = modes.modes()
        self.sidebar.blockSignals(True)
        self.sidebar.clear()
        for act in self.mode_actions:
            self.mode_menu.removeAction(act)
            self.removeAction(act)
        self.mode_actions = []
        for i, spec in enumerate(self.mode_specs):
            item = QListWidgetItem(icons.icon(spec.icon_name, 20), spec.title)
            tip = spec.description or spec.title
            if i < MAX_MODE_SHORTCUTS:
                tip += f"  (Ctrl+{i + 1})"
            item.setToolTip(tip)
            item.setData(Qt.ItemDataRole.UserRole, spec.id)
            item.setSizeHint(QSize(130, 40))
            self.sidebar.addItem(item)
            shortcut = QKeySequence(f"Ctrl+{i + 1}") if i < MAX_MODE_SHORTCUTS else None
            act = self._action(
                spec.title, lambda m=spec.id: self.set_mode(m), shortcut, self.mode_menu
            )
            self.mode_actions.append(act)
        self.sidebar.blockSignals(False)
        wanted = current or self.ctx.settings.last_mode
        if not any(s.id == wanted for s in self.mode_specs):
            wanted = self.mode_specs[0].id if self.mode_specs else modes.GALLERY.id
        self.set_mode(wanted)

    def current_mode_id(self) -> str | None:
        w = self.stack.currentWidget()
        return getattr(w, "mode_id", None) if w is not None else None

    def current_panel(self) -> ModePanel | None:
        mode_id = self.current_mode_id()
        return self.panels.get(mode_id) if mode_id else None

    def panel(self, mode_id: str) -> ModePanel | None:
        """The panel of ``mode_id``, built on first use."""
        if mode_id in self.panels:
            return self.panels[mode_id]
        spec = next((s for s in self.mode_specs if s.id == mode_id), None)
        if spec is None:
            return None
        try:
            cls = modes.load_factory(spec)
            panel = cls(self.ctx)
        except Exception as e:  # a broken plug-in must not take the window down
            log.exception("the %s panel could not be built", spec.title)
            self.ctx.show_message(f"The {spec.title} panel could not be opened: {e}", "error")
            return None
        panel.mode_id = spec.id
        self.panels[spec.id] = panel
        self.stack.addWidget(panel)
        return panel

    def set_mode(self, mode_id: str) -> ModePanel | None:
        panel = self.panel(mode_id)
        if panel is None:
            return None
        self.stack.setCurrentWidget(panel)
        row = next((i for i, s in enumerate(self.mode_specs) if s.id == mode_id), -1)
        if self.sidebar.currentRow() != row:
            self.sidebar.blockSignals(True)
            self.sidebar.setCurrentRow(row)
            self.sidebar.blockSignals(False)
        if self.ctx.settings.last_mode != mode_id:
            self.ctx.settings.last_mode = mode_id
        panel.activated()
        return panel

    def _sidebar_row_changed(self, row: int) -> None:
        if 0 <= row < len(self.mode_specs):
            self.set_mode(self.mode_specs[row].id)

    def reuse_settings(self, record: AssetRecord) -> None:
        spec = modes.mode_for_generator(record.generator)
        if spec is None:
            self.ctx.show_message(
                f"No mode in this studio can reuse settings from '{record.generator}'.", "warning"
            )
            return
        panel = self.set_mode(spec.id)
        if panel is None:
            return
        try:
            panel.apply_settings(record)
        except GenStudioError as e:
            self.ctx.show_message(f"Could not reuse these settings: {e.user_message()}", "error")
        except NotImplementedError:
            self.ctx.show_message(f"The {spec.title} panel cannot reuse settings yet.", "warning")

    def open_mode_with(self, mode_id: str, payload: object = None) -> ModePanel | None:
        """Show ``mode_id`` and hand ``payload`` to its panel's ``apply_request`` (a panel
        asked for it through ``AppContext.request_mode``)."""
        spec = next((s for s in self.mode_specs if s.id == mode_id), None)
        panel = self.set_mode(mode_id) if spec is not None else None
        if panel is None:
            self.ctx.show_message(f"The {mode_id} mode is not available in this studio.", "warning")
            return None
        apply = getattr(panel, "apply_request", None)
        if payload and callable(apply):
            try:
                apply(dict(payload) if isinstance(payload, dict) else payload)
            except GenStudioError as e:
                self.ctx.show_message(e.user_message(), "error")
        return panel

    def generate_in_active_panel(self) -> None:
        panel = self.current_panel()
        if panel is None or not panel.generate():
            self.statusBar().showMessage("Nothing to generate here: pick a mode on the left.", 4000)

    def focus_search(self) -> None:
        panel = self.current_panel()
        if panel is not None and panel.focus_search():
            return
        gallery = self.set_mode(modes.GALLERY.id)
        if gallery is not None:
            gallery.focus_search()

    # --- project ----------------------------------------------------------------------------

    def _project_changed(self, project: Project | None) -> None:
        if project is None:
            self.setWindowTitle("GenStudio")
            self.project_label.setText("No project open")
            self.read_only_label.setText("")
        else:
            self.setWindowTitle(f"{project.name} - GenStudio")
            self.project_label.setText(f"{project.name}  \u2022  {project.root}")
            self.read_only_label.setText("READ-ONLY" if project.read_only else "")
            self.read_only_label.setToolTip(project.read_only_reason or "")
        self.act_save_as.setEnabled(project is not None)

    def _start_dir(self) -> str:
        from genstudio.core.settings import default_projects_dir

        d = default_projects_dir()
        return str(d if d.is_dir() else Path.home())

    def new_project(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self,
            "New project: choose a name and a place",
            str(Path(self._start_dir()) / "Untitled Project"),
        )
        if path:
            self.ctx.create_project(Path(path), name=Path(path).name)

    def open_project_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open a GenStudio project", self._start_dir())
        if path:
            self.ctx.open_project(Path(path))

    def save_project_as(self) -> None:
        project = self.ctx.project
        if project is None:
            return
        if any(j.active for j in self.ctx.jobs.jobs()):
            self.ctx.show_message(
                "Wait for the queued and running jobs to finish (or cancel them) before saving "
                "a copy of the project.",
                "warning",
            )
            return
        path, _ = QFileDialog.getSaveFileName(
            self, "Save a copy of the project as", str(project.root.parent / f"{project.name} copy")
        )
        if not path:
            return
        src = project.root
        self.ctx.close_project()
        try:
            dst = services.copy_project(src, Path(path))
        except GenStudioError as e:
            self.ctx.show_message(e.user_message(), "error")
            self.ctx.open_project(src)
            return
        opened = self.ctx.open_project(dst)
        if opened is None:
            self.ctx.open_project(src)
            return
        if not opened.read_only and opened.name != dst.name:
            try:
                opened.name = dst.name
                opened.save_meta()
                self._project_changed(opened)
            except GenStudioError as e:
                log.warning("could not rename the copy: %s", e)
        self.ctx.show_message(f"Saved a copy as {dst} and opened it.", "info")

    # --- settings, theme, about -------------------------------------------------------------

    def open_settings(self) -> None:
        from genstudio.ui.settings_dialog import SettingsDialog

        dlg = SettingsDialog(self.ctx.settings, self)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.accepted.connect(lambda: self.apply_settings_result(dlg))
        self.settings_dialog = dlg
        dlg.open()

    def apply_settings_result(self, dlg) -> None:
        new = dlg.result_settings()
        s = self.ctx.settings
        s.theme, s.threads, s.provider = new.theme, new.threads, new.provider
        self.ctx.save_settings()
        self.set_theme(s.theme, save=False)

    def set_theme(self, name: str, *, save: bool = True) -> None:
        from genstudio.ui import theme

        app = QApplication.instance()
        if isinstance(app, QApplication):
            theme.apply_theme(app, name)
        if save and self.ctx.settings.theme != name:
            self.ctx.settings.theme = name
            self.ctx.save_settings(quiet=True)
        for w in (self, *self.findChildren(QWidget)):
            w.update()

    def _open_dialog(self, dlg) -> None:
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.help_dialog = dlg
        dlg.open()

    def show_getting_started(self) -> None:
        from genstudio.ui.help import getting_started_dialog

        self._open_dialog(getting_started_dialog(self))

    def show_shortcuts(self) -> None:
        from genstudio.ui.help import shortcuts_dialog

        def walk(actions: list[QAction]) -> list[QAction]:  # menu order, submenus inline
            out: list[QAction] = []
            for a in actions:
                out += walk(a.menu().actions()) if a.menu() is not None else [a]
            return out

        self._open_dialog(shortcuts_dialog(walk(self.menuBar().actions()) + self.actions(), self))

    def show_about(self) -> None:
        from genstudio.ui.about import AboutDialog

        dlg = AboutDialog(self.ctx.project, self)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.about_dialog = dlg
        dlg.open()

    def toggle_fullscreen(self) -> None:
        self.showNormal() if self.isFullScreen() else self.showFullScreen()

    # --- drag and drop ----------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        md = event.mimeData()
        if md.hasUrls() and any(u.isLocalFile() for u in md.urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        event.acceptProposedAction()
        self.handle_dropped_paths(paths)

    def handle_dropped_paths(self, paths: list[Path]) -> int:
        """Offer each file to the active panel, else import it; returns assets imported."""
        panel = self.current_panel()
        imported: list[str] = []
        problems: list[str] = []
        for path in paths:
            if not path.is_file():
                problems.append(f"{path.name}: not a file")
                continue
            if panel is not None and panel.accepts_drop(path):
                try:
                    panel.handle_drop(path)
                except GenStudioError as e:
                    problems.append(e.user_message())
                continue
            project = self.ctx.project
            if project is None:
                problems.append("Open or create a project before dropping files.")
                break
            try:
                rec = services.import_file(project, path)
            except GenStudioError as e:
                problems.append(e.user_message())
                continue
            imported.append(rec.id)
            self.ctx.asset_added.emit(rec.id)
        if imported:
            n = len(imported)
            self.ctx.show_message(f"Imported {n} file{'s' if n != 1 else ''} into the gallery.")
        if problems:
            self.ctx.show_message(" ".join(problems[:3]), "error")
        return len(imported)

    # --- errors and shutdown ----------------------------------------------------------------

    def _on_error(self, message: str, exc: BaseException | None) -> None:
        # any thread: only the signal
        if not self._closed:
            self._errors.error.emit(message)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop background work and detach global hooks (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._remove_error_listener()
        for panel in self.panels.values():
            try:
                panel.shutdown()
            except Exception:
                log.exception("panel shutdown failed")
        self.ctx.jobs.shutdown(wait=True)
        self.log_panel.detach()
        self.ctx.save_settings(quiet=True)
        project = self.ctx.project
        if project is not None:
            try:
                project.close()
            except Exception:
                log.exception("closing the project failed")
