"""A small live plot of a training run: the training loss per step as a line and the held-out
loss (NLL, nats per token) as points, with axes, ticks and a legend, painted with QPainter in
the application palette (no plotting library)."""

from __future__ import annotations

import bisect
import math

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPalette, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

EMPTY_TEXT = "The loss curve appears here once training starts."


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round tick values covering [lo, hi] (1, 2, 2.5 or 5 times a power of 10)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(1, n)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    out = []
    v = first
    while v <= hi + step * 1e-9 and len(out) < 50:
        out.append(round(v, 10))
        v += step
    return out


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 10_000:
        return f"{v / 1000:g}k"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 1:
        return f"{v:.2f}".rstrip("0").rstrip(".")
    return f"{v:.3f}".rstrip("0").rstrip(".")


class _Series:
    """Points kept sorted by step; a step seen again replaces its value (a resumed run logs
    again the steps after its last checkpoint)."""

    def __init__(self) -> None:
        self.steps: list[int] = []
        self.values: list[float] = []
        self._arrays: tuple[np.ndarray, np.ndarray] | None = None

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """The points as numpy arrays (made again only after the series changed)."""
        if self._arrays is None:
            self._arrays = (
                np.asarray(self.steps, dtype=np.float64),
                np.asarray(self.values, dtype=np.float64),
            )
        return self._arrays

    def put(self, step: int, value: float) -> None:
        i = bisect.bisect_left(self.steps, step)
        self._arrays = None
        if i < len(self.steps) and self.steps[i] == step:
            self.values[i] = value
        else:
            self.steps.insert(i, step)
            self.values.insert(i, value)

    def drop_after(self, step: int) -> None:
        i = bisect.bisect_right(self.steps, step)
        del self.steps[i:]
        del self.values[i:]
        self._arrays = None

    def clear(self) -> None:
        self.steps.clear()
        self.values.clear()
        self._arrays = None

    def set(self, points: list[tuple[int, float]]) -> None:
        """Replace every point (``points`` sorted by step, one per step)."""
        self.steps = [p[0] for p in points]
        self.values = [p[1] for p in points]
        self._arrays = None

    def points(self) -> list[tuple[int, float]]:
        return list(zip(self.steps, self.values, strict=True))


