"""The Images mode's canvas: the current result (or the live preview) large, or the init image
with the inpainting mask painted over it.

Two views share one widget: ``"result"`` shows a result (or, during a generation, the live
denoising preview) and ``"init"`` shows the init image with the mask as a translucent red
overlay, painted with a round brush (or erased). Small images and pixel art are scaled by whole
factors with nearest-neighbour sampling, everything sits on a checkerboard so transparency shows.

The mask lives at the init image's aspect ratio with its longer side between 512 and 2048
pixels, so a 64x64 icon can be masked smoothly and a large photo stays cheap; the generator
resizes the mask with the init image's own geometry (``imageio.load_mask(resize=True)``), so it
lines up. :meth:`mask_image` gives it as 8-bit grey: white = repaint.
"""

from __future__ import annotations

import math
from pathlib import Path

from PySide6.QtCore import (
    QModelIndex,
    QPersistentModelIndex,
    QPointF,
    QRect,
    QRectF,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import (
    QBrush,
    QColor,
    QDragEnterEvent,
    QDropEvent,
    QImage,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPalette,
    QPen,
    QPixmap,
)
from PySide6.QtWidgets import (
    QSizePolicy,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

from genstudio.ui.modes.images import state
from genstudio.ui.modes.widgets import begin_tile, end_tile

MASK_MIN_SIDE = 512
MASK_MAX_SIDE = 2048
MASK_RGB = QColor(235, 45, 45)
MASK_OPACITY = 0.5
MARGIN = 16
#: images this small (or pixel art) are shown with nearest-neighbour sampling
PIXELATED_SIDE = 256


def checker_brush(dark: bool, cell: int = 8) -> QBrush:
    a, b = (QColor(58, 58, 62), QColor(46, 46, 50)) if dark else (QColor(255, 255, 255), QColor(222, 222, 226))  # fmt: skip
    pm = QPixmap(cell * 2, cell * 2)
    pm.fill(a)
    p = QPainter(pm)
    p.fillRect(0, 0, cell, cell, b)
    p.fillRect(cell, cell, cell, cell, b)
    p.end()
    return QBrush(pm)


def is_pixelated(image: QImage, pixel_art: bool = False) -> bool:
    return pixel_art or max(image.width(), image.height()) <= PIXELATED_SIDE


def fit_rect(size: QSize, area: QRectF, pixelated: bool) -> QRectF:
    """Where an image of ``size`` is drawn in ``area``: centred, aspect kept; whole-number
    zoom for pixelated images (so every source pixel is the same size on screen)."""
    w, h = max(1, size.width()), max(1, size.height())
    scale = min(area.width() / w, area.height() / h)
    if pixelated and scale >= 1:
        scale = math.floor(scale)
    tw, th = w * scale, h * scale
    return QRectF(
        round(area.center().x() - tw / 2), round(area.center().y() - th / 2), round(tw), round(th)
    )


def thumbnail(image: QImage, side: int, dark: bool, pixel_art: bool = False) -> QPixmap:
    """A square thumbnail of ``image`` on a checkerboard (nearest-neighbour when pixelated)."""
    pm = QPixmap(side, side)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    p.fillRect(0, 0, side, side, checker_brush(dark, 6))
    pix = is_pixelated(image, pixel_art)
    target = fit_rect(image.size(), QRectF(0, 0, side, side), pix)
    p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, not pix)
    p.drawImage(target, image)
    p.end()
    return pm


class ThumbDelegate(QStyledItemDelegate):
    """A results-strip tile: the thumbnail (DecorationRole pixmap) and a short label below."""

    def __init__(self, tile: QSize, parent=None) -> None:
        super().__init__(parent)
        self.tile = tile

    def sizeHint(self, option, index) -> QSize:  # noqa: N802 - Qt API
        return self.tile

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        pal = option.palette
        r, selected, hover = begin_tile(painter, option, 3, 6)
        icon = index.data(Qt.ItemDataRole.DecorationRole)
        pm = icon.pixmap(QSize(r.width() - 8, r.width() - 8)) if icon is not None else None
        if pm is not None and not pm.isNull():
            side = pm.width() / max(1.0, pm.devicePixelRatio())
            x = r.x() + (r.width() - side) / 2
            painter.drawPixmap(QRect(round(x), r.y() + 4, round(side), round(side)), pm)
        label = str(index.data(Qt.ItemDataRole.DisplayRole) or "")
        if label:
            f = painter.font()
            f.setPointSizeF(max(7.0, f.pointSizeF() - 1.5))
            painter.setFont(f)
            painter.setPen(pal.color(QPalette.ColorRole.PlaceholderText))
            text = QRect(r.x(), r.bottom() - 17, r.width(), 15)
            painter.drawText(text, Qt.AlignmentFlag.AlignCenter, label)
        end_tile(painter, pal, r, 6, selected, hover, half_pixel=True)


class ImageCanvas(QWidget):
    """Result / preview viewer and init-image mask painter (see the module docstring)."""

    #: an image file was dropped on the canvas (its path)
    image_dropped = Signal(str)
    #: the mask was painted, erased or cleared
    mask_changed = Signal()
    #: the view switched ("result" or "init")
    view_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.setMouseTracking(True)
        self.setMinimumSize(240, 200)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self._result: QImage | None = None
        self._result_pixel_art = False
        self._preview: QImage | None = None
        self._init: QImage | None = None
        self._mask: QImage | None = None  # ARGB32 premultiplied: red strokes, alpha = mask
        self._painted = False
        self._view = "result"
        self._brush = False
        self._eraser = False
        self._brush_size = 24  # screen pixels
        self._last: QPointF | None = None
        self._hover: QPointF | None = None
        self._placeholder = ""
        #: paint events so far (tests check that painting happened)
        self.paints = 0

    # ====================================================================== content

    def set_result(self, image: QImage | None, pixel_art: bool = False) -> None:
        self._result = image
        self._result_pixel_art = pixel_art
        self._preview = None
        self.update()

    def result(self) -> QImage | None:
        return self._result

    def set_preview(self, image: QImage | None) -> None:
        """The live denoising estimate during a generation (None: back to the result)."""
        self._preview = image
        if image is not None and self._view != "result":
            self.set_view("result")
        self.update()

    def preview(self) -> QImage | None:
        return self._preview

    def set_init(self, image: QImage | None, keep_mask: bool = False) -> None:
        """Show ``image`` as the init image; the mask is kept only when asked and when the
        aspect ratio is unchanged (a mask from another image would not line up)."""
        old = self._init
        self._init = image
        if image is None:
            self._mask = None
            self._painted = False
        else:
            size = self.mask_size_for(image.size())
            same = (
                keep_mask
                and old is not None
                and self._mask is not None
                and self._mask.size() == size
            )
            if not same:
                self._mask = QImage(size, QImage.Format.Format_ARGB32_Premultiplied)
                self._mask.fill(Qt.GlobalColor.transparent)
                self._painted = False
        self.mask_changed.emit()
        self.update()

    def init_image(self) -> QImage | None:
        return self._init

    def set_placeholder(self, text: str) -> None:
        self._placeholder = text
        self.update()

    def set_view(self, view: str) -> None:
        if view not in ("result", "init"):
            raise ValueError(view)
        if view != self._view:
            self._view = view
            self._last = None
            self.view_changed.emit(view)
            self.update()

    def view(self) -> str:
        return self._view

    def shown_image(self) -> QImage | None:
        if self._view == "init":
            return self._init
        return self._preview if self._preview is not None else self._result

    # ====================================================================== mask

    @staticmethod
    def mask_size_for(size: QSize) -> QSize:
        w, h = max(1, size.width()), max(1, size.height())
        long = max(w, h)
        scale = min(MASK_MAX_SIDE, max(MASK_MIN_SIDE, long)) / long
        # multiples of 8: rows without padding, so the bytes can be checked in one go
        return QSize(max(8, round(w * scale / 8) * 8), max(8, round(h * scale / 8) * 8))

    def set_brush(self, enabled: bool) -> None:
        self._brush = enabled
        if enabled and self._init is not None:
            self.set_view("init")
        self.setCursor(Qt.CursorShape.CrossCursor if enabled else Qt.CursorShape.ArrowCursor)
        self.update()

    def brush_enabled(self) -> bool:
        return self._brush

    def set_eraser(self, enabled: bool) -> None:
        self._eraser = enabled

    def eraser(self) -> bool:
        return self._eraser

    def set_brush_size(self, px: int) -> None:
        self._brush_size = max(1, int(px))
        self.update()

    def brush_size(self) -> int:
        return self._brush_size

    def clear_mask(self) -> None:
        if self._mask is not None:
            self._mask.fill(Qt.GlobalColor.transparent)
        self._painted = False
        self.mask_changed.emit()
        self.update()

    def has_mask(self) -> bool:
        """True when some of the mask is painted (something to repaint)."""
        if self._mask is None or not self._painted:
            return False
        a8 = self._mask.convertToFormat(QImage.Format.Format_Alpha8)
        data = bytes(a8.constBits())
        return data.count(0) != len(data)

    def mask_image(self) -> QImage | None:
        """The mask as 8-bit grey (white = repaint), or None without an init image."""
        if self._mask is None:
            return None
        a8 = self._mask.convertToFormat(QImage.Format.Format_Alpha8)
        a8.reinterpretAsFormat(QImage.Format.Format_Grayscale8)
        return a8

    def load_mask(self, gray: QImage) -> bool:
        """Use a grey mask image (white = repaint) as the painted mask; needs an init image."""
        if self._init is None or gray.isNull():
            return False
        size = self._mask.size() if self._mask is not None else self.mask_size_for(gray.size())
        a8 = gray.convertToFormat(QImage.Format.Format_Grayscale8)
        a8.reinterpretAsFormat(QImage.Format.Format_Alpha8)
        mask = QImage(size, QImage.Format.Format_ARGB32_Premultiplied)
        mask.fill(MASK_RGB)
        p = QPainter(mask)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        p.setCompositionMode(QPainter.CompositionMode.CompositionMode_DestinationIn)
        p.drawImage(QRectF(0, 0, size.width(), size.height()), a8)
        p.end()
        self._mask = mask
        self._painted = True
        self.mask_changed.emit()
        self.update()
        return True

    # ====================================================================== geometry

    def _dark(self) -> bool:
        return self.palette().color(QPalette.ColorRole.Window).lightness() < 128

    def _area(self) -> QRectF:
        return QRectF(self.rect()).adjusted(MARGIN, MARGIN, -MARGIN, -MARGIN)

    def _pixelated(self, img: QImage) -> bool:
        if self._view == "result" and img is not self._init:
            return is_pixelated(img, self._result_pixel_art)
        return is_pixelated(img)

    def image_rect(self) -> QRectF:
        """Where the shown image is drawn (widget coordinates); empty when nothing is shown."""
        img = self.shown_image()
        if img is None or img.isNull():
            return QRectF()
        return fit_rect(img.size(), self._area(), self._pixelated(img))

    def _to_mask(self, pos: QPointF) -> QPointF | None:
        r = self.image_rect()
        if self._mask is None or r.isEmpty():
            return None
        mw, mh = self._mask.width(), self._mask.height()
        return QPointF((pos.x() - r.x()) * mw / r.width(), (pos.y() - r.y()) * mh / r.height())

    def _can_paint(self) -> bool:
        return self._brush and self._view == "init" and self._mask is not None

    def _stroke(self, a: QPointF, b: QPointF) -> None:
        assert self._mask is not None
        r = self.image_rect()
        width = max(1.0, self._brush_size * self._mask.width() / max(1.0, r.width()))
        p = QPainter(self._mask)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        if self._eraser:
            p.setCompositionMode(QPainter.CompositionMode.CompositionMode_Clear)
        pen = QPen(MASK_RGB, width, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap)
        pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
        p.setPen(pen)
        if a == b:
            p.drawPoint(a)
        else:
            p.drawLine(a, b)
        p.end()
        if not self._eraser:
            self._painted = True

    # ====================================================================== Qt events

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt API
        if event.button() == Qt.MouseButton.LeftButton and self._can_paint():
            pt = self._to_mask(event.position())
            if pt is not None:
                self._last = pt
                self._stroke(pt, pt)
                self.update()
                event.accept()
                return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt API
        self._hover = event.position()
        if self._last is not None and event.buttons() & Qt.MouseButton.LeftButton:
            pt = self._to_mask(event.position())
            if pt is not None:
                self._stroke(self._last, pt)
                self._last = pt
        if self._brush:
            self.update()
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt API
        if self._last is not None and event.button() == Qt.MouseButton.LeftButton:
            self._last = None
            self.mask_changed.emit()
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def leaveEvent(self, event) -> None:  # noqa: N802 - Qt API
        self._hover = None
        self.update()
        super().leaveEvent(event)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt API
        if self._dropped_path(event) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:  # noqa: N802 - Qt API
        if self._dropped_path(event) is not None:
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt API
        path = self._dropped_path(event)
        if path is None:
            event.ignore()
            return
        event.acceptProposedAction()
        self.image_dropped.emit(path)

    @staticmethod
    def _dropped_path(event) -> str | None:
        md = event.mimeData()
        if md is None or not md.hasUrls():
            return None
        for u in md.urls():
            if u.isLocalFile() and state.is_image_path(u.toLocalFile()):
                return str(Path(u.toLocalFile()))
        return None

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt API
        self.paints += 1
        p = QPainter(self)
        pal = self.palette()
        p.fillRect(self.rect(), pal.color(QPalette.ColorRole.Base))
        img = self.shown_image()
        if img is None or img.isNull():
            p.setPen(pal.color(QPalette.ColorRole.PlaceholderText))
            p.drawText(
                self._area(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                self._placeholder,
            )  # fmt: skip
            p.end()
            return
        r = self.image_rect()
        p.fillRect(r, checker_brush(self._dark()))
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, not self._pixelated(img))
        p.drawImage(r, img)
        if self._view == "init" and self._mask is not None and self._painted:
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
            p.setOpacity(MASK_OPACITY)
            p.drawImage(r, self._mask)
            p.setOpacity(1.0)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        border = pal.color(QPalette.ColorRole.Mid)
        p.setPen(QPen(border, 1))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRect(r.adjusted(-0.5, -0.5, 0.5, 0.5))
        if self._can_paint() and self._hover is not None and r.contains(self._hover):
            p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            rad = self._brush_size / 2
            for color, w in ((QColor(0, 0, 0, 160), 3.0), (QColor(255, 255, 255, 230), 1.2)):
                p.setPen(QPen(color, w))
                p.drawEllipse(self._hover, rad, rad)
        p.end()

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(560, 480)
