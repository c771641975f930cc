"""The Images mode's Export dialog: folder, which results, scale, a pixel-art version.

The files are written by the Qt-free :mod:`genstudio.generators.images.export` (names from the
prompt, nearest-neighbour scale, the generation settings kept, never overwriting); the panel's
:meth:`~genstudio.ui.modes.images.panel.ImagesPanel.export_results` runs it and reports in the
message bar. The dialog stays open with the reason when an export fails.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
)

from genstudio.generators.images import export
from genstudio.ui.modes.images import state

if TYPE_CHECKING:
    from genstudio.ui.modes.images.panel import ImagesPanel


class ExportDialog(QDialog):
    """Where and how to export the selected (or all) results; exports on accept."""

    exported = Signal(list)  # the paths written

    def __init__(
        self,
        panel: ImagesPanel,
        folder: Path,
        selected: list[str],
        all_ids: list[str],
        grid: int,
        colors: int,
    ) -> None:
        super().__init__(panel)
        self.panel = panel
        self._selected = selected
        self._all = all_ids
        self.setWindowTitle("Export images")
        self.setMinimumWidth(520)
        lay = QVBoxLayout(self)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)

        row = QHBoxLayout()
        self.folder = QLineEdit(str(folder))
        self.folder.setToolTip("Created when it does not exist")
        browse = QPushButton("Browse\u2026")
        browse.clicked.connect(self._browse)
        row.addWidget(self.folder, 1)
        row.addWidget(browse)
        form.addRow("Folder", row)

        which = QHBoxLayout()
        self.only_selected = QRadioButton(f"Selected ({len(selected)})")
        self.all_results = QRadioButton(f"All results ({len(all_ids)})")
        self.all_results.setToolTip("Every image in the results strip")
        group = QButtonGroup(self)
        for b in (self.only_selected, self.all_results):
            group.addButton(b)
            which.addWidget(b)
        which.addStretch(1)
        self.only_selected.setEnabled(bool(selected))
        (self.only_selected if selected else self.all_results).setChecked(True)
        form.addRow("Images", which)

        self.scale = QComboBox()
        for k, title in state.EXPORT_SCALES:
            self.scale.addItem(title, k)
        self.scale.setToolTip("Every pixel becomes a block: icons and pixel art stay sharp")
        self.scale.currentIndexChanged.connect(self._update_summary)
        form.addRow("Scale", self.scale)

        prow = QHBoxLayout()
        self.pixel_art = QCheckBox("Also a pixel-art version")
        self.pixel_art.setToolTip(
            "Write each image a second time through the pixel-art finish (grid, colours)"
        )
        self.grid = QSpinBox()
        self.grid.setRange(*export.GRID_RANGE)
        self.grid.setValue(grid)
        self.grid.setPrefix("grid ")
        self.grid.setSuffix(" px")
        self.grid.setToolTip("The pixel grid: the long side of the pixel-art version")
        self.colors = QSpinBox()
        self.colors.setRange(*export.COLORS_RANGE)
        self.colors.setValue(colors)
        self.colors.setSuffix(" colours")
        prow.addWidget(self.pixel_art)
        prow.addSpacing(8)
        prow.addWidget(self.grid)
        prow.addWidget(self.colors)
        prow.addStretch(1)
        self.pixel_art.toggled.connect(self._update_summary)
        self.only_selected.toggled.connect(self._update_summary)
        form.addRow("Pixel art", prow)
        lay.addLayout(form)

        self.summary = QLabel()
        self.summary.setObjectName("Muted")
        self.summary.setWordWrap(True)
        lay.addWidget(self.summary)
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: palette(bright-text);")  # the theme's danger colour
        self.error.hide()
        lay.addWidget(self.error)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        lay.addWidget(self.buttons)
        self._update_summary()

    # --- what the dialog says ---------------------------------------------------------------

    def chosen_ids(self) -> list[str]:
        return list(self._selected if self.only_selected.isChecked() else self._all)

    def options(self) -> export.ExportOptions:
        return export.ExportOptions(
            scale=int(self.scale.currentData()),
            pixel_art=self.pixel_art.isChecked(),
            grid=self.grid.value(),
            colors=self.colors.value(),
        )

    def _browse(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Export to folder", self.folder.text())
        if path:
            self.folder.setText(path)

    def _update_summary(self) -> None:
        on = self.pixel_art.isChecked()
        self.grid.setEnabled(on)
        self.colors.setEnabled(on)
        names = self.panel.planned_export_names(self.chosen_ids(), self.options())
        self.summary.setText(state.export_summary(names))
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(bool(names))

    def accept(self) -> None:
        written, why = self.panel.export_results(
            self.folder.text().strip(), self.chosen_ids(), self.options()
        )
        if written is None:
            self.error.setText(why)
            self.error.show()
            return
        self.exported.emit(written)
        super().accept()
