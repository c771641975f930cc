"""Widgets of the Sprites panel: pixel views on a checkerboard, the candidate tiles, the export
dialog. Pixels are always scaled nearest-neighbour by whole numbers."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPalette, QPen, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from genstudio.generators.sprites import export
from genstudio.ui.modes.sprites import state
from genstudio.ui.modes.widgets import (
    DICE_SVG,
    PAUSE_SVG,
    PLAY_SVG,
    begin_tile,
    end_tile,
    register_icons,
)

if TYPE_CHECKING:
    from genstudio.ui.modes.sprites.panel import SpritesPanel

# Extra line icons in the house style (24x24 viewBox, stroked); added once to the icon table.
_EXTRA_SVG = {
    "play": PLAY_SVG,
    "pause": PAUSE_SVG,
    "dice": DICE_SVG,
    "export": '<path d="M12 3v12M7 10l5 5 5-5"/><path d="M4 17v3h16v-3"/>',
    "palette": (
        '<path d="M12 3a9 9 0 1 0 0 18c1.4 0 2-1 1.6-2.1-.5-1.3.3-2.4 1.7-2.4H18a3 3 0 0 0 '
        '3-3c0-5-4-8.5-9-8.5z"/><circle cx="7.5" cy="11" r="1.2"/><circle cx="10" cy="7" '
        'r="1.2"/><circle cx="14.5" cy="7" r="1.2"/>'
    ),
    "variations": (
        '<circle cx="8" cy="9" r="5"/><circle cx="16" cy="9" r="5"/><circle cx="12" cy="15.5" '
        'r="5"/>'
    ),
}
icon = register_icons("sprites", _EXTRA_SVG)


# --- checkerboard --------------------------------------------------------------------------------


def checker_colors(pal: QPalette) -> tuple[QColor, QColor]:
    """Two quiet greys that follow the theme (lighter squares on dark themes)."""
    base = pal.color(QPalette.ColorRole.Base)
    if base.lightnessF() > 0.5:
        return QColor("#ffffff"), QColor("#e3e5ea")
    return QColor("#2b2e35"), QColor("#353942")


def paint_checker(p: QPainter, rect: QRect, cell: int, colors: tuple[QColor, QColor]) -> None:
    p.fillRect(rect, colors[0])
    cell = max(1, cell)
    for y in range(0, rect.height(), cell):
        for x in range((y // cell) % 2 * cell, rect.width(), 2 * cell):
            w = min(cell, rect.width() - x)
            h = min(cell, rect.height() - y)
            p.fillRect(rect.x() + x, rect.y() + y, w, h, colors[1])


def scaled(img: QImage, scale: int) -> QImage:
    """Nearest-neighbour whole-number upscale (FastTransformation never blends pixels)."""
    if scale == 1:
        return img
    return img.scaled(
        img.width() * scale,
        img.height() * scale,
        Qt.AspectRatioMode.IgnoreAspectRatio,
        Qt.TransformationMode.FastTransformation,
    )


def pixel_pixmap(frame: QImage, zoom: int, colors: tuple[QColor, QColor]) -> QPixmap:
    """``frame`` at ``zoom`` x on a checkerboard: exactly (w*zoom, h*zoom) device pixels."""
    pm = QPixmap(frame.width() * zoom, frame.height() * zoom)
    p = QPainter(pm)
    paint_checker(p, pm.rect(), state.checker_cell(zoom), colors)
    p.drawImage(0, 0, scaled(frame, zoom))
    p.end()
    return pm


class FrameView(QWidget):
    """One animated direction: the current frame on a checkerboard, with a caption below."""

    CAPTION_H = state.CAPTION_H

    def __init__(self, caption: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.caption = caption
        self._frame: QImage | None = None
        self._zoom = state.DEFAULT_ZOOM
        self._frame_size = QSize(state.NATIVE_SIZE, state.NATIVE_SIZE)
        self._pixmap: QPixmap | None = None
        self._update_size()

    def set_frame(self, frame: QImage | None) -> None:
        self._frame = frame
        if frame is not None and frame.size() != self._frame_size:
            self._frame_size = frame.size()
            self._update_size()
        self._pixmap = None
        self.update()

    def set_zoom(self, zoom: int) -> None:
        if zoom != self._zoom:
            self._zoom = zoom
            self._pixmap = None
            self._update_size()
            self.update()

    def zoom(self) -> int:
        return self._zoom

    def pixmap(self) -> QPixmap | None:
        """The pixels shown (checkerboard + frame), exactly frame size x zoom."""
        if self._frame is None:
            return None
        if self._pixmap is None:
            self._pixmap = pixel_pixmap(self._frame, self._zoom, checker_colors(self.palette()))
        return self._pixmap

    def _update_size(self) -> None:
        w = self._frame_size.width() * self._zoom
        h = self._frame_size.height() * self._zoom
        self.setFixedSize(max(w, state.VIEW_MIN_W), h + self.CAPTION_H)

    def changeEvent(self, event) -> None:  # noqa: N802 - Qt API
        if event.type() in (event.Type.PaletteChange, event.Type.ApplicationPaletteChange):
            self._pixmap = None
        super().changeEvent(event)

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt API
        p = QPainter(self)
        pal = self.palette()
        w = self._frame_size.width() * self._zoom
        h = self._frame_size.height() * self._zoom
        x = (self.width() - w) // 2
        target = QRect(x, 0, w, h)
        pm = self.pixmap()
        if pm is None:
            paint_checker(p, target, state.checker_cell(self._zoom), checker_colors(pal))
        else:
            p.drawPixmap(x, 0, pm)
        p.setPen(QPen(pal.color(QPalette.ColorRole.Mid), 1))
        p.drawRect(target.adjusted(0, 0, -1, -1))
        p.setPen(pal.color(QPalette.ColorRole.PlaceholderText))
        f = p.font()
        f.setPointSizeF(max(7.0, f.pointSizeF() - 1))
        p.setFont(f)
        p.drawText(
            QRect(0, h, self.width(), self.CAPTION_H), Qt.AlignmentFlag.AlignCenter, self.caption
        )
        p.end()


# --- candidate tiles -----------------------------------------------------------------------------

FrameRole = Qt.ItemDataRole.UserRole + 1  # QImage: the down-facing idle frame
AssetRole = Qt.ItemDataRole.UserRole + 2  # str: asset id
BadgeRole = Qt.ItemDataRole.UserRole + 3  # str: e.g. "source"
TILE = QSize(106, 128)
THUMB_BOX = 96


class CandidateDelegate(QStyledItemDelegate):
    """A rounded tile: the character on a checkerboard (whole-number zoom), its seed below."""

    def sizeHint(self, option, index) -> QSize:  # noqa: N802 - Qt API
        return TILE

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        pal = option.palette
        r, selected, hover = begin_tile(painter, option, 4, 7)
        box = QRect(r.x() + (r.width() - THUMB_BOX) // 2, r.y() + 4, THUMB_BOX, THUMB_BOX)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        frame = index.data(FrameRole)
        if isinstance(frame, QImage) and not frame.isNull():
            s = state.fit_scale(max(frame.width(), frame.height()), THUMB_BOX)
            paint_checker(painter, box, 8, checker_colors(pal))
            img = scaled(frame, s)
            painter.drawImage(
                box.x() + (box.width() - img.width()) // 2,
                box.y() + box.height() - img.height(),
                img,
            )
        else:
            paint_checker(painter, box, 8, checker_colors(pal))
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        text_rect = QRect(r.x(), box.bottom() + 2, r.width(), r.bottom() - box.bottom() - 2)
        painter.setPen(pal.color(QPalette.ColorRole.PlaceholderText))
        f = painter.font()
        f.setPointSizeF(max(7.0, f.pointSizeF() - 1))
        painter.setFont(f)
        label = str(index.data(Qt.ItemDataRole.DisplayRole) or "")
        badge = index.data(BadgeRole)
        if badge:
            label = f"{badge} \u2022 {label}"
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignCenter, label)
        end_tile(painter, pal, r, 7, selected, hover)


def swatch_pixmap(colors: list[tuple[int, int, int]], w: int = 14, h: int = 14) -> QPixmap:
    """Colour chips side by side (a palette strip, or one chip for a combo entry)."""
    n = max(1, len(colors))
    pm = QPixmap(w * n, h)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    for i, c in enumerate(colors):
        p.setPen(QPen(QColor(0, 0, 0, 70), 1))
        p.setBrush(QColor(*c))
        p.drawRoundedRect(i * w + 1, 1, w - 2, h - 2, 3, 3)
    p.end()
    return pm


# --- export dialog -------------------------------------------------------------------------------


class ExportDialog(QDialog):
    """Folder, file name, formats and scale for the selected sheet; exports on accept."""

    exported = Signal(list)

    def __init__(self, panel: SpritesPanel, folder: Path, stem: str) -> None:
        super().__init__(panel)
        self.panel = panel
        self.setWindowTitle("Export sprite sheet")
        self.setMinimumWidth(460)
        lay = QVBoxLayout(self)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        row = QHBoxLayout()
        self.folder = QLineEdit(str(folder))
        browse = QPushButton("Browse\u2026")
        browse.clicked.connect(self._browse)
        row.addWidget(self.folder, 1)
        row.addWidget(browse)
        form.addRow("Folder", row)
        self.stem = QLineEdit(stem)
        form.addRow("File name", self.stem)
        self.formats: dict[str, QCheckBox] = {}
        fbox = QVBoxLayout()
        fbox.setSpacing(4)
        for key, label in state.EXPORT_FORMATS:
            cb = QCheckBox(label)
            cb.setChecked(key in ("png", "aseprite"))
            cb.toggled.connect(self._update_summary)
            self.formats[key] = cb
            fbox.addWidget(cb)
        form.addRow("Formats", fbox)
        self.scale = QSpinBox()
        self.scale.setRange(1, 8)
        self.scale.setSuffix(" x")
        self.scale.setToolTip("Whole-number nearest-neighbour upscale (pixels stay sharp)")
        self.scale.valueChanged.connect(self._update_summary)
        form.addRow("Scale", self.scale)
        lay.addLayout(form)
        self.summary = QLabel()
        self.summary.setObjectName("Muted")
        self.summary.setWordWrap(True)
        lay.addWidget(self.summary)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        lay.addWidget(self.buttons)
        self.stem.textChanged.connect(self._update_summary)
        self._update_summary()

    def chosen_formats(self) -> list[str]:
        return [k for k, cb in self.formats.items() if cb.isChecked()]

    def _browse(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Export to folder", self.folder.text())
        if path:
            self.folder.setText(path)

    def _update_summary(self) -> None:
        stem = self.stem.text().strip() or "sprite"
        fm = self.chosen_formats()
        files = [
            f"{f} (a PNG per animation frame)" if f.endswith("/") else f
            for f in export.planned_files(stem, fm, self.scale.value())
        ]
        self.summary.setText("Writes: " + ", ".join(files) if files else "Choose a format.")
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(bool(fm))

    def accept(self) -> None:
        written = self.panel.export_selected(
            Path(self.folder.text().strip()),
            self.stem.text(),
            self.chosen_formats(),
            self.scale.value(),
        )
        if written is not None:
            self.exported.emit(written)
            super().accept()
