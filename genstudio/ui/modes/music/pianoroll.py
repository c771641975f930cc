"""A piano roll that paints a :class:`~genstudio.generators.music.score.Score`.

Pitch runs up the y axis with a keyboard strip on the left, time runs along x with a ruler of
bar numbers, bar lines and beat lines. Notes are rounded rectangles coloured per track, their
velocity as opacity; a legend names the tracks. Zoom with Ctrl+wheel (or :meth:`zoom_in` /
:meth:`zoom_out` / :meth:`zoom_fit`), scroll with the wheel or the scroll bar. A playhead line
follows :meth:`set_playhead`; clicking the ruler asks to seek there.

Files: a ``.mid`` dropped on the roll is announced by :attr:`PianoRoll.midi_dropped` (one
emission per file); dragging the roll (or calling :meth:`start_drag`) hands the shown result's
``.mid`` to other applications as a file URL.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QMimeData, QPoint, QPointF, QRectF, Qt, QUrl, Signal
from PySide6.QtGui import (
    QColor,
    QDrag,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QFontMetrics,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPalette,
    QPen,
    QPixmap,
    QPolygonF,
    QWheelEvent,
)
from PySide6.QtWidgets import QApplication, QScrollBar, QSizePolicy, QWidget

from genstudio.ui import theme

if TYPE_CHECKING:
    from genstudio.generators.music.score import Score

KEY_W = 46  # keyboard strip
RULER_H = 22
MIN_PITCH_SPAN = 25  # at least two octaves are shown
ZOOM_RANGE = (1.0, 32.0)  # 1 = the whole piece fits the width
ZOOM_STEP = 1.5
BLACK_KEYS = frozenset((1, 3, 6, 8, 10))
NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
#: track colours, readable on the light and the dark theme
TRACK_COLORS = (
    "#4a6cf7",
    "#e0625a",
    "#2f9e5b",
    "#d69a2d",
    "#9b59d0",
    "#1fa3a3",
    "#d0569b",
    "#7a8799",
)
MIDI_SUFFIXES = (".mid", ".midi")


def pitch_name(pitch: int) -> str:
    """60 -> 'C4' (scientific pitch notation, middle C = C4)."""
    return f"{NOTE_NAMES[pitch % 12]}{pitch // 12 - 1}"


def track_color(index: int, dark: bool = False) -> QColor:
    c = QColor(TRACK_COLORS[index % len(TRACK_COLORS)])
    return c.lighter(125) if dark else c


def midi_paths(mime: QMimeData) -> list[Path]:
    """The local .mid/.midi files in a drag's mime data."""
    if not mime.hasUrls():
        return []
    out = []
    for u in mime.urls():
        if u.isLocalFile():
            p = Path(u.toLocalFile())
            if p.suffix.lower() in MIDI_SUFFIXES:
                out.append(p)
    return out


