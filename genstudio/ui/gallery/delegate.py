"""Paints one gallery tile: thumbnail (pixel art stays crisp), caption, favourite and kind."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QSize, Qt
from PySide6.QtGui import QColor, QFontMetrics, QPainter, QPen
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem

from genstudio.ui import icons, theme
from genstudio.ui.gallery.model import RecordRole, ThumbRole

THUMB = 128
PAD = 8
CAPTION_H = 20
TILE = QSize(THUMB + 2 * PAD, THUMB + 2 * PAD + CAPTION_H)
KIND_ICON = {"sprite": "sprites", "image": "images", "music": "music", "audio": "audio"}


class TileDelegate(QStyledItemDelegate):
    def sizeHint(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QSize:  # noqa: E501
        return TILE

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        c = theme.current()
        rec = index.data(RecordRole)
        if rec is None:
            return
        r = option.rect.adjusted(3, 3, -3, -3)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        hover = bool(option.state & QStyle.StateFlag.State_MouseOver)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(QColor(c.accent), 2) if selected else QPen(QColor(c.border), 1))
        painter.setBrush(QColor(c.hover if (hover or selected) else c.alt))
        painter.drawRoundedRect(r, 6, 6)
        thumb_rect = QRect(r.left() + PAD - 3, r.top() + PAD - 3, THUMB, THUMB)
        known, pm = index.data(ThumbRole) or (False, None)
        if pm is not None and not pm.isNull():
            size = pm.size().scaled(thumb_rect.size(), Qt.AspectRatioMode.KeepAspectRatio)
            if pm.width() >= size.width():  # downscale smoothly, upscale pixel art crisply
                painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            target = QRect(0, 0, size.width(), size.height())
            target.moveCenter(thumb_rect.center())
            painter.drawPixmap(target, pm)
        else:
            name = KIND_ICON.get(rec.kind, "file")
            ic = icons.pixmap(name, 40 if known else 28, c.muted)
            w = ic.width() / ic.devicePixelRatio()
            painter.drawPixmap(
                int(thumb_rect.center().x() - w / 2), int(thumb_rect.center().y() - w / 2), ic
            )
            if known:
                painter.setPen(QColor(c.muted))
                painter.drawText(
                    thumb_rect.adjusted(0, 0, 0, -10),
                    Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignBottom,
                    f"{rec.kind} .{rec.file.rsplit('.', 1)[-1]}",
                )
        if rec.favorite:
            painter.drawPixmap(
                thumb_rect.right() - 18,
                thumb_rect.top() + 2,
                icons.pixmap("star", 16, c.warning, fill=True),
            )
        if rec.status != "ok":
            painter.setPen(QColor(c.danger))
            painter.drawText(
                thumb_rect.adjusted(4, 2, 0, 0),
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop,
                rec.status,
            )
        text_rect = QRect(r.left() + 6, thumb_rect.bottom() + 4, r.width() - 12, CAPTION_H - 2)
        fm = QFontMetrics(option.font)
        painter.setPen(QColor(c.text))
        text = str(index.data(Qt.ItemDataRole.DisplayRole) or "")
        painter.drawText(
            text_rect,
            Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignVCenter,
            fm.elidedText(text, Qt.TextElideMode.ElideRight, text_rect.width()),
        )
        painter.restore()
