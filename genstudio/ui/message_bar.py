"""A non-blocking message strip above the panels (errors, read-only projects, notices)."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QWidget

INFO_TIMEOUT_MS = 8000


class MessageBar(QFrame):
    """Shows the newest message; info messages fade after a while, warnings/errors stay."""

    closed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("MessageBar")
        self.setProperty("level", "info")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(10, 6, 6, 6)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.more = QLabel()
        self.more.setObjectName("Muted")
        close = QToolButton()
        close.setText("\u2715")
        close.setAutoRaise(True)
        close.setToolTip("Dismiss")
        close.clicked.connect(self.dismiss)
        lay.addWidget(self.label, 1)
        lay.addWidget(self.more)
        lay.addWidget(close)
        self._pending = 0
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.dismiss)
        self.history: list[tuple[str, str]] = []
        self.hide()

    @property
    def level(self) -> str:
        return str(self.property("level"))

    def text(self) -> str:
        return self.label.text()

    def show_message(self, text: str, level: str = "info") -> None:
        self.history.append((level, text))
        del self.history[:-50]
        if self.isVisible() and self.level == "error" and level != "error":
            # never let a notice hide an error the user has not read
            self._pending += 1
        else:
            if self.isVisible():
                self._pending += 1
            self.setProperty("level", level)
            self.label.setText(text)
            self.style().unpolish(self)
            self.style().polish(self)
        self.more.setText(f"+{self._pending} more (see Log)" if self._pending else "")
        self.show()
        if self.level == "info":
            self._timer.start(INFO_TIMEOUT_MS)
        else:
            self._timer.stop()

    def dismiss(self) -> None:
        self._timer.stop()
        self._pending = 0
        self.hide()
        self.closed.emit()
