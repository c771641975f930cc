"""A list model over ``Gallery.query``: pages are fetched as the view scrolls (fetchMore)."""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt, Signal

if TYPE_CHECKING:
    from genstudio.core.assets import AssetRecord
    from genstudio.core.gallery import Gallery, Query
    from genstudio.ui.gallery.thumbs import ThumbnailLoader

log = logging.getLogger(__name__)

PAGE_SIZE = 150
RecordRole = Qt.ItemDataRole.UserRole + 1
IdRole = Qt.ItemDataRole.UserRole + 2
ThumbRole = Qt.ItemDataRole.UserRole + 3  # (known: bool, QPixmap | None)
_Index = QModelIndex | QPersistentModelIndex


def caption(rec: AssetRecord) -> str:
    text = (rec.params.get("prompt") or "").strip() if isinstance(rec.params, dict) else ""
    return text or rec.file


class GalleryModel(QAbstractListModel):
    """Rows mirror the gallery's order for the current query; only loaded pages are held."""

    count_changed = Signal(int)

    def __init__(self, thumbs: ThumbnailLoader, parent: Any = None) -> None:
        super().__init__(parent)
        self.thumbs = thumbs
        self.gallery: Gallery | None = None
        self.query: Query | None = None
        self.total = 0
        self._rows: list[AssetRecord] = []
        self._row_of: dict[str, int] = {}
        thumbs.loaded.connect(self._thumb_loaded)

    # --- configuration ----------------------------------------------------------------------

    def set_gallery(self, gallery: Gallery | None) -> None:
        self.gallery = gallery
        self.thumbs.set_gallery(gallery)
        self.refresh()

    def set_query(self, query: Query) -> None:
        self.query = query
        self.refresh()

    def refresh(self) -> None:
        self.beginResetModel()
        self._rows = []
        self._row_of = {}
        self.total = 0
        if self.gallery is not None:
            try:
                self.total = self.gallery.count(self._q(0, 0))
            except Exception as e:
                log.warning("gallery count failed: %s", e)
        self.endResetModel()
        if self.total:
            self.fetchMore(QModelIndex())
        self.count_changed.emit(self.total)

    def _q(self, offset: int, limit: int) -> Query:
        from genstudio.core.gallery import Query

        base = self.query if self.query is not None else Query()
        return dataclasses.replace(base, offset=offset, limit=limit)

    # --- Qt model API -----------------------------------------------------------------------

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def canFetchMore(self, parent: _Index = QModelIndex()) -> bool:  # noqa: B008
        return not parent.isValid() and self.gallery is not None and len(self._rows) < self.total

    def fetchMore(self, parent: _Index = QModelIndex()) -> None:  # noqa: B008
        if parent.isValid() or self.gallery is None:
            return
        try:
            page = self.gallery.query(self._q(len(self._rows), PAGE_SIZE))
        except Exception as e:
            log.warning("gallery query failed: %s", e)
            self.total = len(self._rows)
            return
        page = [r for r in page if r.id not in self._row_of]
        if not page:
            self.total = len(self._rows)  # the index shrank under us; stop asking
            return
        first = len(self._rows)
        self.beginInsertRows(QModelIndex(), first, first + len(page) - 1)
        for i, rec in enumerate(page):
            self._row_of[rec.id] = first + i
        self._rows.extend(page)
        self.endInsertRows()

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        rec = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return caption(rec)
        if role == RecordRole:
            return rec
        if role == IdRole:
            return rec.id
        if role == ThumbRole:
            return self.thumbs.cached(rec.id)
        if role == Qt.ItemDataRole.ToolTipRole:
            bits = [
                caption(rec),
                f"{rec.kind} - {rec.generator}",
                rec.created[:19].replace("T", " "),
            ]
            if rec.status != "ok":
                bits.append(f"file {rec.status}")
            return "\n".join(bits)
        return None

    # --- helpers ----------------------------------------------------------------------------

    def record(self, row: int) -> AssetRecord | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def row_of(self, asset_id: str) -> int:
        return self._row_of.get(asset_id, -1)

    def ids(self) -> list[str]:
        return [r.id for r in self._rows]

    def _reindex(self, start: int = 0) -> None:
        for i in range(start, len(self._rows)):
            self._row_of[self._rows[i].id] = i

    def _thumb_loaded(self, asset_id: str) -> None:
        row = self._row_of.get(asset_id, -1)
        if row >= 0:
            idx = self.index(row)
            self.dataChanged.emit(idx, idx, [ThumbRole])

    def add_new(self, asset_id: str) -> None:
        """New assets (newest first) are inserted at the top when they match the query."""
        if self.gallery is None or asset_id in self._row_of:
            return
        q = self.query
        if q is not None and q.order not in ("newest", ""):
            self.refresh()
            return
        try:
            head = self.gallery.query(self._q(0, 50))
            self.total = self.gallery.count(self._q(0, 0))
        except Exception as e:
            log.warning("gallery query failed: %s", e)
            return
        new = []
        for rec in head:
            if rec.id in self._row_of:
                break
            new.append(rec)
        if new:
            self.beginInsertRows(QModelIndex(), 0, len(new) - 1)
            self._rows[0:0] = new
            self._reindex()
            self.endInsertRows()
        self.count_changed.emit(self.total)

    def update_record(self, asset_id: str) -> None:
        """Reload one record after an edit; drop it when it no longer fits the view."""
        row = self._row_of.get(asset_id, -1)
        if row < 0 or self.gallery is None:
            return
        try:
            rec = self.gallery.get(asset_id)
        except Exception:
            self._remove_row(row)
            return
        q = self.query
        fits = True
        if q is not None:
            fits = bool(rec.trashed) == bool(q.trashed)
            if q.favorite is not None and bool(rec.favorite) != q.favorite:
                fits = False
            if rec.rating < q.min_rating:
                fits = False
        if not fits:
            self._remove_row(row)
            return
        self._rows[row] = rec
        idx = self.index(row)
        self.dataChanged.emit(idx, idx)

    def _remove_row(self, row: int) -> None:
        self.beginRemoveRows(QModelIndex(), row, row)
        rec = self._rows.pop(row)
        self._row_of.pop(rec.id, None)
        self._reindex(row)
        self.total = max(0, self.total - 1)
        self.endRemoveRows()
        self.count_changed.emit(self.total)