class LossPlot(QWidget):
    """Training loss (line) and held-out NLL (points) over steps."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._loss = _Series()
        self._eval = _Series()
        self._max_steps = 0
        self.empty_text = EMPTY_TEXT
        self.setMinimumSize(260, 160)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setToolTip(
            "Training loss (line) and held-out loss (points): lower is better. The held-out "
            "pieces are never trained on, so their loss shows how well the style generalises."
        )

    # --- data ---------------------------------------------------------------------------------

    def add_loss(self, step: int, loss: float) -> None:
        if math.isfinite(loss):
            self._loss.put(int(step), float(loss))
            self.update()

    def add_eval(self, step: int, nll: float) -> None:
        if math.isfinite(nll):
            self._eval.put(int(step), float(nll))
            self.update()

    def set_points(
        self, loss: list[tuple[int, float]], evals: list[tuple[int, float]] | None = None
    ) -> None:
        """Replace the curve (and the held-out points) at once: a whole log read back (sorted
        by step, finite values, as :func:`genstudio.ui.modes.train.state.fold_log` gives)."""
        self._loss.set(loss)
        self._eval.set(list(evals or ()))
        self.update()

    def merge_points(
        self, loss: list[tuple[int, float]], evals: list[tuple[int, float]] | None = None
    ) -> None:
        """Like :meth:`set_points`, keeping the points already there (events that arrived
        while the log was being read back) where both have a step."""
        for series, pts in ((self._loss, loss), (self._eval, list(evals or ()))):
            if series.steps:
                merged = dict(pts)
                merged.update(series.points())
                pts = sorted(merged.items())
            series.set(pts)
        self.update()

    def drop_after(self, step: int) -> None:
        """Forget points after ``step`` (a run resumed from the checkpoint at ``step``)."""
        self._loss.drop_after(step)
        self._eval.drop_after(step)
        self.update()

    def set_max_steps(self, n: int) -> None:
        self._max_steps = max(0, int(n))
        self.update()

    def max_steps(self) -> int:
        return self._max_steps

    def clear(self) -> None:
        self._loss.clear()
        self._eval.clear()
        self._max_steps = 0
        self.update()

    def loss_points(self) -> list[tuple[int, float]]:
        return self._loss.points()

    def eval_points(self) -> list[tuple[int, float]]:
        return self._eval.points()

    def is_empty(self) -> bool:
        return not self._loss.steps and not self._eval.steps

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(480, 240)

    # --- painting -----------------------------------------------------------------------------

    def _ranges(self) -> tuple[float, float, float, float]:
        last = [s.steps[-1] for s in (self._loss, self._eval) if s.steps]
        x1 = max(max(last, default=0), self._max_steps, 1)
        _st, lv = self._loss.arrays()
        ev = self._eval.values
        lo = min(float(lv.min()) if len(lv) else math.inf, min(ev, default=math.inf))
        hi = max(float(lv.max()) if len(lv) else -math.inf, max(ev, default=-math.inf))
        if len(lv) > 50:  # the very first steps are far above the rest: don't let them squash it
            hi = max(float(lv[len(lv) // 50 :].max()), max(ev, default=lo), lo)
        pad = (hi - lo) * 0.08 or 0.1
        return 0.0, float(x1), max(0.0, lo - pad), hi + pad

    def paintEvent(self, _event) -> None:  # noqa: N802 - Qt API
        from genstudio.ui import theme

        pal = self.palette()
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), pal.color(QPalette.ColorRole.Base))
        text = pal.color(QPalette.ColorRole.Text)
        muted = QColor(theme.current().muted)
        grid = pal.color(QPalette.ColorRole.Mid)
        fm = self.fontMetrics()
        if self.is_empty():
            p.setPen(muted)
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.empty_text)
            p.end()
            return

        x0, x1, y0, y1 = self._ranges()
        yticks = nice_ticks(y0, y1, 4)
        xticks = nice_ticks(x0, x1, 6)
        left = 10 + max(fm.horizontalAdvance(_fmt(t)) for t in yticks) + 6 if yticks else 40
        left += fm.height()  # the rotated axis title
        legend_h = fm.height() + 6
        area = QRectF(left, 8 + legend_h, self.width() - left - 14, 0)
        area.setBottom(self.height() - 2 * fm.height() - 10)
        if area.width() < 20 or area.height() < 20:
            p.end()
            return

        def sx(step: float) -> float:
            return area.left() + (step - x0) / (x1 - x0) * area.width()

        def sy(v: float) -> float:
            v = min(max(v, y0), y1)
            return area.bottom() - (v - y0) / (y1 - y0) * area.height()

        # grid, ticks, labels
        p.setPen(QPen(grid, 1))
        for t in yticks:
            y = round(sy(t)) + 0.5
            p.drawLine(QPointF(area.left(), y), QPointF(area.right(), y))
        p.setPen(muted)
        for t in yticks:
            label = _fmt(t)
            w = fm.horizontalAdvance(label)
            p.drawText(QPointF(area.left() - 6 - w, sy(t) + fm.ascent() / 2 - 1), label)
        for t in xticks:
            x = sx(t)
            label = _fmt(t)
            w = fm.horizontalAdvance(label)
            p.drawText(
                QPointF(min(x - w / 2, self.width() - w - 2), area.bottom() + fm.ascent() + 4),
                label,
            )
        p.setPen(QPen(text, 1))
        p.drawLine(QPointF(area.left(), area.bottom()), QPointF(area.right(), area.bottom()))
        p.drawLine(QPointF(area.left(), area.top()), QPointF(area.left(), area.bottom()))
        # axis titles
        p.setPen(muted)
        title = "step"
        p.drawText(
            QPointF(area.center().x() - fm.horizontalAdvance(title) / 2, self.height() - 4), title
        )
        p.save()
        p.translate(fm.ascent() + 2, area.center().y())
        p.rotate(-90)
        ytitle = "loss (nats/token)"
        p.drawText(QPointF(-fm.horizontalAdvance(ytitle) / 2, 0), ytitle)
        p.restore()

        # the training loss: at most ~2 points per pixel column (min/max kept)
        accent = pal.color(QPalette.ColorRole.Highlight)
        pts = self._decimated(sx, sy, x0, x1, int(area.width()))
        if pts:
            path = QPainterPath(pts[0])
            for q in pts[1:]:
                path.lineTo(q)
            p.setPen(QPen(accent, 1.6))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawPath(path)
        # the held-out loss
        ev_color = QColor(theme.current().warning)
        p.setPen(QPen(pal.color(QPalette.ColorRole.Base), 1.5))
        p.setBrush(ev_color)
        for s, v in self._eval.points():
            p.drawEllipse(QPointF(sx(s), sy(v)), 4.0, 4.0)

        # legend
        lx = area.left() + 4
        ly = 4 + fm.ascent()
        mid = 4 + fm.height() / 2
        p.setPen(QPen(accent, 2))
        p.drawLine(QPointF(lx, mid), QPointF(lx + 18, mid))
        p.setPen(text)
        label = "training loss"
        if self._loss.values:
            label += f"  {self._loss.values[-1]:.3f}"
        p.drawText(QPointF(lx + 24, ly), label)
        lx += 24 + fm.horizontalAdvance(label) + 18
        p.setPen(QPen(pal.color(QPalette.ColorRole.Base), 1.5))
        p.setBrush(ev_color)
        p.drawEllipse(QPointF(lx + 5, mid), 4.0, 4.0)
        p.setPen(text)
        label = "held-out loss"
        if self._eval.values:
            first, last = self._eval.values[0], self._eval.values[-1]
            label += (
                f"  {first:.3f} \u2192 {last:.3f}"
                if len(self._eval.values) > 1
                else f"  {last:.3f}"
            )
        p.drawText(QPointF(lx + 14, ly), label)
        p.end()

    def _decimated(self, sx, sy, x0: float, x1: float, columns: int) -> list[QPointF]:
        """The loss line's points: all of them when few, else the lowest and the highest of
        each pixel column (bisect + C-level min/max, so a run of 10^6 steps paints fast)."""
        steps, values = self._loss.steps, self._loss.values
        n = len(steps)
        columns = max(2, columns)
        if n <= columns * 2:
            return [QPointF(sx(s), sy(v)) for s, v in zip(steps, values, strict=True)]
        st, va = self._loss.arrays()
        edges = np.searchsorted(st, x0 + (x1 - x0) / columns * np.arange(1, columns + 1), "right")
        starts = np.unique(np.concatenate(([0], edges[edges < n])))
        ends = np.append(starts[1:], n)
        mins = np.minimum.reduceat(va, starts)
        maxs = np.maximum.reduceat(va, starts)
        out: list[QPointF] = []
        for a, b, lo, hi in zip(starts, ends, mins, maxs, strict=True):
            x = sx(0.5 * (st[a] + st[b - 1]))
            rising = va[b - 1] >= va[a]  # draw the column's extremes in the order they came
            for v in (lo, hi) if rising else (hi, lo):
                out.append(QPointF(x, sy(float(v))))
        return out
