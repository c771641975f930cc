"""The Images mode: prompt -> images with the built-in icon model or an imported Stable Diffusion
ONNX folder; img2img and inpainting on the canvas; pixel art and upscaling.

Controls on the left edit a :class:`state.ImagesSettings`; *Generate* (Ctrl+Enter) submits an
``images.diffusion`` job through the job bridge. The panel follows its own jobs' events: the
live denoising preview (a PNG every few steps) goes to the canvas, every emitted PNG asset joins
the results strip (newest first), and the first of a batch is shown large.

The canvas (:mod:`canvas`) has two views: the result, and the init image with the inpainting
mask painted over it. "Use as init image" takes the shown result; "Open image..." or a drop on
the canvas takes a file. When a mask is painted it is written into the project's cache as a PNG
(white = repaint) at generation time and passed as the job's ``mask``.

"Export..." (Ctrl+E) writes the selected results (or all of them) to a folder: the dialog is
:mod:`export_dialog`, the files are written by the Qt-free ``generators.images.export``.

A PNG dropped anywhere else on the panel (or on the window) that carries generation settings
(GenStudio, A1111, ComfyUI, InvokeAI) fills the prompt, negative, steps, guidance, scheduler,
seed and size; one without settings becomes the init image.

Nothing heavy runs on the GUI thread: generation runs on the runner's worker; a model folder
import (copy + hashes of gigabytes) runs on a short-lived thread and reports back through a
queued signal; images decoded here are results and init images (64x64 icons, SD up to 2048).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import (
    QBuffer,
    QByteArray,
    QEvent,
    QIODevice,
    QItemSelectionModel,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import (
    QDragEnterEvent,
    QDropEvent,
    QIcon,
    QImage,
    QKeySequence,
    QPalette,
    QShortcut,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from genstudio.core.errors import GenStudioError, InvalidParamsError
from genstudio.generators.images.generator import ImageParams
from genstudio.ui import icons
from genstudio.ui.imagefile import load_image
from genstudio.ui.modes.base import (
    AssetRole,
    Card,
    ResultsPanel,
    batch_progress,
    clear_button,
    controls_body,
    controls_scroll,
    field_label,
    finish_controls,
    muted_label,
    section_title,
    seed_row,
)
from genstudio.ui.modes.binding import Binder
from genstudio.ui.modes.images import state
from genstudio.ui.modes.images.canvas import ImageCanvas, ThumbDelegate, thumbnail
from genstudio.ui.modes.images.export_dialog import ExportDialog
from genstudio.ui.modes.widgets import DICE_SVG, EXPORT_SVG, register_icons

if TYPE_CHECKING:
    from genstudio.core.assets import AssetRecord
    from genstudio.core.jobs import JobEvent
    from genstudio.core.project import Project
    from genstudio.generators.images.export import ExportOptions, ImageToExport
    from genstudio.ui.context import AppContext

log = logging.getLogger(__name__)
THUMB = 64
TILE = QSize(THUMB + 14, THUMB + 30)  # thumbnail + seed label

# Extra line icons in the house style (24x24 viewBox, stroked), added once to the icon table.
_EXTRA_SVG = {
    "brush": (
        '<path d="M14.5 4.5l5 5-8 8-5-5z"/><path d="M6.5 12.5L4 20l7.5-2.5"/><path d="M13 6l5 5"/>'
    ),
    "eraser": '<path d="M4 16l9-9 6 6-7 7H7z"/><path d="M9 11l6 6M12 20h8"/>',
    "open": '<path d="M3 7a2 2 0 0 1 2-2h4l2 2h8a2 2 0 0 1 2 2v8a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2z"/>',
    "init": '<rect x="3" y="5" width="18" height="14" rx="2"/><path d="M7 15l3-4 3 3 2-2 3 3"/>',
    "dice": DICE_SVG,
    "import": '<path d="M12 4v11M7 10l5 5 5-5"/><path d="M4 17v3h16v-3"/>',
    "export": EXPORT_SVG,
}
EXPORT_SHORTCUT = "Ctrl+E"
# a result chosen by the program (a batch's first, a reuse) is the only one selected; several are
# selected by Ctrl/Shift+click (the results list allows that, for an export)
_ONLY = QItemSelectionModel.SelectionFlag.ClearAndSelect
icon = register_icons("images", _EXTRA_SVG)


_STYLE = """
QToolButton#ViewLeft, QToolButton#ViewRight {
    padding: 3px 12px; border: 1px solid palette(mid); background: palette(base);
}
QToolButton#ViewLeft { border-top-left-radius: 5px; border-bottom-left-radius: 5px; }
QToolButton#ViewRight {
    border-top-right-radius: 5px; border-bottom-right-radius: 5px; border-left: none;
}
QToolButton#ViewLeft:checked, QToolButton#ViewRight:checked {
    background: palette(highlight); color: palette(highlighted-text);
    border-color: palette(highlight);
}
QToolButton#Tool { padding: 3px 6px; border-radius: 4px; }
QToolButton#Tool:checked { background: palette(midlight); border: 1px solid palette(mid); }
QLabel#InitBox { padding: 6px 8px; border: 1px dashed palette(mid); border-radius: 5px; }
QListWidget#ImageResults QScrollBar:horizontal {
    height: 8px; background: transparent; margin: 0 2px;
}
QListWidget#ImageResults QScrollBar::handle:horizontal {
    background: palette(mid); border-radius: 4px; min-width: 40px;
}
QListWidget#ImageResults QScrollBar::add-line, QListWidget#ImageResults QScrollBar::sub-line {
    width: 0; height: 0;
}
QListWidget#ImageResults QScrollBar::add-page, QListWidget#ImageResults QScrollBar::sub-page {
    background: transparent;
}
"""


class _PromptEdit(QPlainTextEdit):
    """Plain text only (no rich paste); Tab moves focus instead of typing a tab."""

    def __init__(self, placeholder: str, lines: int) -> None:
        super().__init__()
        self.setPlaceholderText(placeholder)
        self.setTabChangesFocus(True)
        self.setAcceptDrops(False)  # a dropped file is for the panel (settings / init image)
        fm = self.fontMetrics()
        self.setFixedHeight(fm.lineSpacing() * lines + 14)


@dataclass
class Result:
    """One generated image in the results strip (the full image is read when shown)."""

    asset_id: str
    record: AssetRecord
    path: Path
    width: int
    height: int
    thumb: QImage  # the image at most 4 thumbnails wide (re-drawn on a theme switch)
    job_id: str | None = None

    @property
    def pixel_art(self) -> bool:
        return bool(self.record.params.get("pixel_art"))


def read_image(path: str | Path, max_side: int = 0) -> tuple[QImage | None, str]:
    """Decode an image file for display: (image, "") or (None, why not). Through the product's
    one safe reader (ui/imagefile.py): only the formats the generator reads, regular files,
    the same size limits; ``max_side`` > 0 decodes large images scaled down."""
    loaded, why = load_image(path, max_side)
    return (loaded.image, "") if loaded is not None else (None, why)


def png_bytes(image: QImage) -> bytes:
    buf = QBuffer()
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buf, "PNG")
    data = bytes(buf.data().data())
    buf.close()
    return data


class ImagesPanel(ResultsPanel):
    """Prompt + model + sampling -> images; canvas for results, init image and mask."""

    #: a result was added to the strip (its asset id)
    result_added = Signal(str)
    #: the init image changed (its path, "" when cleared)
    init_changed = Signal(str)
    #: a model folder import finished (the new folder, or "" when it failed)
    import_finished = Signal(str)

    _import_done = Signal(str, str)  # target folder, error

    max_results = state.MAX_RESULTS
    no_project_message = "Open or create a project first: images are saved in it."
    pack_kind = "image"
    _results: dict[str, Result]
    _current: Result | None

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self._init_path = ""
        self._palette = ""
        self._models: list[state.ModelChoice] = []
        self._applying = False
        self._auto_select = False  # the first result of a batch is being selected (not a click)
        self._import_thread: threading.Thread | None = None
        self._import_jobs: dict[str, str] = {}  # models.import_sd job id -> its model folder
        self._noted_jobs: set[str] = set()  # jobs whose notes (e.g. an unfamiliar prompt) showed
        self._export_dir: Path | None = None
        self.export_dialog: ExportDialog | None = None
        #: every ImageParams field <-> its control (range, choices, label, tooltip from the spec)
        self.binder = Binder(
            ImageParams,
            value_labels={"scheduler": state.scheduler_title, "upscale": state.upscale_title},
        )
        self.setAcceptDrops(True)

        self.lay_out(
            self._build_canvas,
            stretch=(4, 0),
            sizes=[640, 150],
            refresh_tip="Look for the built-in model pack and model folders again",
        )

        self._import_done.connect(self._on_import_done, Qt.ConnectionType.QueuedConnection)
        self.follow_jobs()
        self.setStyleSheet(_STYLE)
        self.refresh_models()
        self.apply_to_controls(state.ImagesSettings(seed=state.random_seed()))
        self.watch_seed()  # a fresh seed per Generate until one is chosen
        self.refresh_model_state()
        self._update_init_ui()
        # the panel's own shortcut (no menu action: only the Images mode exports images)
        export_key = QShortcut(QKeySequence(EXPORT_SHORTCUT), self)
        export_key.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        export_key.activated.connect(self.open_export_dialog)
        self.export_shortcut = export_key

    # ====================================================================== controls (left)

    def _build_controls(self) -> QWidget:
        body, lay = controls_body("ImageControls")

        lay.addWidget(section_title("Images"))
        self.prompt = _PromptEdit("What should the image show? e.g. red apple, glossy", 3)
        self.binder.text("prompt", self.prompt)
        lay.addWidget(self.prompt)
        self.negative = _PromptEdit("Negative prompt: what to avoid (optional)", 2)
        self.binder.text("negative", self.negative)
        lay.addWidget(self.negative)

        # --- model
        lay.addSpacing(6)
        lay.addWidget(section_title("Model"))
        mrow = QHBoxLayout()
        mrow.setSpacing(4)
        self.model = QComboBox()
        self.model.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.model.setMinimumContentsLength(12)
        self.model.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.model.setToolTip(
            "Which model draws the images: the built-in icons model or an imported Stable "
            "Diffusion folder"
        )
        self.model.currentIndexChanged.connect(self._model_changed)
        self.binder.bind(
            "model", self.model, lambda: self.model.currentData() or state.BUILTIN,
            self.select_model,
        )  # fmt: skip
        self.import_button = QPushButton("Import model\u2026")
        self.import_button.setIcon(icon("import"))
        self.import_button.setToolTip(
            "Import Stable Diffusion 1.x / 2.x / SD-Turbo: a .safetensors checkpoint, a "
            "diffusers folder or an ONNX export (or drop one on this mode). Checkpoints and "
            "diffusers folders are converted to ONNX in the background (training add-on). "
            "It goes into the project's models folder (your user models folder without a "
            "project)."
        )
        import_menu = QMenu(self.import_button)
        import_menu.addAction(
            "Checkpoint file (.safetensors)\u2026", lambda: self.import_model(None, folder=False)
        )
        import_menu.addAction(
            "Model folder (diffusers or ONNX)\u2026", lambda: self.import_model(None, folder=True)
        )
        self.import_button.setMenu(import_menu)
        mrow.addWidget(self.model, 1)
        mrow.addWidget(self.import_button)
        lay.addLayout(mrow)
        self.model_note = muted_label()
        self.model_note.setWordWrap(True)
        lay.addWidget(self.model_note)
        # LoRAs (SD models): the menu adds A1111's <lora:name:0.8> tag to the prompt
        self.lora_button = QPushButton("Add LoRA\u2026")
        self.lora_button.setToolTip(
            "Apply a LoRA: adds <lora:NAME:0.8> to the prompt (change the number to weigh it). "
            "LoRA files (.safetensors) go in loras/ beside the model or in your user models "
            "folder's loras/."
        )
        self.lora_menu = QMenu(self.lora_button)
        self.lora_menu.aboutToShow.connect(self._fill_lora_menu)
        self.lora_button.setMenu(self.lora_menu)
        lrow = QHBoxLayout()
        lrow.addWidget(self.lora_button)
        lrow.addStretch(1)
        lay.addLayout(lrow)

        # --- sampling
        lay.addSpacing(6)
        lay.addWidget(section_title("Sampling"))
        g = QGridLayout()
        g.setHorizontalSpacing(8)
        g.setVerticalSpacing(6)
        g.setColumnStretch(1, 1)
        g.setColumnStretch(3, 1)
        row = 0
        self.scheduler = self.binder.combo("scheduler")
        g.addWidget(self.binder.label("scheduler"), row, 0)
        g.addWidget(self.scheduler, row, 1, 1, 3)
        row += 1
        self.steps = self.binder.spin("steps")
        self.guidance = self.binder.dspin("guidance", decimals=1, step=0.5)
        g.addWidget(self.binder.label("steps"), row, 0)
        g.addWidget(self.steps, row, 1)
        g.addWidget(self.binder.label("guidance"), row, 2)
        g.addWidget(self.guidance, row, 3)
        row += 1
        # one row for both sides (SD models only: the built-in model draws 64x64)
        self.width_label = field_label("Size")
        self.width_spin = self.binder.spin("width")
        self.height_spin = self.binder.spin("height")
        for sp, side in ((self.width_spin, " w"), (self.height_spin, " h")):
            sp.setSingleStep(64)
            sp.setSuffix(side)
        g.addWidget(self.width_label, row, 0)
        g.addWidget(self.width_spin, row, 1)
        times = self.size_times = QLabel("\u00d7")
        times.setAlignment(Qt.AlignmentFlag.AlignCenter)
        g.addWidget(times, row, 2)
        g.addWidget(self.height_spin, row, 3)
        row += 1
        self.count = self.binder.spin("count")
        self.count.setToolTip("Images in the batch; image i uses seed + i")
        g.addWidget(self.binder.label("count"), row, 0)
        g.addWidget(self.count, row, 1, 1, 2)  # its unit (" images") needs more than column 1
        row += 1
        srow, self.seed, self.dice = seed_row(
            self.binder.info("seed").spec.help, len(str(state.MAX_SEED)), icon("dice"),
            self.roll_seed,
        )  # fmt: skip
        self.binder.seed("seed", self.seed)
        g.addWidget(self.binder.label("seed"), row, 0)
        g.addLayout(srow, row, 1, 1, 3)
        lay.addLayout(g)

        # --- init image
        lay.addSpacing(6)
        hdr = QHBoxLayout()
        hdr.addWidget(section_title("Init image"))
        hdr.addStretch(1)
        self.open_button = QPushButton("Open image\u2026")
        self.open_button.setIcon(icon("open"))
        self.open_button.setToolTip("Start from an image (img2img); paint a mask to inpaint")
        self.open_button.clicked.connect(lambda: self.open_init_image())
        self.clear_init_button = clear_button("Forget the init image and its mask", self.clear_init)
        hdr.addWidget(self.open_button)
        hdr.addWidget(self.clear_init_button)
        lay.addLayout(hdr)
        self.init_label = QLabel()
        self.init_label.setObjectName("InitBox")
        self.init_label.setWordWrap(True)
        self.init_label.setTextFormat(Qt.TextFormat.PlainText)
        # the init image and its mask are the canvas's (apply_settings loads them); the painted
        # mask is written when a job is queued (generate)
        self.binder.bind("init", self.init_label, self.init_path)
        lay.addWidget(self.init_label)
        self.mask_info = muted_label()
        self.mask_info.setWordWrap(True)
        self.binder.bind("mask", self.mask_info, lambda: "")
        lay.addWidget(self.mask_info)
        srow = QHBoxLayout()
        srow.setSpacing(8)
        self.strength_label = self.binder.label("strength")
        self.strength = self.binder.dspin("strength")
        srow.addWidget(self.strength_label)
        srow.addWidget(self.strength, 1)
        lay.addLayout(srow)

        # --- pixel art + upscale
        lay.addSpacing(6)
        lay.addWidget(section_title("Finish"))
        self.pixel_art = QCheckBox("Pixel art")
        self.pixel_art.setToolTip("Snap to a pixel grid with a limited palette, hard alpha")
        self.binder.check("pixel_art", self.pixel_art)
        self.pixel_art.toggled.connect(lambda _on: self._update_pixel_ui())
        lay.addWidget(self.pixel_art)
        pg = QGridLayout()
        pg.setHorizontalSpacing(8)
        pg.setVerticalSpacing(6)
        pg.setColumnStretch(1, 1)
        pg.setColumnStretch(3, 1)
        self.grid = self.binder.spin("grid")
        self.grid.setSuffix(" px")
        self.grid.setToolTip("The pixel grid: the image is redrawn this many pixels wide")
        self.colors = self.binder.spin("colors")
        pg.addWidget(self.binder.label("grid"), 0, 0)
        pg.addWidget(self.grid, 0, 1)
        pg.addWidget(self.binder.label("colors"), 0, 2)
        pg.addWidget(self.colors, 0, 3)
        prow = QHBoxLayout()
        prow.setSpacing(4)
        self.palette_edit = QLineEdit()
        self.palette_edit.setReadOnly(True)
        self.palette_edit.setPlaceholderText("no palette file")
        self.binder.bind(
            "palette", self.palette_edit, lambda: self._palette,
            lambda v: self.set_palette(v, quiet=True),
        )  # fmt: skip
        self.palette_button = QToolButton()
        self.palette_button.setText("\u2026")
        self.palette_button.setToolTip("Choose a palette file (.gpl, .hex, .pal)")
        self.palette_button.clicked.connect(lambda: self.choose_palette())
        self.palette_clear = clear_button(
            "No palette file: use the colour count", lambda: self.set_palette("")
        )
        prow.addWidget(self.palette_edit, 1)
        prow.addWidget(self.palette_button)
        prow.addWidget(self.palette_clear)
        pg.addWidget(self.binder.label("palette"), 1, 0)
        pg.addLayout(prow, 1, 1, 1, 3)
        self.outline = self.binder.check("outline", QCheckBox("1-px dark outline"))
        pg.addWidget(self.outline, 2, 1, 1, 3)
        self.upscale = self.binder.combo("upscale")
        pg.addWidget(self.binder.label("upscale"), 3, 0)
        pg.addWidget(self.upscale, 3, 1)
        lay.addLayout(pg)
        self.generate_button = finish_controls(
            lay, self.binder, self.generate, "Generate (Ctrl+Enter)"
        )
        return controls_scroll(body, 340, "ImageControlsScroll")

    def _build_canvas(self) -> QWidget:
        card = Card()
        lay = QVBoxLayout(card)
        lay.setContentsMargins(12, 10, 12, 10)
        lay.setSpacing(8)
        hdr = QHBoxLayout()
        hdr.setSpacing(0)
        self.view_buttons = QButtonGroup(self)
        self.view_buttons.setExclusive(True)
        for i, (view, text, tip) in enumerate(
            (
                ("result", "Result", "The selected result (and the live preview)"),
                ("init", "Init && mask", "The init image; paint a mask to inpaint"),
            )
        ):
            btn = QToolButton()
            btn.setObjectName("ViewLeft" if i == 0 else "ViewRight")
            btn.setText(text)
            btn.setToolTip(tip)
            btn.setCheckable(True)
            btn.setProperty("view", view)
            btn.clicked.connect(lambda _c=False, v=view: self.canvas.set_view(v))
            self.view_buttons.addButton(btn)
            hdr.addWidget(btn)
        self.result_view_button, self.init_view_button = self.view_buttons.buttons()
        hdr.addStretch(1)
        self.use_init_button = QPushButton("Use as init image")
        self.use_init_button.setIcon(icon("init"))
        self.use_init_button.setToolTip("Start the next generation from this result (img2img)")
        self.use_init_button.clicked.connect(self.use_result_as_init)
        hdr.addWidget(self.use_init_button)
        hdr.addSpacing(4)
        self.export_button = QPushButton("Export\u2026")
        self.export_button.setIcon(icon("export"))
        self.export_button.setToolTip(
            f"Write the selected results (or all) to a folder as PNGs with their settings: "
            f"names from the prompt, scale x1-x8, a pixel-art version ({EXPORT_SHORTCUT})"
        )
        self.export_button.clicked.connect(lambda: self.open_export_dialog())
        self.export_button.setEnabled(False)  # until there is a result
        hdr.addWidget(self.export_button)
        lay.addLayout(hdr)

        self.canvas = ImageCanvas()
        self.canvas.set_placeholder(
            "Type a prompt and press Generate.\n"
            "Drop an image here to start from it; drop a PNG from GenStudio, A1111, ComfyUI "
            "or InvokeAI on the controls to reuse its settings."
        )
        self.canvas.image_dropped.connect(self._canvas_dropped)
        self.canvas.view_changed.connect(self._view_changed)
        self.canvas.mask_changed.connect(self._update_mask_ui)
        lay.addWidget(self.canvas, 1)
        self.canvas_info = muted_label()
        self.canvas_info.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.canvas_info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.canvas_info.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        lay.addWidget(self.canvas_info)

        tools = QHBoxLayout()
        tools.setSpacing(4)
        self.brush_button = QToolButton()
        self.brush_button.setObjectName("Tool")
        self.brush_button.setCheckable(True)
        self.brush_button.setIcon(icon("brush"))
        self.brush_button.setText("Mask brush")
        self.brush_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.brush_button.setToolTip("Paint where the image should change (inpainting)")
        self.brush_button.toggled.connect(self._brush_toggled)
        self.eraser_button = QToolButton()
        self.eraser_button.setObjectName("Tool")
        self.eraser_button.setCheckable(True)
        self.eraser_button.setIcon(icon("eraser"))
        self.eraser_button.setText("Eraser")
        self.eraser_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.eraser_button.setToolTip("Erase parts of the mask")
        self.eraser_button.toggled.connect(self._eraser_toggled)
        tools.addWidget(self.brush_button)
        tools.addWidget(self.eraser_button)
        tools.addSpacing(10)
        self.size_label = field_label("Size")
        tools.addWidget(self.size_label)
        self.brush_size = QSlider(Qt.Orientation.Horizontal)
        self.brush_size.setRange(4, 160)
        self.brush_size.setValue(self.canvas.brush_size())
        self.brush_size.setFixedWidth(120)
        self.brush_size.setToolTip("Brush size (screen pixels)")
        self.brush_size.valueChanged.connect(self.canvas.set_brush_size)
        tools.addWidget(self.brush_size)
        tools.addSpacing(6)
        self.clear_mask_button = QPushButton("Clear mask")
        self.clear_mask_button.setToolTip("Remove the whole mask (img2img of the whole image)")
        self.clear_mask_button.clicked.connect(self.canvas.clear_mask)
        tools.addWidget(self.clear_mask_button)
        tools.addStretch(1)
        self.canvas_open_button = QPushButton("Open image\u2026")
        self.canvas_open_button.setIcon(icon("open"))
        self.canvas_open_button.setToolTip("Choose an init image (or drop one on the canvas)")
        self.canvas_open_button.clicked.connect(lambda: self.open_init_image())
        tools.addWidget(self.canvas_open_button)
        lay.addLayout(tools)
        return card

    def _build_results(self) -> QWidget:
        card = Card()
        lay = QVBoxLayout(card)
        lay.setContentsMargins(12, 8, 12, 8)
        lay.setSpacing(4)
        hdr = QHBoxLayout()
        hdr.addWidget(section_title("Results"))
        self.batch_info = muted_label()
        hdr.addWidget(self.batch_info)
        hdr.addStretch(1)
        self.progress = batch_progress(160)
        hdr.addWidget(self.progress)
        self.cancel_button = QToolButton()
        self.cancel_button.setIcon(icons.icon("cancel", 14))
        self.cancel_button.setText("Cancel")
        self.cancel_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.cancel_button.setAutoRaise(True)
        self.cancel_button.setToolTip("Stop this batch (finished images stay in the gallery)")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.hide()
        hdr.addWidget(self.cancel_button)
        lay.addLayout(hdr)
        self.results = QListWidget()
        self.results.setObjectName("ImageResults")
        self.results.setViewMode(QListView.ViewMode.IconMode)
        self.results.setFlow(QListView.Flow.LeftToRight)
        self.results.setWrapping(False)
        self.results.setMovement(QListView.Movement.Static)
        self.results.setResizeMode(QListView.ResizeMode.Adjust)
        self.results.setFrameShape(QFrame.Shape.NoFrame)
        self.results.setIconSize(QSize(THUMB, THUMB))
        self.results.setGridSize(TILE)
        self.results.setItemDelegate(ThumbDelegate(TILE, self.results))
        self.results.setMouseTracking(True)
        # several results can be selected for an export (Ctrl/Shift+click); the current is shown
        self.results.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.results.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.results.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.results.setFixedHeight(TILE.height() + 12)
        self.results.currentItemChanged.connect(self._current_item_changed)
        lay.addWidget(self.results)
        card.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        return card

    # ====================================================================== settings <-> controls

    def current_settings(self) -> state.ImagesSettings:
        """The controls as settings; InvalidParamsError when the seed field is not a number."""
        v = self.binder.values()
        v["guidance"] = round(v["guidance"], 2)
        v["strength"] = round(v["strength"], 3)
        v["width"], v["height"] = state.snap8(v["width"]), state.snap8(v["height"])
        return state.ImagesSettings(**v)

    def apply_to_controls(self, s: state.ImagesSettings) -> None:
        """Fill the controls (not the init image or mask: see :meth:`apply_settings`)."""
        self._applying = True  # the model picked here does not bring its own size or sampling
        try:
            self.binder.apply(s.with_model_sampling().control_values())
        finally:
            self._applying = False
        self._update_model_ui()
        self._update_pixel_ui()

    def _update_pixel_ui(self) -> None:
        on = self.pixel_art.isChecked()
        for w in (self.grid, self.colors, self.palette_edit, self.palette_button, self.outline):
            w.setEnabled(on)
        self.colors.setEnabled(on and not self._palette)
        self.palette_clear.setVisible(bool(self._palette))
        self.palette_clear.setEnabled(on)

    # ====================================================================== models

    def refresh_models(self) -> None:
        """List the built-in model and the SD folders in the project's and the user's models/."""
        project = self.ctx.project
        keep = self.model.currentData() if self.model.count() else None
        try:
            user = state.user_models_dir()
        except Exception as e:  # no data dir (a broken HOME): the project's models still count
            log.warning("user models folder unavailable: %s", e)
            user = None
        self._models = state.find_models(project.models_dir if project else None, user)
        self.model.blockSignals(True)
        self.model.clear()
        for m in self._models:
            title = m.title if not m.where else f"{m.title}  ({m.where})"
            self.model.addItem(icons.icon("images", 16) if not m.is_sd else QIcon(), title, m.id)
            self.model.setItemData(
                self.model.count() - 1, m.description, Qt.ItemDataRole.ToolTipRole
            )
        self.model.blockSignals(False)
        # re-listing keeps the user's size and sampling: only a model the user picks brings its own
        applying, self._applying = self._applying, True
        try:
            self.select_model(keep or state.BUILTIN)
        finally:
            self._applying = applying

    def models(self) -> list[state.ModelChoice]:
        return list(self._models)

    def select_model(self, model_id: str) -> None:
        """Pick ``model_id``; a folder that is not listed (a reused asset's) is added."""
        i = self.model.findData(model_id)
        if i < 0 and model_id != state.BUILTIN and Path(model_id).is_dir():
            choice = state._sd_choice(Path(model_id), "other")
            self._models.append(choice)
            self.model.addItem(f"{choice.title}  (other)", choice.id)
            i = self.model.count() - 1
        if i < 0:
            i = 0
        if self.model.currentIndex() != i:
            self.model.setCurrentIndex(i)
        else:
            self._update_model_ui()

    def _choice(self) -> state.ModelChoice | None:
        mid = self.model.currentData()
        return next((m for m in self._models if m.id == mid), None)

    def _model_changed(self, _index: int) -> None:
        choice = self._choice()
        if choice is not None and choice.default_size and not self._applying:
            self.binder.apply(dict(zip(("width", "height"), choice.default_size, strict=True)))
        if choice is not None and choice.recommended and not self._applying:
            names = [name for name, _key in state.SAMPLING]
            self.binder.apply(dict(zip(names, choice.recommended, strict=True)))
        self._update_model_ui()

    def _update_model_ui(self) -> None:
        choice = self._choice()
        sd = choice is not None and choice.is_sd
        # the built-in model's size is fixed (64x64, said in the note): no greyed 512x512 row
        for w in (self.width_spin, self.height_spin, self.width_label, self.size_times):
            w.setVisible(sd)
        if choice is None:
            note = ""
        elif sd:
            note = choice.description if choice.description != choice.id else choice.id
        else:
            note = "64\u00d764 icons with transparency; size is fixed."
        self.model_note.setText(note)
        self.model_note.setToolTip(choice.id if sd and choice else "")
        self.lora_button.setVisible(sd)
        self._update_generate_button()

    def _fill_lora_menu(self) -> None:
        menu = self.lora_menu
        menu.clear()
        model = self.model.currentData() or ""
        found = state.available_loras(model) if model and model != state.BUILTIN else []
        for name, path in found:
            act = menu.addAction(name, lambda n=name: self.add_lora(n))
            act.setToolTip(str(path))
        if not found:
            menu.addAction("No LoRA files found").setEnabled(False)
        menu.addSeparator()
        menu.addAction("Open the LoRA folder", self.open_lora_folder)

    def add_lora(self, name: str, weight: float = 0.8) -> None:
        """Put ``<lora:name:weight>`` in the prompt (the generator merges it into the model)."""
        self.prompt.setPlainText(state.with_lora_tag(self.prompt.toPlainText(), name, weight))

    def open_lora_folder(self) -> None:
        from PySide6.QtCore import QUrl
        from PySide6.QtGui import QDesktopServices

        from genstudio.generators.images.generator import lora_folders

        model = self.model.currentData() or ""
        if not model or model == state.BUILTIN:
            return
        folder = lora_folders(model)[0]
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            self.ctx.show_message(f"Cannot create {folder}: {e.strerror or e}", "error")
            return
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    def _probe_model_pack(self) -> str | None:
        """Why the built-in pack cannot run (it is missing), or None."""
        return state.builtin_pack_problem()

    def _generation_blocked(self) -> str | None:
        choice = self._choice()
        if self._model_problem and (choice is None or not choice.is_sd):
            return (
                "The built-in image model is missing (see the note above); pick an imported model."
            )
        return None

    def _models_dir(self) -> Path:
        project = self.ctx.project
        if project is not None and not project.read_only:
            return project.models_dir
        return state.user_models_dir()

    def import_model(self, src: str | Path | None = None, *, folder: bool = False) -> bool:
        """Import a checkpoint file or a model folder: an ONNX export is copied in
        (:meth:`import_model_folder`); a single-file checkpoint or a diffusers folder is a
        ``models.import_sd`` job (converted in the training child process, shown in the queue,
        cancellable). Returns False when nothing was started (the reason is in the message
        bar)."""
        if src is None:
            if folder:
                src = QFileDialog.getExistingDirectory(
                    self, "Stable Diffusion folder (with model_index.json)", str(Path.home())
                )
            else:
                src, _ = QFileDialog.getOpenFileName(
                    self,
                    "Stable Diffusion checkpoint",
                    str(Path.home()),
                    "Stable Diffusion checkpoints (*.safetensors)",
                )
            if not src:
                return False
        from genstudio.generators.images.sd.convert import classify_source

        try:
            kind = classify_source(src)
        except GenStudioError as e:
            self.ctx.show_message(f"Cannot import {Path(src).name}: {e.user_message()}", "error")
            return False
        if kind == "onnx":
            return self.import_model_folder(src)
        params = state.import_params(src, self._models_dir())
        if (Path(params["models_dir"]) / params["name"]).exists():
            self.ctx.show_message(
                f"A model named {params['name']} is imported already; it is selected.", "warning"
            )
            self.refresh_models()
            self.select_model(str(Path(params["models_dir"]) / params["name"]))
            return False
        job = self.submit(state.IMPORT_GENERATOR, params, title=f"Import {Path(src).name}")
        if job is None:
            return False
        self._my_jobs.add(job.id)
        self._import_jobs[job.id] = str(Path(params["models_dir"]) / params["name"])
        self.ctx.show_message(
            f"Converting {Path(src).name} to ONNX in the background (see the queue); it is "
            "selected when it is ready."
        )
        return True

    def import_model_folder(self, src: str | Path | None = None) -> bool:
        """Copy a Stable Diffusion ONNX folder into the models folder on a worker thread.

        The result comes back through :attr:`import_finished` (and the message bar); returns
        False when nothing was started."""
        if self._import_thread is not None and self._import_thread.is_alive():
            self.ctx.show_message("A model folder is being imported already.", "warning")
            return False
        if src is None:
            src = QFileDialog.getExistingDirectory(
                self, "Stable Diffusion ONNX folder (with model_index.json)", str(Path.home())
            )
            if not src:
                return False
        project = self.ctx.project
        models_dir = (
            project.models_dir
            if project is not None and not project.read_only
            else state.user_models_dir()
        )
        try:  # written by the SD back-end: imported here so a missing module is a message
            from genstudio.generators.images.sd import folder as sd_folder
        except ImportError as e:
            self.ctx.show_message(f"Model import is not available in this build: {e}", "error")
            return False
        emit = self._import_done.emit

        def work() -> None:
            target, error = "", ""
            try:
                target = str(sd_folder.import_sd_folder(src, models_dir))
            except GenStudioError as e:
                error = e.user_message()
            except Exception as e:  # a bug must reach the user, not kill the thread silently
                log.exception("importing %s failed", src)
                error = f"Unexpected error: {type(e).__name__}: {e}"
            try:
                emit(target, error)
            except RuntimeError:  # the panel is gone
                pass

        self.import_button.setEnabled(False)
        self.import_button.setText("Importing\u2026")
        self.ctx.show_message(f"Importing {Path(src).name} into {models_dir}\u2026")
        t = threading.Thread(target=work, name="genstudio-images-import", daemon=True)
        self._import_thread = t
        t.start()
        return True

    def _on_import_done(self, target: str, error: str) -> None:
        if self._closed:
            return
        self.import_button.setEnabled(True)
        self.import_button.setText("Import model\u2026")
        if error:
            self.ctx.show_message(f"Could not import the model folder: {error}", "error")
            self.import_finished.emit("")
            return
        self.refresh_models()
        self.select_model(target)
        self.ctx.show_message(f"Imported the model {Path(target).name}; it is selected.")
        self.import_finished.emit(target)

    # ====================================================================== palette

    def choose_palette(self) -> None:
        start = str(Path(self._palette).parent) if self._palette else str(Path.home())
        path, _ = QFileDialog.getOpenFileName(self, "Palette file", start, state.PALETTE_FILTER)
        if path:
            self.set_palette(path)

    def set_palette(self, path: str | Path, quiet: bool = False) -> None:
        p = str(path) if path else ""
        if p and not Path(p).is_file() and not quiet:
            self.ctx.show_message(f"The palette file {p} does not exist.", "error")
            return
        self._palette = p
        self.palette_edit.setText(Path(p).name if p else "")
        self.palette_edit.setToolTip(p)
        self._update_pixel_ui()

    # ====================================================================== init image + mask

    def init_path(self) -> str:
        return self._init_path

    def open_init_image(self, path: str | Path | None = None) -> bool:
        if path is None:
            start = str(Path(self._init_path).parent) if self._init_path else str(Path.home())
            path, _ = QFileDialog.getOpenFileName(self, "Init image", start, state.IMAGE_FILTER)
            if not path:
                return False
        return self.set_init_path(path)

    def set_init_path(self, path: str | Path, keep_mask: bool = False) -> bool:
        """Use the image at ``path`` as the init image; a file that cannot be read is an error
        message (the previous init image stays). Returns success."""
        p = Path(path)
        img, why = read_image(p, state.MAX_EDIT_SIDE)
        if img is None:
            self.ctx.show_message(f"Cannot use {p.name} as the init image: {why}", "error")
            return False
        self._init_path = str(p)
        self.canvas.set_init(img, keep_mask=keep_mask)
        self.canvas.set_view("init")
        self._update_init_ui()
        self.init_changed.emit(self._init_path)
        return True

    def clear_init(self) -> None:
        self._init_path = ""
        self.canvas.set_init(None)
        self.brush_button.setChecked(False)
        self.canvas.set_view("result")
        self._update_init_ui()
        self.init_changed.emit("")

    def use_result_as_init(self) -> bool:
        r = self._current
        if r is None or self.ctx.project is None:
            return False
        return self.set_init_path(self.ctx.project.asset_path(r.record), keep_mask=True)

    def _canvas_dropped(self, path: str) -> None:
        if self.set_init_path(path):
            self.ctx.show_message(f"{Path(path).name} is the init image.")

    def _update_init_ui(self) -> None:
        has = bool(self._init_path)
        img = self.canvas.init_image()
        if has and img is not None:
            self.init_label.setText(
                f"{Path(self._init_path).name} \u2014 {img.width()}x{img.height()}"
            )
        else:
            self.init_label.setText("None: text to image. Open or drop an image to start from it.")
        self.init_label.setToolTip(self._init_path)
        self.clear_init_button.setVisible(has)
        self.strength.setEnabled(has)
        self.strength_label.setEnabled(has)
        self.init_view_button.setEnabled(has)
        for w in (self.brush_button, self.eraser_button, self.brush_size, self.size_label):
            w.setEnabled(has)
        if not has:
            self.brush_button.setChecked(False)
        self._update_mask_ui()

    def _update_mask_ui(self) -> None:
        masked = self.canvas.has_mask() if self._init_path else False
        self.clear_mask_button.setEnabled(masked)
        self.mask_info.setVisible(bool(self._init_path))
        if not self._init_path:
            self.mask_info.setText("")
        elif masked:
            self.mask_info.setText("Inpainting: only the red area of the mask changes.")
        else:
            self.mask_info.setText("Img2img: paint a mask on the canvas to change only part.")

    def _brush_toggled(self, on: bool) -> None:
        self.canvas.set_brush(on)
        if not on:
            self.eraser_button.setChecked(False)

    def _eraser_toggled(self, on: bool) -> None:
        self.canvas.set_eraser(on)
        if on and not self.brush_button.isChecked():
            self.brush_button.setChecked(True)

    def _view_changed(self, view: str) -> None:
        btn = self.init_view_button if view == "init" else self.result_view_button
        btn.setChecked(True)
        self._update_canvas_info()

    def write_mask(self) -> str:
        """Write the painted mask as a PNG (white = repaint) into the project's cache; ''
        when nothing is painted. Same pixels, same file (named by content)."""
        if not self._init_path or not self.canvas.has_mask():
            return ""
        img = self.canvas.mask_image()
        if img is None:
            return ""
        data = png_bytes(img)
        project = self.ctx.project
        if project is not None:
            folder = project.cache_dir / "masks"
        else:
            import tempfile

            folder = Path(tempfile.gettempdir()) / "genstudio-masks"
        path = folder / f"mask-{hashlib.sha256(data).hexdigest()[:16]}.png"
        if not path.is_file():
            from genstudio.core.atomic import atomic_write_bytes

            folder.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, data)
        return str(path)

    # ====================================================================== export

    def default_export_dir(self) -> Path:
        if self._export_dir is not None:
            return self._export_dir
        project = self.ctx.project
        return (project.root / "exports") if project is not None else Path.home()

    def selected_result_ids(self) -> list[str]:
        """The selected results in list order (newest first)."""
        chosen = {item.data(AssetRole) for item in self.results.selectedItems()}
        return [i for i in self.result_ids() if i in chosen]

    def open_export_dialog(self) -> ExportDialog | None:
        """The Export dialog for the selected results (all of them can be chosen in it)."""
        if not self.results.count():
            self.ctx.show_message("Generate an image first: there is nothing to export.", "info")
            return None
        selected = self.selected_result_ids()
        first = self._results.get(selected[0]) if selected else self._current
        grid, colors = state.pixel_defaults(first.record.params if first is not None else {})
        dlg = ExportDialog(
            self, self.default_export_dir(), selected, self.result_ids(), grid, colors
        )
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.destroyed.connect(lambda *_: setattr(self, "export_dialog", None))
        self.export_dialog = dlg
        dlg.open()
        return dlg

    def _export_items(self, ids: list[str]) -> list[ImageToExport]:
        project = self.ctx.project
        if project is None:
            return []
        return [
            state.export_item(r.record, project.asset_path(r.record))
            for r in (self._results.get(i) for i in ids)
            if r is not None
        ]

    def planned_export_names(self, ids: list[str], options: ExportOptions) -> list[str]:
        from genstudio.generators.images import export

        return export.planned_names(self._export_items(ids), options)

    def export_results(
        self, folder: str | Path, ids: list[str], options: ExportOptions
    ) -> tuple[list[Path] | None, str]:
        """Export the results ``ids`` into ``folder``: (paths written, "") or (None, why not).
        The message bar says what was written or why nothing was (nothing half-written is
        left: the export removes its own files when it fails)."""
        from genstudio.generators.images import export

        items = self._export_items(ids)
        why = ""
        if not items:
            why = "Select the images to export."
        elif not str(folder).strip() or str(folder) == ".":
            why = "Choose a folder to export to."
        if why:
            self.ctx.show_message(why, "error")
            return None, why
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            written = export.export_images(items, Path(folder), options)
        except GenStudioError as e:
            why = e.user_message()
        except OSError as e:  # defensive: the export turns OS errors into GenStudioError
            why = f"{e.strerror or e}"
        finally:
            QApplication.restoreOverrideCursor()
        if why:
            self.ctx.show_message(f"Export failed: {why}", "error")
            return None, why
        self._export_dir = Path(folder)
        n = len(written)
        self.ctx.show_message(f"Exported {n} file{'s' if n != 1 else ''} to {folder}.")
        return written, ""

    # ====================================================================== hooks

    def generate(self) -> bool:
        self.fresh_seed()
        s = self.checked_settings()
        if s is None or (not s.is_sd and self.model_pack_refused()):
            return True
        try:
            s.mask = self.write_mask()
        except (GenStudioError, OSError) as e:
            text = e.user_message() if isinstance(e, GenStudioError) else str(e)
            self.ctx.show_message(f"Could not save the mask: {text}", "error")
            return True
        choice = self._choice()
        title = state.job_title(s, choice.title if choice else "")
        job = self.submit(state.GENERATOR, s.to_params(), title=title)
        if job is None:
            return True
        self.start_batch(job, s.count)
        self.cancel_button.show()
        self.canvas.set_view("result")  # the live preview shows there
        return True

    def busy(self) -> bool:
        """True while a batch of this panel runs (until its final state event arrived)."""
        return self._batch_job is not None

    def cancel(self) -> None:
        if self._batch_job is not None:
            self.ctx.jobs.cancel(self._batch_job)

    def apply_settings(self, record: AssetRecord) -> None:
        s = state.ImagesSettings.from_params(record.params, record.seed)
        self.apply_to_controls(s)
        gone = []
        if s.init:
            if not Path(s.init).is_file():
                gone.append(f"init image {s.init}")
            elif self.set_init_path(s.init):
                if s.mask:
                    loaded, _why = load_image(s.mask)  # the one safe reader, as for the init
                    if loaded is None:
                        gone.append(f"mask {s.mask}")
                    else:
                        self.canvas.load_mask(loaded.image)
        else:
            self.clear_init()
        if s.model != state.BUILTIN and not Path(s.model).is_dir():
            gone.append(f"model folder {s.model}")
        if s.palette and not Path(s.palette).is_file():
            gone.append(f"palette {s.palette}")
        if gone:
            self.ctx.show_message(
                "Settings reused, but these are gone: " + "; ".join(gone) + ".", "warning"
            )

    def apply_image_metadata(self, path: str | Path) -> bool:
        """Fill the controls from the generation settings stored in an image (GenStudio,
        A1111, ComfyUI, InvokeAI). False when it has none (nothing changed)."""
        from genstudio.generators.images import metadata

        p = Path(path)
        try:
            md = metadata.read_metadata(p)
        except (GenStudioError, OSError) as e:
            why = e.user_message() if isinstance(e, GenStudioError) else (e.strerror or str(e))
            self.ctx.show_message(f"Cannot read settings from {p.name}: {why}", "error")
            return True
        if md is None:
            return False
        try:
            current = self.current_settings()
        except InvalidParamsError:  # an unreadable seed field: the image's seed replaces it
            self.seed.setText("0")
            current = self.current_settings()
        s, took, notes = state.apply_metadata(current, md)
        self.apply_to_controls(s)
        source = {"a1111": "A1111", "comfyui": "ComfyUI", "invokeai": "InvokeAI"}.get(
            md.source, "GenStudio" if md.source == "genstudio" else "another tool"
        )
        text = f"Settings from {p.name} ({source}): {', '.join(took) or 'nothing usable'}."
        if notes:
            text += " " + " ".join(notes)
        self.ctx.show_message(text, "warning" if notes else "info")
        return True

    def accepts_drop(self, path: Path) -> bool:
        return state.is_image_path(path) or state.is_model_path(path)

    def handle_drop(self, path: Path) -> None:
        """A dropped model is imported; a dropped image gives its settings when it carries
        some, else it is the init image."""
        if state.is_model_path(path):
            self.import_model(path)
            return
        if self.apply_image_metadata(path):
            return
        if self.set_init_path(path):
            self.ctx.show_message(f"{path.name} has no generation settings; it is the init image.")

    def activated(self) -> None:
        self.refresh_models()
        self.refresh_model_state()

    def shutdown(self) -> None:
        self._closed = True
        if self._import_thread is not None:
            self._import_thread.join(10.0)
            self._import_thread = None
        self.unfollow_jobs()

    # ====================================================================== jobs -> results

    def _on_jobs_reset(self) -> None:
        self._my_jobs.clear()
        self._end_batch()

    def _end_batch(self) -> None:
        self._batch_job = None
        self.progress.hide()
        self.cancel_button.hide()
        self.canvas.set_preview(None)

    def _on_project_changed(self, _project: Project | None) -> None:
        self.clear_results()
        self._end_batch()
        self.batch_info.setText("")
        self.canvas.set_result(None)
        self.clear_init()
        self.refresh_models()
        self._update_canvas_info()

    def _on_batch_progress(self, event: JobEvent) -> None:
        if event.preview:
            img = QImage.fromData(QByteArray(event.preview))
            if not img.isNull():
                self.canvas.set_preview(img)
                self.canvas_info.setText(event.message or "")

    def _on_job_over(self, job_id: str, st: str) -> None:
        self._my_jobs.discard(job_id)
        target = self._import_jobs.pop(job_id, None)
        if target is not None:
            self._on_import_job_over(job_id, st, target)
            return
        if job_id != self._batch_job:
            return
        self._end_batch()
        self._update_canvas_info()
        self.report_batch_end(job_id, st, self.made_by(job_id), "Image")

    def _on_import_job_over(self, job_id: str, st: str, target: str) -> None:
        if st == "done":
            self.refresh_models()
            self.select_model(target)
            self.ctx.show_message(f"Imported the model {Path(target).name}; it is selected.")
            self.import_finished.emit(target)
            return
        if st == "failed":
            try:
                why = self.ctx.jobs.get(job_id).error or "unknown error"
            except (GenStudioError, KeyError):
                why = "see the queue"
            self.ctx.show_message(f"Could not import the model: {why}", "error")
        self.import_finished.emit("")

    def _add_asset(self, asset_id: str, job_id: str) -> None:
        rec = self.gallery_record(asset_id, "image asset")
        if rec is None or rec.kind != "image" or self.ctx.project is None:
            return
        path = self.ctx.project.asset_path(rec)
        loaded, why = load_image(path, 4 * THUMB)
        if loaded is None:
            log.warning("image asset %s unreadable: %s", asset_id, why)
            return
        img, w, h = loaded.image, loaded.width, loaded.height
        r = Result(rec.id, rec, path, w, h, img, job_id=job_id)
        self._results[rec.id] = r
        item = QListWidgetItem(f"seed {rec.seed}" if rec.seed is not None else "")
        item.setIcon(QIcon(thumbnail(img, THUMB, self._dark(), r.pixel_art)))
        item.setToolTip(f"{state.describe_result(rec.params, w, h)}\n{rec.file}")
        item.setSizeHint(TILE)
        self.add_result_item(item, rec.id, job_id)
        self.export_button.setEnabled(True)
        notes = [str(n) for n in (rec.extra or {}).get("notes") or []]
        if notes and job_id not in self._noted_jobs:  # once per batch, not once per image
            self._noted_jobs.add(job_id)
            self.ctx.show_message(" ".join(notes), "warning")

    def _select_first_of_batch(self, item: QListWidgetItem) -> None:
        self._auto_select = True
        try:
            self.results.setCurrentItem(item, _ONLY)
        finally:
            self._auto_select = False

    def select_result(self, asset_id: str) -> None:
        """Make ``asset_id`` the shown and only selected result."""
        for i in range(self.results.count()):
            item = self.results.item(i)
            if item.data(AssetRole) == asset_id:
                self.results.setCurrentItem(item, _ONLY)
                return

    def _show(self, r: Result) -> None:
        img, why = read_image(r.path, state.MAX_EDIT_SIDE)
        if img is None:
            self.ctx.show_message(f"Cannot show {r.path.name}: {why}", "error")
            return
        self._current = r
        self.canvas.set_result(img, r.pixel_art)
        painting = self.canvas.view() == "init" and self.canvas.brush_enabled()
        if not (self._auto_select and painting):  # a batch does not interrupt mask painting
            self.canvas.set_view("result")
        self._update_canvas_info()

    def _update_canvas_info(self) -> None:
        r = self._current
        if self.canvas.view() == "init":
            img = self.canvas.init_image()
            self.canvas_info.setText(
                f"init image: {Path(self._init_path).name} \u2022 {img.width()}x{img.height()}"
                if img is not None and self._init_path
                else ""
            )
        elif r is not None:
            self.canvas_info.setText(
                "  " + state.describe_result(r.record.params, r.width, r.height)
            )
            self.canvas_info.setToolTip(f"{r.asset_id}\n{r.path}")
        else:
            self.canvas_info.setText("")
        self.use_init_button.setEnabled(r is not None)
        self.export_button.setEnabled(self.results.count() > 0)

    def _dark(self) -> bool:
        return self.palette().color(QPalette.ColorRole.Window).lightness() < 128

    def _refresh_thumbnails(self) -> None:
        dark = self._dark()
        for i in range(self.results.count()):
            item = self.results.item(i)
            r = self._results.get(item.data(AssetRole))
            if r is None:
                continue
            item.setIcon(QIcon(thumbnail(r.thumb, THUMB, dark, r.pixel_art)))

    # ====================================================================== Qt events

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt API
        md = event.mimeData()
        if md.hasUrls() and any(
            u.isLocalFile() and self.accepts_drop(Path(u.toLocalFile())) for u in md.urls()
        ):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt API
        paths = [
            Path(u.toLocalFile())
            for u in event.mimeData().urls()
            if u.isLocalFile() and self.accepts_drop(Path(u.toLocalFile()))
        ]
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        try:
            self.handle_drop(paths[0])
        except GenStudioError as e:
            self.ctx.show_message(e.user_message(), "error")

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt API
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            if hasattr(self, "results"):
                self._refresh_thumbnails()
        super().changeEvent(event)