class PianoRoll(QWidget):
    """Paints a score; drops .mid files in, drags the shown .mid out."""

    #: a .mid/.midi file was dropped on the roll (its path)
    midi_dropped = Signal(str)
    #: the ruler was clicked: play from here (seconds)
    seek_requested = Signal(float)
    #: the zoom factor changed (1 = fit)
    zoom_changed = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._score: Score | None = None
        self._file: Path | None = None
        self._clip_bars = 0
        self._playhead: float | None = None  # ticks
        self._zoom = 1.0
        self._offset = 0.0  # px scrolled to the right
        self._drag_hover = False
        self._press: QPoint | None = None
        self._lo, self._hi = 48, 84
        self.empty_text = "Press Generate, or drop a .mid file here to continue it."
        #: notes drawn by the last paint (for tests and the accessibility summary)
        self.painted_notes = 0
        self.setAcceptDrops(True)
        self.setMouseTracking(True)
        self.setMinimumSize(320, 180)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.scrollbar = QScrollBar(Qt.Orientation.Horizontal, self)
        self.scrollbar.valueChanged.connect(self._scrolled)
        self.scrollbar.hide()

    # ------------------------------------------------------------------ content

    def set_score(self, score: Score | None, file: Path | str | None = None, clip_bars: int = 0):
        """Show ``score`` (None: the empty state); ``file`` is what a drag-out hands over;
        the first ``clip_bars`` bars are marked as the user's clip."""
        self._score = score
        self._file = Path(file) if file else None
        self._clip_bars = max(0, int(clip_bars))
        self._playhead = None
        self._offset = 0.0
        self._fit_pitches()
        self._update_scrollbar()
        self.setCursor(
            Qt.CursorShape.OpenHandCursor if self._file is not None else Qt.CursorShape.ArrowCursor
        )
        self.setToolTip(
            "Drag out to copy the .mid file; Ctrl+wheel zooms; click the ruler to play from there"
            if self._file is not None
            else "Drop a .mid file here to continue it"
        )
        self.update()

    def score(self) -> Score | None:
        return self._score

    def file(self) -> Path | None:
        return self._file

    def pitch_range(self) -> tuple[int, int]:
        return self._lo, self._hi

    def _fit_pitches(self) -> None:
        s = self._score
        if s is None or not s.notes:
            self._lo, self._hi = 48, 84
            return
        lo = min(n.pitch for n in s.notes) - 2
        hi = max(n.pitch for n in s.notes) + 2
        if hi - lo + 1 < MIN_PITCH_SPAN:
            grow = MIN_PITCH_SPAN - (hi - lo + 1)
            lo -= grow // 2
            hi += grow - grow // 2
        lo, hi = max(0, lo), min(127, hi)
        self._lo, self._hi = lo, hi

    # ------------------------------------------------------------------ playhead

    def set_playhead(self, ticks: float | None, *, follow: bool = True) -> None:
        """Put the playhead at ``ticks`` (None hides it); ``follow`` scrolls it into view."""
        self._playhead = None if ticks is None else max(0.0, float(ticks))
        if follow and ticks is not None and self._zoom > 1.0:
            area = self._area()
            x = self._x(float(ticks))
            if x < area.left() or x > area.right() - 24:
                self._set_offset(self._offset + x - area.left() - area.width() * 0.15)
        self.update()

    def playhead(self) -> float | None:
        return self._playhead

    def set_playhead_seconds(self, seconds: float | None, *, follow: bool = True) -> None:
        s = self._score
        if s is None or seconds is None:
            self.set_playhead(None)
            return
        self.set_playhead(seconds * s.tempo / 60.0 * s.tpq, follow=follow)

    # ------------------------------------------------------------------ zoom and scroll

    def zoom(self) -> float:
        return self._zoom

    def set_zoom(self, zoom: float, anchor_x: float | None = None) -> None:
        """Zoom to ``zoom`` x the fitted width, keeping the time under ``anchor_x`` in place."""
        z = min(ZOOM_RANGE[1], max(ZOOM_RANGE[0], float(zoom)))
        if abs(z - self._zoom) < 1e-9:
            return
        area = self._area()
        ax = area.center().x() if anchor_x is None else anchor_x
        t = self._tick_at(ax)
        self._zoom = z
        self._update_scrollbar()
        self._set_offset(self._offset + self._x(t) - ax)
        self.zoom_changed.emit(z)
        self.update()

    def zoom_in(self) -> None:
        self.set_zoom(self._zoom * ZOOM_STEP)

    def zoom_out(self) -> None:
        self.set_zoom(self._zoom / ZOOM_STEP)

    def zoom_fit(self) -> None:
        self.set_zoom(1.0)

    def _set_offset(self, px: float) -> None:
        self._offset = min(max(0.0, px), self._max_offset())
        self.scrollbar.blockSignals(True)
        self.scrollbar.setValue(round(self._offset))
        self.scrollbar.blockSignals(False)
        self.update()

    def _scrolled(self, value: int) -> None:
        self._offset = float(value)
        self.update()

    def _max_offset(self) -> float:
        area = self._area()
        return max(0.0, area.width() * self._zoom - area.width())

    def _update_scrollbar(self) -> None:
        sb_h = self.scrollbar.sizeHint().height()
        self.scrollbar.setGeometry(KEY_W, self.height() - sb_h, self.width() - KEY_W, sb_h)
        need = self._score is not None and self._zoom > 1.0 + 1e-9
        self.scrollbar.setVisible(need)
        area = self._area()
        self.scrollbar.setRange(0, round(self._max_offset()))
        self.scrollbar.setPageStep(max(1, round(area.width())))
        self.scrollbar.setSingleStep(max(1, round(area.width() / 20)))
        self._offset = min(self._offset, self._max_offset())
        self.scrollbar.blockSignals(True)
        self.scrollbar.setValue(round(self._offset))
        self.scrollbar.blockSignals(False)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        self._update_scrollbar()

    # ------------------------------------------------------------------ geometry

    def _area(self) -> QRectF:
        """The notes' rectangle (right of the keyboard, below the ruler, above the scroll bar)."""
        bottom = self.height()
        if self.scrollbar.isVisible():
            bottom -= self.scrollbar.height()
        return QRectF(KEY_W, RULER_H, max(1, self.width() - KEY_W), max(1, bottom - RULER_H))

    def _total_ticks(self) -> int:
        s = self._score
        return max(1, s.length_ticks) if s is not None else 1

    def _ppt(self) -> float:
        """Pixels per tick."""
        return self._area().width() * self._zoom / self._total_ticks()

    def _x(self, ticks: float) -> float:
        return self._area().left() + ticks * self._ppt() - self._offset

    def _tick_at(self, x: float) -> float:
        return (x - self._area().left() + self._offset) / self._ppt()

    def _row_h(self) -> float:
        return self._area().height() / (self._hi - self._lo + 1)

    def _y(self, pitch: int) -> float:
        """Top of ``pitch``'s row."""
        return self._area().top() + (self._hi - pitch) * self._row_h()

    def note_rect(self, index: int) -> QRectF:
        """Where note ``index`` of the score is drawn (for tests)."""
        assert self._score is not None
        n = self._score.notes[index]
        return self._note_rect(n.start, n.duration, n.pitch)

    def _note_rect(self, start: int, duration: int, pitch: int) -> QRectF:
        ppt = self._ppt()
        rh = self._row_h()
        w = max(2.0, duration * ppt - 1.0)
        return QRectF(self._x(start), self._y(pitch) + 0.5, w, max(2.0, rh - 1.0))

    def seconds_at(self, x: float) -> float:
        s = self._score
        if s is None:
            return 0.0
        t = min(max(0.0, self._tick_at(x)), float(s.length_ticks))
        return s.seconds(round(t))

    # ------------------------------------------------------------------ painting

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt API
        p = QPainter(self)
        pal = self.palette()
        dark = pal.color(QPalette.ColorRole.Base).lightnessF() < 0.5
        c = theme.current()
        base = pal.color(QPalette.ColorRole.Base)
        text = pal.color(QPalette.ColorRole.Text)
        muted = pal.color(QPalette.ColorRole.PlaceholderText)
        mid = pal.color(QPalette.ColorRole.Mid)
        accent = QColor(c.accent)
        area = self._area()
        p.fillRect(self.rect(), base)

        # --- rows (black keys shaded, octave lines)
        rh = self._row_h()
        shade = QColor(text)
        shade.setAlphaF(0.045 if not dark else 0.06)
        octave = QColor(mid)
        for pitch in range(self._lo, self._hi + 1):
            y = self._y(pitch)
            if pitch % 12 in BLACK_KEYS:
                p.fillRect(QRectF(area.left(), y, area.width(), rh), shade)
            if pitch % 12 == 0:
                p.setPen(QPen(octave, 1))
                p.drawLine(QPointF(area.left(), y + rh), QPointF(area.right(), y + rh))

        s = self._score
        self.painted_notes = 0
        if s is not None:
            p.save()
            p.setClipRect(area)
            self._paint_grid(p, s, area, text, mid, accent)
            self._paint_notes(p, s, area, dark)
            p.restore()
        self._paint_keyboard(p, area, dark, text, muted, mid)
        self._paint_ruler(p, s, area, text, muted, mid, accent)
        if s is not None:
            self._paint_legend(p, s, area, dark, pal)
            self._paint_playhead(p, area, accent)
        else:
            p.setPen(muted)
            p.drawText(
                area, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.empty_text
            )
        if self._drag_hover:
            pen = QPen(accent, 2, Qt.PenStyle.DashLine)
            p.setPen(pen)
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.setRenderHint(QPainter.RenderHint.Antialiasing)
            p.drawRoundedRect(QRectF(self.rect()).adjusted(2, 2, -2, -2), 6, 6)
            band = QColor(accent)
            band.setAlphaF(0.12)
            p.fillRect(area, band)
            p.setPen(accent)
            p.drawText(
                area, Qt.AlignmentFlag.AlignCenter, "Drop the MIDI file to use it as the clip"
            )
        p.setPen(QPen(mid, 1))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        p.drawRect(self.rect().adjusted(0, 0, -1, -1))
        p.end()

    def _paint_grid(self, p: QPainter, s: Score, area: QRectF, text, mid, accent) -> None:
        ppt = self._ppt()
        bar_t, beat_t = s.bar_ticks, s.beat_ticks
        # the user's clip (continue): a faint band
        if self._clip_bars:
            band = QColor(accent)
            band.setAlphaF(0.07)
            x1 = self._x(min(self._clip_bars, s.n_bars) * bar_t)
            p.fillRect(QRectF(area.left(), area.top(), x1 - area.left(), area.height()), band)
        t0 = max(0.0, self._tick_at(area.left()))
        t1 = self._tick_at(area.right())
        beat_col = QColor(mid)
        beat_col.setAlphaF(0.55)
        sixteenth = QColor(mid)
        sixteenth.setAlphaF(0.22)
        bar_col = QColor(text)
        bar_col.setAlphaF(0.28)
        step = s.tpq // 4
        if step * ppt >= 9:  # 16th lines when there is room
            p.setPen(QPen(sixteenth, 1))
            t = int(t0 // step) * step
            while t <= t1:
                if t % beat_t:
                    x = round(self._x(t)) + 0.5
                    p.drawLine(QPointF(x, area.top()), QPointF(x, area.bottom()))
                t += step
        if beat_t * ppt >= 5:
            p.setPen(QPen(beat_col, 1))
            t = int(t0 // beat_t) * beat_t
            while t <= t1:
                if t % bar_t:
                    x = round(self._x(t)) + 0.5
                    p.drawLine(QPointF(x, area.top()), QPointF(x, area.bottom()))
                t += beat_t
        p.setPen(QPen(bar_col, 1))
        for bar in range(int(t0 // bar_t), int(t1 // bar_t) + 2):
            x = round(self._x(bar * bar_t)) + 0.5
            if area.left() <= x <= area.right() + 1:
                p.drawLine(QPointF(x, area.top()), QPointF(x, area.bottom()))

    def _paint_notes(self, p: QPainter, s: Score, area: QRectF, dark: bool) -> None:
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        colors = [track_color(i, dark) for i in range(max(1, len(s.tracks)))]
        t0 = self._tick_at(area.left())
        t1 = self._tick_at(area.right())
        rh = self._row_h()
        radius = min(3.0, rh / 2.5)
        outline = QColor(0, 0, 0, 70) if not dark else QColor(255, 255, 255, 60)
        count = 0
        for n in s.notes:
            if n.start > t1 or n.start + n.duration < t0 or not self._lo <= n.pitch <= self._hi:
                continue
            col = QColor(colors[n.track % len(colors)])
            col.setAlphaF(0.35 + 0.65 * max(1, min(127, n.velocity)) / 127.0)
            p.setBrush(col)
            p.setPen(QPen(outline, 1) if rh >= 5 else Qt.PenStyle.NoPen)
            p.drawRoundedRect(self._note_rect(n.start, n.duration, n.pitch), radius, radius)
            count += 1
        self.painted_notes = count
        p.setRenderHint(QPainter.RenderHint.Antialiasing, False)

    def _sounding(self) -> dict[int, int]:
        """pitch -> track of the notes under the playhead."""
        s, ph = self._score, self._playhead
        if s is None or ph is None:
            return {}
        return {n.pitch: n.track for n in s.notes if n.start <= ph < n.start + n.duration}

    def _paint_keyboard(self, p: QPainter, area: QRectF, dark: bool, text, muted, mid) -> None:
        rh = self._row_h()
        white = QColor("#fbfbfc") if not dark else QColor("#d9dbe0")
        black = QColor("#2a2d34") if not dark else QColor("#101114")
        kb = QRectF(0, area.top(), KEY_W, area.height())
        p.fillRect(
            QRectF(0, 0, KEY_W, self.height()), self.palette().color(QPalette.ColorRole.Window)
        )
        p.fillRect(kb, white)
        sounding = self._sounding()
        f = p.font()
        f.setPointSizeF(max(6.5, min(8.0, rh * 0.9)))
        p.setFont(f)
        fm = QFontMetrics(f)
        label_every = 1 if rh >= fm.height() * 0.9 else 0
        for pitch in range(self._lo, self._hi + 1):
            y = self._y(pitch)
            is_black = pitch % 12 in BLACK_KEYS
            key = QRectF(0, y, KEY_W * (0.62 if is_black else 1.0), rh)
            if pitch in sounding:
                p.fillRect(key, track_color(sounding[pitch], dark))
            elif is_black:
                p.fillRect(key, black)
            if pitch % 12 in (0, 5):  # the gaps between B-C and E-F
                p.setPen(QPen(QColor(0, 0, 0, 45), 1))
                p.drawLine(QPointF(0, y + rh), QPointF(KEY_W, y + rh))
            if pitch % 12 == 0 and (label_every or rh * 12 >= fm.height()):
                p.setPen(QColor("#555a66"))
                p.drawText(
                    QRectF(0, y + rh - fm.height() - 1, KEY_W - 3, fm.height() + 2)
                    if rh < fm.height()
                    else QRectF(0, y, KEY_W - 3, rh),
                    Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                    pitch_name(pitch),
                )
        p.setPen(QPen(mid, 1))
        p.drawLine(QPointF(KEY_W - 0.5, 0), QPointF(KEY_W - 0.5, self.height()))

    def _paint_ruler(self, p: QPainter, s: Score | None, area: QRectF, text, muted, mid, accent):
        ruler = QRectF(KEY_W, 0, self.width() - KEY_W, RULER_H)
        p.fillRect(ruler, self.palette().color(QPalette.ColorRole.AlternateBase))
        p.setPen(QPen(mid, 1))
        p.drawLine(QPointF(0, RULER_H - 0.5), QPointF(self.width(), RULER_H - 0.5))
        if s is None:
            return
        f = p.font()
        f.setPointSizeF(max(7.0, f.pointSizeF() - 1))
        p.setFont(f)
        fm = QFontMetrics(f)
        bar_px = s.bar_ticks * self._ppt()
        every = 1
        while bar_px * every < fm.horizontalAdvance("888") + 8:
            every *= 2
        p.save()
        p.setClipRect(ruler)
        if self._clip_bars:
            x1 = self._x(min(self._clip_bars, s.n_bars) * s.bar_ticks)
            band = QColor(accent)
            band.setAlphaF(0.16)
            p.fillRect(QRectF(ruler.left(), 0, x1 - ruler.left(), RULER_H - 1), band)
        t0 = max(0.0, self._tick_at(ruler.left()))
        t1 = self._tick_at(ruler.right())
        for bar in range(int(t0 // s.bar_ticks), int(t1 // s.bar_ticks) + 1):
            if bar >= s.n_bars:
                break
            x = self._x(bar * s.bar_ticks)
            p.setPen(QPen(mid, 1))
            p.drawLine(QPointF(round(x) + 0.5, RULER_H * 0.45), QPointF(round(x) + 0.5, RULER_H))
            if bar % every == 0:
                p.setPen(text if bar < self._clip_bars or not self._clip_bars else muted)
                p.drawText(
                    QRectF(x + 4, 0, 60, RULER_H - 2),
                    Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                    str(bar + 1),
                )
        p.restore()

    def _paint_legend(self, p: QPainter, s: Score, area: QRectF, dark: bool, pal: QPalette):
        used = sorted({n.track for n in s.notes})
        if not used:
            return
        f = p.font()
        f.setPointSizeF(max(7.0, f.pointSizeF()))
        p.setFont(f)
        fm = QFontMetrics(f)
        names = [s.tracks[i].name if i < len(s.tracks) else f"Track {i + 1}" for i in used]
        items = [(i, name or f"Track {i + 1}") for i, name in zip(used, names, strict=True)]
        widths = [14 + fm.horizontalAdvance(name) for _, name in items]
        w = sum(widths) + 10 * (len(items) - 1) + 16
        h = fm.height() + 8
        box = QRectF(area.right() - w - 8, area.top() + 8, w, h)
        bg = QColor(pal.color(QPalette.ColorRole.Base))
        bg.setAlphaF(0.86)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(QPen(pal.color(QPalette.ColorRole.Mid), 1))
        p.setBrush(bg)
        p.drawRoundedRect(box, 5, 5)
        x = box.left() + 8
        for (i, name), wd in zip(items, widths, strict=True):
            chip = QRectF(x, box.center().y() - 4.5, 9, 9)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(track_color(i, dark))
            p.drawRoundedRect(chip, 2, 2)
            p.setPen(pal.color(QPalette.ColorRole.Text))
            p.drawText(
                QRectF(x + 14, box.top(), wd - 14, h),
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                name,
            )
            x += wd + 10
        p.setRenderHint(QPainter.RenderHint.Antialiasing, False)

    def _paint_playhead(self, p: QPainter, area: QRectF, accent: QColor) -> None:
        if self._playhead is None:
            return
        x = self._x(self._playhead)
        if not area.left() - 1 <= x <= area.right() + 1:
            return
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(QPen(accent, 2))
        p.drawLine(QPointF(x, 4), QPointF(x, area.bottom()))
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(accent)
        p.drawPolygon(QPolygonF([QPointF(x - 6, 2), QPointF(x + 6, 2), QPointF(x, 10)]))
        p.setRenderHint(QPainter.RenderHint.Antialiasing, False)

    # ------------------------------------------------------------------ mouse

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 - Qt API
        d = event.angleDelta()
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            if d.y():
                factor = ZOOM_STEP ** (d.y() / 120.0)
                self.set_zoom(self._zoom * factor, event.position().x())
            event.accept()
            return
        delta = d.x() or d.y()
        if delta and self._zoom > 1.0:
            self._set_offset(self._offset - delta / 120.0 * self._area().width() / 8)
            event.accept()
            return
        event.ignore()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt API
        pos = event.position()
        if event.button() == Qt.MouseButton.LeftButton:
            if self._score is not None and pos.y() < RULER_H and pos.x() >= KEY_W:
                self.seek_requested.emit(self.seconds_at(pos.x()))
                event.accept()
                return
            self._press = pos.toPoint()
            if self._file is not None:
                self.setCursor(Qt.CursorShape.ClosedHandCursor)
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt API
        if (
            self._press is not None
            and event.buttons() & Qt.MouseButton.LeftButton
            and self._file is not None
            and (event.position().toPoint() - self._press).manhattanLength()
            >= QApplication.startDragDistance()
        ):
            self._press = None
            self.start_drag()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt API
        self._press = None
        if self._file is not None:
            self.setCursor(Qt.CursorShape.OpenHandCursor)
        super().mouseReleaseEvent(event)

    # ------------------------------------------------------------------ drag out

    def mime_data(self) -> QMimeData | None:
        """What a drag-out carries: the shown result's .mid as a file URL (None: nothing)."""
        if self._file is None:
            return None
        md = QMimeData()
        md.setUrls([QUrl.fromLocalFile(str(self._file))])
        return md

    def start_drag(self) -> Qt.DropAction:
        md = self.mime_data()
        if md is None:
            return Qt.DropAction.IgnoreAction
        drag = QDrag(self)
        drag.setMimeData(md)
        drag.setPixmap(self._drag_pixmap())
        drag.setHotSpot(QPoint(12, 12))
        result = drag.exec(Qt.DropAction.CopyAction, Qt.DropAction.CopyAction)
        if self._file is not None:
            self.setCursor(Qt.CursorShape.OpenHandCursor)
        return result

    def _drag_pixmap(self) -> QPixmap:
        from genstudio.ui import icons

        name = self._file.name if self._file is not None else ""
        fm = QFontMetrics(self.font())
        w = fm.horizontalAdvance(name) + 40
        pm = QPixmap(w, 28)
        pm.fill(Qt.GlobalColor.transparent)
        p = QPainter(pm)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(QPen(QColor(theme.current().accent), 1))
        p.setBrush(self.palette().color(QPalette.ColorRole.Base))
        p.drawRoundedRect(QRectF(0.5, 0.5, w - 1, 27), 6, 6)
        p.drawPixmap(6, 5, icons.pixmap("music", 18))
        p.setPen(self.palette().color(QPalette.ColorRole.Text))
        p.drawText(QRectF(30, 0, w - 34, 28), Qt.AlignmentFlag.AlignVCenter, name)
        p.end()
        return pm

    # ------------------------------------------------------------------ drops in

    def _accepts(self, event: QDragEnterEvent | QDragMoveEvent | QDropEvent) -> bool:
        if event.source() is self:  # our own drag-out passing over the roll
            return False
        return bool(midi_paths(event.mimeData()))

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt API
        if self._accepts(event):
            event.acceptProposedAction()
            self._drag_hover = True
            self.update()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:  # noqa: N802 - Qt API
        if self._accepts(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragLeaveEvent(self, event) -> None:  # noqa: N802 - Qt API
        self._drag_hover = False
        self.update()
        super().dragLeaveEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt API
        self._drag_hover = False
        self.update()
        if not self._accepts(event):
            event.ignore()
            return
        event.acceptProposedAction()
        for path in midi_paths(event.mimeData()):
            self.midi_dropped.emit(str(path))
