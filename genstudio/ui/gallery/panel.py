"""The Gallery mode: filter bar, virtualised grid, detail pane."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QItemSelectionModel, QModelIndex, Qt, QTimer
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QSplitter,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from genstudio.core.errors import GenStudioError
from genstudio.ui import icons
from genstudio.ui.gallery.delegate import TILE, TileDelegate
from genstudio.ui.gallery.detail import DetailPane
from genstudio.ui.gallery.model import GalleryModel, IdRole, RecordRole
from genstudio.ui.gallery.thumbs import ThumbnailLoader
from genstudio.ui.modes.base import ModePanel

if TYPE_CHECKING:
    from genstudio.core.assets import AssetRecord
    from genstudio.core.gallery import Query
    from genstudio.ui.context import AppContext

log = logging.getLogger(__name__)
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
        return [i.data(RecordRole) for i in self.grid.selectionModel().selectedIndexes()]

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
