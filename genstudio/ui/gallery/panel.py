"""The Gallery mode: filter bar, virtualised grid, detail pane.

A right-click on a tile opens its menu (:meth:`GalleryPanel.context_menu`): Open (the system's
default application; a double-click does the same), Show in Folder, Export/Copy to Folder
(images through the Qt-free ``generators.images.export``: readable names, the settings kept;
other kinds copied, an LPC sheet with its credits), Train a Style (MIDI), Reuse Settings (the
detail pane's action), Move to Trash / Restore (the Delete key's action) and, in the trash,
Delete for Good. A menu opened on a tile outside the selection selects that tile first; the
copy and trash actions act on the whole selection.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QItemSelectionModel, QModelIndex, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QMenu,
    QMessageBox,
    QSplitter,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from genstudio.core.errors import GenStudioError
from genstudio.ui import icons, modes
from genstudio.ui.gallery import detail as detail_mod
from genstudio.ui.gallery.delegate import TILE, TileDelegate
from genstudio.ui.gallery.detail import DetailPane
from genstudio.ui.gallery.model import GalleryModel, IdRole, RecordRole
from genstudio.ui.gallery.thumbs import ThumbnailLoader
from genstudio.ui.modes.base import ModePanel
from genstudio.ui.modes.widgets import EXPORT_SVG, register_icons

if TYPE_CHECKING:
    from genstudio.core.assets import AssetRecord
    from genstudio.core.gallery import Query
    from genstudio.ui.context import AppContext

log = logging.getLogger(__name__)
gallery_icon = register_icons("gallery", {"export": EXPORT_SVG})
SEARCH_DEBOUNCE_MS = 250
DATE_RANGES = (
    ("Any time", None),
    ("Today", 1),
    ("Last 7 days", 7),
    ("Last 30 days", 30),
    ("Last year", 365),
)


class GalleryPanel(ModePanel):
    """Everything in the project, newest first; filters build a ``gallery.Query``."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self.thumbs = ThumbnailLoader(128, self)
        self.model = GalleryModel(self.thumbs, self)

        # --- filter bar
        bar_frame = QFrame()
        bar_frame.setObjectName("FilterBar")
        bar = QHBoxLayout(bar_frame)
        bar.setContentsMargins(10, 8, 10, 8)
        bar.setSpacing(6)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search prompts, tags, models...  (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        self.search.addAction(icons.icon("search", 16), QLineEdit.ActionPosition.LeadingPosition)
        self.search.setMinimumWidth(220)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(SEARCH_DEBOUNCE_MS)
        self._debounce.timeout.connect(self.apply_filters)
        self.search.textChanged.connect(lambda _t: self._debounce.start())
        self.search.returnPressed.connect(self.apply_filters)
        self.kind = QComboBox()
        self.kind.setToolTip("Kind")
        self.model_filter = QComboBox()
        self.model_filter.setToolTip("Model")
        self.model_filter.setMinimumContentsLength(10)
        self.date = QComboBox()
        self.date.setToolTip("Created")
        for label, days in DATE_RANGES:
            self.date.addItem(label, days)
        self.favorites = QToolButton()
        self.favorites.setText("\u2665 Favorites")
        self.favorites.setCheckable(True)
        self.favorites.setToolTip("Show favorites only")
        self.trash_view = QToolButton()
        self.trash_view.setText("Trash")
        self.trash_view.setIcon(icons.icon("trash", 16))
        self.trash_view.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.trash_view.setCheckable(True)
        self.trash_view.setToolTip("Show the trash")
        self.train_btn = QToolButton()
        self.train_btn.setText("Train a style")
        self.train_btn.setIcon(icons.icon("train", 16))
        self.train_btn.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.train_btn.setToolTip("Open Train with the selected MIDI pieces as material")
        self.train_btn.setEnabled(False)
        self.train_btn.clicked.connect(self.train_on_selected)
        self.count_label = QLabel()
        self.count_label.setObjectName("Muted")
        for w in (self.kind, self.model_filter, self.date):
            w.currentIndexChanged.connect(self.apply_filters)
        for b in (self.favorites, self.trash_view):
            b.toggled.connect(self.apply_filters)
        bar.addWidget(self.search, 3)
        bar.addWidget(self.kind)
        bar.addWidget(self.model_filter)
        bar.addWidget(self.date)
        bar.addWidget(self.favorites)
        bar.addWidget(self.trash_view)
        bar.addWidget(self.train_btn)
        bar.addStretch(1)
        bar.addWidget(self.count_label)

        # --- grid
        self.grid = QListView()
        self.grid.setObjectName("GalleryGrid")
        self.grid.setViewMode(QListView.ViewMode.IconMode)
        self.grid.setResizeMode(QListView.ResizeMode.Adjust)
        self.grid.setMovement(QListView.Movement.Static)
        self.grid.setUniformItemSizes(True)
        self.grid.setLayoutMode(QListView.LayoutMode.Batched)
        self.grid.setBatchSize(200)
        self.grid.setGridSize(TILE)
        self.grid.setSpacing(0)
        self.grid.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.grid.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.grid.verticalScrollBar().setSingleStep(24)
        self.grid.setMouseTracking(True)
        self.grid.setItemDelegate(TileDelegate(self.grid))
        self.grid.setModel(self.model)
        self.grid.selectionModel().currentChanged.connect(self._current_changed)
        self.grid.selectionModel().selectionChanged.connect(
            lambda *_: self.train_btn.setEnabled(bool(self.selected_midi()))
        )
        self.grid.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.grid.customContextMenuRequested.connect(self._show_context_menu)
        self.grid.doubleClicked.connect(self._double_clicked)
        self._export_dir: Path | None = None
        self.empty = QLabel()
        self.empty.setObjectName("EmptyState")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.grid_stack = QStackedWidget()
        self.grid_stack.addWidget(self.grid)
        self.grid_stack.addWidget(self.empty)

        self.detail = DetailPane(ctx)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.grid_stack)
        self.splitter.addWidget(self.detail)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 0)
        self.splitter.setSizes([700, 320])
        self.splitter.setChildrenCollapsible(False)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(bar_frame)
        lay.addWidget(self.splitter, 1)

        delete = QShortcut(QKeySequence(QKeySequence.StandardKey.Delete), self.grid)
        delete.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        delete.activated.connect(self.trash_selected)

        self.model.count_changed.connect(self._count_changed)
        ctx.project_changed.connect(self._project_changed)
        ctx.asset_added.connect(self.model.add_new)
        ctx.asset_changed.connect(self._asset_changed)
        self._project_changed(ctx.project)

    # --- project and filters ----------------------------------------------------------------

    def _project_changed(self, project) -> None:
        self.detail.show_record(None)
        gallery = None
        if project is not None:
            try:
                gallery = project.gallery
            except GenStudioError as e:
                self.ctx.show_message(f"The gallery cannot be read: {e.user_message()}", "error")
        self._gallery = gallery
        self._reload_choices()
        self.model.query = self.build_query()
        self.model.set_gallery(gallery)

    def _reload_choices(self) -> None:
        g = self._gallery
        kinds: list[str] = []
        models: list[str] = []
        if g is not None:
            try:
                kinds, models = list(g.kinds()), list(g.models())
            except GenStudioError as e:
                log.warning("gallery lists failed: %s", e)
        for combo, label, values in (
            (self.kind, "All kinds", kinds),
            (self.model_filter, "All models", models),
        ):
            current = combo.currentData()
            combo.blockSignals(True)
            combo.clear()
            combo.addItem(label, None)
            for v in values:
                if v:
                    combo.addItem(v, v)
            i = combo.findData(current)
            combo.setCurrentIndex(max(0, i))
            combo.blockSignals(False)

    def build_query(self) -> Query:
        from genstudio.core.gallery import Query

        days = self.date.currentData()
        date_from = None
        if days:
            start = datetime.now(UTC) - timedelta(days=int(days))
            if days == 1:
                start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
            date_from = start.strftime("%Y-%m-%dT%H:%M:%S")
        return Query(
            text=self.search.text().strip(),
            kind=self.kind.currentData(),
            model_id=self.model_filter.currentData(),
            date_from=date_from,
            favorite=True if self.favorites.isChecked() else None,
            trashed=self.trash_view.isChecked(),
        )

    def apply_filters(self) -> None:
        self._debounce.stop()
        self.model.set_query(self.build_query())
        self.detail.show_record(None)

    def _count_changed(self, total: int) -> None:
        self.count_label.setText(f"{total} asset{'s' if total != 1 else ''}")
        self.detail.setVisible(bool(total))
        if total:
            self.grid_stack.setCurrentWidget(self.grid)
            return
        if self._gallery is None:
            text = "No project is open.\nUse Project > New or Open."
        elif self.trash_view.isChecked():
            text = "The trash is empty."
        elif self.search.text().strip() or self.model.query != self._default_query():
            text = "Nothing matches these filters."
        else:
            text = (
                "No assets yet.\n\nGenerate something from a mode on the left,\n"
                "or drop images, MIDI files or sprite sheets onto the window."
            )
        self.empty.setText(text)
        self.grid_stack.setCurrentWidget(self.empty)

    def _default_query(self) -> Query:
        from genstudio.core.gallery import Query

        return Query()

    # --- selection and edits ----------------------------------------------------------------

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self.detail.show_record(current.data(RecordRole) if current.isValid() else None)

    def _asset_changed(self, asset_id: str) -> None:
        self.model.update_record(asset_id)
        row = self.model.row_of(asset_id)
        if self.detail.record is not None and self.detail.record.id == asset_id and row < 0:
            self.detail.show_record(None)
        self._reload_choices_later()

    def _reload_choices_later(self) -> None:
        QTimer.singleShot(0, self._reload_choices)

    def select_asset(self, asset_id: str) -> bool:
        """Select and show one asset if it is in the loaded rows (loads pages until found)."""
        row = self.model.row_of(asset_id)
        while row < 0 and self.model.canFetchMore(QModelIndex()):
            self.model.fetchMore(QModelIndex())
            row = self.model.row_of(asset_id)
        if row < 0:
            return False
        idx = self.model.index(row)
        self.grid.selectionModel().setCurrentIndex(
            idx, QItemSelectionModel.SelectionFlag.ClearAndSelect
        )
        self.grid.scrollTo(idx)
        return True

    def selected_records(self) -> list[AssetRecord]:
        """The selected assets in grid order."""
        rows = sorted(self.grid.selectionModel().selectedIndexes(), key=lambda i: i.row())
        return [i.data(RecordRole) for i in rows]

    def selected_midi(self) -> list[Path]:
        """The files of the selected MIDI assets (what Train can learn from)."""
        project = self.ctx.project
        if project is None:
            return []
        return [
            project.asset_path(r)
            for r in self.selected_records()
            if r is not None and str(r.file).lower().endswith((".mid", ".midi"))
        ]

    def train_on_selected(self) -> bool:
        paths = self.selected_midi()
        if not paths:
            self.ctx.show_message("Select MIDI pieces in the gallery first.", "info")
            return False
        self.ctx.request_mode("train", {"sources": [str(p) for p in paths]})
        return True

    def trash_selected(self) -> None:
        project = self.ctx.project
        if project is None or project.read_only:
            return
        ids = [i.data(IdRole) for i in self.grid.selectionModel().selectedIndexes()]
        for asset_id in ids:
            try:
                if self.trash_view.isChecked():
                    project.gallery.restore(asset_id)
                else:
                    project.gallery.trash(asset_id)
            except GenStudioError as e:
                self.ctx.show_message(f"Could not move to the trash: {e.user_message()}", "error")
                break
            self.ctx.asset_changed.emit(asset_id)

    # --- the tile menu and what it does -----------------------------------------------------

    def _show_context_menu(self, pos) -> None:
        index = self.grid.indexAt(pos)
        if not index.isValid():
            return
        menu = self.context_menu(index)
        menu.exec(self.grid.viewport().mapToGlobal(pos))
        menu.deleteLater()

    def context_menu(self, index: QModelIndex) -> QMenu:
        """The menu of the tile at ``index`` (selected first unless it is in the selection);
        every action carries its key (``open``, ``folder``, ``export``, ``train``, ``reuse``,
        ``trash``, ``restore``, ``delete``) as its data."""
        sel = self.grid.selectionModel()
        if not sel.isSelected(index):
            sel.setCurrentIndex(index, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        rec: AssetRecord = index.data(RecordRole)
        records = self.selected_records()
        n = len(records)
        project = self.ctx.project
        writable = project is not None and not project.read_only
        here = rec.status != "missing"
        menu = QMenu(self)
        menu.setObjectName("GalleryMenu")

        def add(key: str, text: str, slot, icon_name: str, on: bool = True) -> QAction:
            act = menu.addAction(gallery_icon(icon_name, 16), text)
            act.setData(key)
            act.setEnabled(on)
            act.triggered.connect(lambda _c=False: slot())
            return act

        add("open", "Open", lambda: self.open_asset(rec), "file", here).setToolTip(
            "Open the file in the system's default application (double-click)"
        )
        add("folder", "Show in Folder", lambda: self.show_in_folder(rec), "folder", here)
        menu.addSeparator()
        images = sum(1 for r in records if r.kind == "image")
        if images == n:
            text = "Export Image\u2026" if n == 1 else f"Export {n} Images\u2026"
        else:
            text = "Copy to Folder\u2026" if n == 1 else f"Copy {n} Assets to Folder\u2026"
        add("export", text, lambda: self.export_selected(), "export", here)
        if self.selected_midi():
            add("train", "Train a Style with It" if n == 1 else "Train a Style with Them",
                self.train_on_selected, "train")  # fmt: skip
        target = modes.mode_for_generator(rec.generator)
        reuse = add("reuse", "Reuse Settings", lambda: self.ctx.request_reuse(rec), "reuse")
        reuse.setEnabled(target is not None)
        reuse.setToolTip(f"Open {target.title} with these settings" if target else "")
        menu.addSeparator()
        if self.trash_view.isChecked():
            add("restore", "Restore", self.trash_selected, "restore", writable)
            add("delete", "Delete for Good\u2026", lambda: self.delete_selected(), "trash",
                writable)  # fmt: skip
        else:
            trash = add("trash", "Move to Trash", self.trash_selected, "trash", writable)
            trash.setShortcut(QKeySequence(QKeySequence.StandardKey.Delete))  # shown; the
            trash.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)  # grid's key acts
        menu.setToolTipsVisible(True)
        return menu

    def _double_clicked(self, index: QModelIndex) -> None:
        rec = index.data(RecordRole) if index.isValid() else None
        if rec is not None:
            self.open_asset(rec)

    def _path_of(self, rec: AssetRecord) -> Path | None:
        """The asset's file, or None (and a message) when it is not there."""
        project = self.ctx.project
        if project is None:
            return None
        path = project.asset_path(rec)
        if rec.status == "missing" or not path.is_file():
            self.ctx.show_message(f"The file of this asset is missing: {path}", "error")
            return None
        return path

    def open_asset(self, rec: AssetRecord) -> bool:
        """Open the asset's file in the system's default application."""
        path = self._path_of(rec)
        if path is None:
            return False
        if not detail_mod.open_file(path):
            self.ctx.show_message(f"No application could open {path.name}.", "warning")
            return False
        return True

    def show_in_folder(self, rec: AssetRecord) -> bool:
        path = self._path_of(rec)
        return path is not None and bool(detail_mod.open_folder(path.parent))

    def export_selected(self, folder: str | Path | None = None) -> list[Path] | None:
        """Copy the selected assets' files into ``folder`` (asked for when None): images
        through the image export (readable names, settings kept), others copied under a
        readable name (an LPC sheet with its ``.CREDITS.txt``). All or nothing; the message
        bar says what was written or why not."""
        from genstudio.generators.images import export

        project = self.ctx.project
        records = [r for r in self.selected_records() if r is not None]
        if project is None or not records:
            return None
        if folder is None:
            start = self._export_dir or project.root / "exports"
            folder = QFileDialog.getExistingDirectory(self, "Copy to folder", str(start))
            if not folder:
                return None
        missing = [r for r in records if not project.asset_path(r).is_file()]
        records = [r for r in records if r not in missing]
        written: list[Path] = []
        try:
            images = [
                export.ImageToExport(project.asset_path(r), r.prompt, r.seed,
                                     "" if r.prompt else asset_stem(r))
                for r in records
                if r.kind == "image"
            ]  # fmt: skip
            if images:
                written += export.export_images(images, folder)
            for r in records:
                if r.kind == "image":
                    continue
                credits = r.extra.get("credits") if isinstance(r.extra, dict) else None
                extras = [(".CREDITS.txt", str(credits).encode("utf-8"))] if credits else []
                written += export.copy_file(project.asset_path(r), folder, asset_stem(r), extras)
        except GenStudioError as e:
            for p in written:  # all or nothing
                p.unlink(missing_ok=True)
            self.ctx.show_message(f"Could not copy to {folder}: {e.user_message()}", "error")
            return None
        self._export_dir = Path(folder)
        n = len(written)
        text = f"Copied {n} file{'s' if n != 1 else ''} to {folder}."
        if missing:
            text += (
                f" {len(missing)} missing file{'s were' if len(missing) != 1 else ' was'} skipped."
            )
        self.ctx.show_message(text, "warning" if missing else "info")
        return written

    def delete_selected(self, confirm: bool = True) -> int:
        """Delete the selected assets in the trash for good (after a question); the count."""
        project = self.ctx.project
        if project is None or project.read_only or not self.trash_view.isChecked():
            return 0
        ids = [i.data(IdRole) for i in self.grid.selectionModel().selectedIndexes()]
        if not ids:
            return 0
        if confirm:
            n = len(ids)
            answer = QMessageBox.question(
                self,
                "Delete for good",
                f"Delete {'this asset' if n == 1 else f'these {n} assets'} and "
                f"{'its file' if n == 1 else 'their files'} from the project? This cannot be "
                "undone.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
                QMessageBox.StandardButton.Cancel,
            )
            if answer != QMessageBox.StandardButton.Yes:
                return 0
        done = 0
        for asset_id in ids:
            try:
                project.gallery.delete(asset_id)
            except GenStudioError as e:
                self.ctx.show_message(f"Could not delete: {e.user_message()}", "error")
                break
            done += 1
            self.ctx.asset_changed.emit(asset_id)
        return done

    # --- ModePanel hooks --------------------------------------------------------------------

    def focus_search(self) -> bool:
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()
        return True

    def activated(self) -> None:
        self._reload_choices()

    def accepts_drop(self, path: Path) -> bool:
        return False  # the main window imports dropped files into the project

    def shutdown(self) -> None:
        self._debounce.stop()
        self.thumbs.shutdown()


def asset_stem(rec: AssetRecord) -> str:
    """A readable file name for an asset: its prompt and seed, else the generator's name hint
    (``melody-pop-3``), else its kind and seed."""
    from genstudio.generators.images import export

    if rec.prompt.strip():
        return export.export_stem(rec.prompt, rec.seed)
    hint = rec.extra.get("name_hint") if isinstance(rec.extra, dict) else None
    if isinstance(hint, str) and export.safe_stem(hint):
        return export.safe_stem(hint)
    return export.export_stem("", rec.seed, fallback=rec.kind or "asset")
