"""The log dock: a logging.Handler that hands records to the GUI thread through a signal."""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

MAX_LINES = 5000


class _Emitter(QObject):
    record = Signal(int, str)


class QtLogHandler(logging.Handler):
    """Thread-safe: ``emit`` may run on any thread; the signal is queued to the GUI thread."""

    def __init__(self, level: int = logging.INFO) -> None:
        super().__init__(level)
        self.emitter = _Emitter()
        self.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
        )

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:
            self.handleError(record)
            return
        try:
            self.emitter.record.emit(record.levelno, text)
        except RuntimeError:  # emitter already deleted at shutdown
            pass


class LogPanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 4, 6, 6)
        bar = QHBoxLayout()
        self.level = QComboBox()
        for name, lvl in (
            ("Info", logging.INFO),
            ("Warnings", logging.WARNING),
            ("Errors", logging.ERROR),
            ("Debug", logging.DEBUG),
        ):
            self.level.addItem(name, lvl)
        self.level.currentIndexChanged.connect(self._rerender)
        clear = QPushButton("Clear")
        clear.clicked.connect(self.clear)
        bar.addWidget(self.level)
        bar.addStretch(1)
        bar.addWidget(clear)
        self.view = QPlainTextEdit()
        self.view.setObjectName("LogView")
        self.view.setReadOnly(True)
        self.view.setMaximumBlockCount(MAX_LINES)
        self.view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        lay.addLayout(bar)
        lay.addWidget(self.view)
        self._lines: list[tuple[int, str]] = []
        self.handler = QtLogHandler(logging.DEBUG)
        self.handler.emitter.record.connect(self.append, Qt.ConnectionType.QueuedConnection)

    def attach(self, logger_name: str = "genstudio") -> None:
        logging.getLogger(logger_name).addHandler(self.handler)

    def detach(self, logger_name: str = "genstudio") -> None:
        logging.getLogger(logger_name).removeHandler(self.handler)

    def append(self, levelno: int, text: str) -> None:
        self._lines.append((levelno, text))
        del self._lines[:-MAX_LINES]
        if levelno >= int(self.level.currentData()):
            self.view.appendPlainText(text)

    def text(self) -> str:
        return self.view.toPlainText()

    def clear(self) -> None:
        self._lines.clear()
        self.view.clear()

    def _rerender(self) -> None:
        threshold = int(self.level.currentData())
        self.view.setPlainText("\n".join(t for lvl, t in self._lines if lvl >= threshold))
