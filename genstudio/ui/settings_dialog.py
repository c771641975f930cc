"""Settings: theme, CPU threads, execution provider (saved via genstudio.core.settings)."""

from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:
    from genstudio.core.settings import Settings

THEMES = (("System", "system"), ("Light", "light"), ("Dark", "dark"))
PROVIDERS = (
    ("Automatic (GPU when it works)", "auto"),
    ("CPU only", "cpu"),
    ("CUDA (NVIDIA)", "cuda"),
)


class SettingsDialog(QDialog):
    """Edits a copy of the settings; ``result_settings()`` is the edited copy after accept."""

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setMinimumWidth(420)
        self._settings = dataclasses.replace(settings)
        lay = QVBoxLayout(self)
        form = QFormLayout()
        self.theme = QComboBox()
        for label, value in THEMES:
            self.theme.addItem(label, value)
        self.theme.setCurrentIndex(max(0, self.theme.findData(settings.theme)))
        self.threads = QSpinBox()
        self.threads.setRange(0, 256)
        self.threads.setSpecialValueText(f"Automatic ({os.cpu_count() or 1} cores)")
        self.threads.setValue(settings.threads)
        self.provider = QComboBox()
        for label, value in PROVIDERS:
            self.provider.addItem(label, value)
        self.provider.setCurrentIndex(max(0, self.provider.findData(settings.provider)))
        form.addRow("Theme", self.theme)
        form.addRow("CPU threads", self.threads)
        form.addRow("Run models on", self.provider)
        lay.addLayout(form)
        note = QLabel(
            "Threads and the execution provider apply to models loaded after saving. "
            "If CUDA cannot start, GenStudio falls back to the CPU and says so in the log."
        )
        note.setObjectName("Muted")
        note.setWordWrap(True)
        lay.addWidget(note)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.buttons = buttons
        lay.addWidget(buttons)

    def result_settings(self) -> Settings:
        s = dataclasses.replace(self._settings)
        s.theme = str(self.theme.currentData())
        s.threads = int(self.threads.value())
        s.provider = str(self.provider.currentData())
        return s
