"""The queue dock: one row per job with progress, message, state, cancel and retry."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from genstudio.core.jobs import EventType
from genstudio.ui import icons

if TYPE_CHECKING:
    from genstudio.core.jobs import Job, JobEvent
    from genstudio.ui.jobs_bridge import JobsBridge

PROGRESS_SCALE = 1000
MAX_FINISHED_ROWS = 100
ACTIVE = ("queued", "running")
RETRYABLE = ("failed", "cancelled", "set_aside")
STATE_TEXT = {
    "queued": "Queued",
    "running": "Running",
    "done": "Done",
    "failed": "Failed",
    "cancelled": "Cancelled",
    "set_aside": "Set aside",
}


def _state(job: Job) -> str:
    return getattr(job.state, "value", str(job.state))


class JobRow(QFrame):
    """One job. Reads its Job snapshot; the only writes are cancel/retry via the bridge."""

    def __init__(self, job: Job, bridge: JobsBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("JobRow")
        self.job_id = job.id
        self.bridge = bridge
        grid = QGridLayout(self)
        grid.setContentsMargins(8, 6, 6, 6)
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(3)
        self.preview = QLabel()
        self.preview.setFixedSize(40, 40)
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview.setPixmap(icons.pixmap("queue", 22, icons_muted()))
        self.title = QLabel()
        self.title.setObjectName("JobTitle")
        self.title.setTextFormat(Qt.TextFormat.PlainText)
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.title.setMinimumWidth(40)
        self.chip = QLabel()
        self.chip.setObjectName("StateChip")
        self.chip.setProperty("state", "")  # never read an unset property (see theme.py)
        self.progress = QProgressBar()
        self.progress.setRange(0, PROGRESS_SCALE)
        self.progress.setTextVisible(False)
        self.message = QLabel()
        self.message.setObjectName("JobMessage")
        self.message.setTextFormat(Qt.TextFormat.PlainText)
        self.message.setWordWrap(True)
        self.message.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.cancel_btn = QToolButton()
        self.cancel_btn.setIcon(icons.icon("cancel", 16))
        self.cancel_btn.setToolTip("Cancel this job")
        self.cancel_btn.setAutoRaise(True)
        self.cancel_btn.clicked.connect(lambda: self.bridge.cancel(self.job_id))
        self.retry_btn = QToolButton()
        self.retry_btn.setIcon(icons.icon("retry", 16))
        self.retry_btn.setToolTip("Run this job again")
        self.retry_btn.setAutoRaise(True)
        self.retry_btn.clicked.connect(self._retry)
        top = QHBoxLayout()
        top.setSpacing(6)
        top.addWidget(self.title, 1)
        top.addWidget(self.chip)
        top.addWidget(self.retry_btn)
        top.addWidget(self.cancel_btn)
        grid.addWidget(self.preview, 0, 0, 3, 1, Qt.AlignmentFlag.AlignTop)
        grid.addLayout(top, 0, 1)
        grid.addWidget(self.progress, 1, 1)
        grid.addWidget(self.message, 2, 1)
        self.update_from(job)

    @property
    def state(self) -> str:
        return str(self.chip.property("state"))

    def update_from(self, job: Job, event: JobEvent | None = None) -> None:
        state = _state(job)
        self._title_text = job.spec.title or job.spec.generator
        self._elide_title()
        self.title.setToolTip(f"{job.spec.generator}\njob {job.id}")
        self.chip.setText(STATE_TEXT.get(state, state))
        if self.chip.property("state") != state:
            self.chip.setProperty("state", state)
            self.chip.style().unpolish(self.chip)
            self.chip.style().polish(self.chip)
        fraction = job.progress
        if event is not None and event.type == EventType.PROGRESS:
            fraction = max(fraction, event.fraction)
        if state == "done":
            fraction = 1.0
        self.progress.setValue(int(round(max(0.0, min(1.0, fraction)) * PROGRESS_SCALE)))
        self.progress.setVisible(state in ACTIVE or state == "done")
        text = job.error if state in ("failed", "set_aside") and job.error else job.message
        if event is not None and event.type == EventType.PROGRESS and event.message:
            text = event.message
        if state == "done" and job.asset_ids:
            n = len(job.asset_ids)
            text = f"{n} asset{'s' if n != 1 else ''} added to the gallery"
        self.message.setText(text or "")
        self.message.setVisible(bool(text))
        self.cancel_btn.setVisible(state in ACTIVE)
        self.retry_btn.setVisible(state in RETRYABLE)
        if event is not None and event.preview:
            pm = QPixmap()
            if pm.loadFromData(event.preview):
                self.preview.setPixmap(
                    pm.scaled(
                        40,
                        40,
                        Qt.AspectRatioMode.KeepAspectRatio,
                        Qt.TransformationMode.FastTransformation,
                    )
                )

    def _elide_title(self) -> None:
        fm = self.title.fontMetrics()
        width = max(40, self.title.width())
        self.title.setText(fm.elidedText(self._title_text, Qt.TextElideMode.ElideRight, width))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._elide_title()

    @property
    def full_title(self) -> str:
        return self._title_text

    def _retry(self) -> None:
        self.bridge.retry(self.job_id)


def icons_muted() -> str:
    from genstudio.ui import theme

    return theme.current().muted


class QueuePanel(QWidget):
    """Newest job on top; finished rows beyond MAX_FINISHED_ROWS are dropped."""

    def __init__(self, bridge: JobsBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.rows: dict[str, JobRow] = {}
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 4, 6, 6)
        bar = QHBoxLayout()
        self.summary = QLabel("")
        self.summary.setObjectName("Muted")
        clear = QPushButton("Clear finished")
        clear.clicked.connect(self.clear_finished)
        bar.addWidget(self.summary, 1)
        bar.addWidget(clear)
        lay.addLayout(bar)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        host = QWidget()
        self.list_layout = QVBoxLayout(host)
        self.list_layout.setContentsMargins(0, 0, 0, 0)
        self.list_layout.setSpacing(6)
        self.empty = QLabel("Jobs you start appear here.")
        self.empty.setObjectName("EmptyState")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.list_layout.addWidget(self.empty)
        self.list_layout.addStretch(1)
        self.scroll.setWidget(host)
        lay.addWidget(self.scroll, 1)
        bridge.job_added.connect(self._add)
        bridge.job_event.connect(self._on_event)
        bridge.jobs_reset.connect(self._reset)
        for job in bridge.jobs():
            self._add(job)

    def row(self, job_id: str) -> JobRow | None:
        return self.rows.get(job_id)

    def _add(self, job: Job) -> None:
        if job.id in self.rows:
            self.rows[job.id].update_from(job)
            return
        row = JobRow(job, self.bridge)
        self.rows[job.id] = row
        self.list_layout.insertWidget(0, row)
        self._trim()
        self._update_summary()

    def _on_event(self, event: JobEvent) -> None:
        row = self.rows.get(event.job_id)
        if row is None:
            return
        try:
            job = self.bridge.get(event.job_id)
        except Exception:
            return
        row.update_from(job, event)
        self._update_summary()

    def _reset(self) -> None:
        for row in self.rows.values():
            row.setParent(None)
            row.deleteLater()
        self.rows.clear()
        self._update_summary()

    def clear_finished(self) -> None:
        self.bridge.clear_finished()
        for job_id, row in list(self.rows.items()):
            if row.state not in ACTIVE:
                row.setParent(None)
                row.deleteLater()
                del self.rows[job_id]
        self._update_summary()

    def _trim(self) -> None:
        finished = [jid for jid, r in self.rows.items() if r.state not in ACTIVE]
        for job_id in finished[: max(0, len(finished) - MAX_FINISHED_ROWS)]:
            row = self.rows.pop(job_id)
            row.setParent(None)
            row.deleteLater()

    def _update_summary(self) -> None:
        states = [r.state for r in self.rows.values()]
        running = states.count("running")
        queued = states.count("queued")
        self.empty.setVisible(not self.rows)
        if not states:
            self.summary.setText("")
        elif running or queued:
            self.summary.setText(f"{running} running, {queued} waiting")
        else:
            self.summary.setText(f"{len(states)} finished")
