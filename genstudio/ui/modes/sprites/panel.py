"""The Sprites mode: describe a character, generate a batch, pick one, watch it move, export.

Controls on the left edit the settings of the chosen style (:class:`state.SpriteSettings` for
the GenStudio style, :class:`state.LpcSettings` for the LPC art); each style's params have their
own :class:`Binder`, and the controls both styles have (prompt, count, seed, colours, palette) are
bound in both. *Generate* (Ctrl+Enter) submits a ``sprites.*`` job through the job bridge. The
sheets arrive as gallery assets (the runner writes file + sidecar); the panel follows the job
events of its own jobs and shows each new sheet as a candidate tile. Selecting one plays the
animations of its sheet layout (:mod:`genstudio.generators.sprites.layout`) with a QTimer.
Nothing here blocks the GUI thread: generation runs on the runner's worker, and a sheet PNG is
decoded once and cut per cell on demand.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSlider,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from genstudio.core.errors import GenStudioError, InvalidParamsError
from genstudio.core.jobs import EventType
from genstudio.generators import palettes
from genstudio.generators.sprites import procedural
from genstudio.generators.sprites.layout import SheetLayout, Track
from genstudio.ui import icons, theme
from genstudio.ui.modes.base import (
    FINAL_STATES,
    GeneratingPanel,
    add_generate_button,
    batch_status,
    clear_button,
    controls_body,
    controls_scroll,
    count_and_seed,
    field_label,
    info_label,
    item_ids,
    mode_layout,
    muted_label,
    section_title,
    select_item,
    titled_card,
)
from genstudio.ui.modes.binding import Binder
from genstudio.ui.modes.sprites import state
from genstudio.ui.modes.sprites.widgets import (
    TILE,
    AssetRole,
    BadgeRole,
    CandidateDelegate,
    ExportDialog,
    FrameRole,
    FrameView,
    icon,
    swatch_pixmap,
)

if TYPE_CHECKING:
    from genstudio.core.assets import AssetRecord
    from genstudio.core.jobs import JobEvent
    from genstudio.core.project import Project
    from genstudio.ui.context import AppContext

log = logging.getLogger(__name__)
ANY = ""  # combo data of the "any" entry
ALL_DIRECTIONS = ""  # direction combo data of "every direction"
PALETTE_SUFFIXES = (".gpl", ".hex", ".pal")
PALETTE_FILTER = (
    "Palettes (*.gpl *.pal *.hex *.png);;GIMP palette (*.gpl);;JASC/RIFF palette (*.pal);;"
    "Hex list (*.hex);;Images (*.png)"
)
PROMPT_HINTS = {
    state.SpriteSettings: "Describe the character, e.g. 'stocky knight, red hair, blue cape' "
    "(optional: the pickers below win)",
    state.LpcSettings: "Describe the character, e.g. 'elf archer with a green cloak' "
    "(optional: the seed draws what it does not say)",
}

_RAMPS = {
    "skin": palettes.SKIN_RAMPS,
    "hair_color": palettes.HAIR_RAMPS,
    "eyes": palettes.EYE_RAMPS,
}


def _ramp_of(key: str, value: str):
    table = _RAMPS.get(key, palettes.CLOTH_RAMPS if key.endswith("_color") else None)
    return table.get(value) if table else None


def feedback_html(fb: state.PromptFeedback, empty: str = "") -> str:
    """A prompt feedback as coloured rich text (theme colours; words escaped)."""
    c = theme.current()
    if fb.empty:
        return f'<span style="color:{c.muted}">{html.escape(empty)}</span>' if empty else ""
    out = []
    for caption, text, tone in fb.parts():
        colour = getattr(c, tone, c.text)
        body = f'<span style="color:{colour}">{html.escape(text)}</span>'
        if caption:
            body = f'<span style="color:{c.muted}">{html.escape(caption)}:</span> {body}'
        out.append(body)
    return "; ".join(out)


def wrapped_label(name: str) -> QLabel:
    """A rich-text label that wraps and never widens its column (long words are cut by
    :func:`state.clip_word` before they get here)."""
    lab = QLabel()
    lab.setObjectName(name)
    lab.setWordWrap(True)
    lab.setTextFormat(Qt.TextFormat.RichText)
    lab.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Minimum)
    return lab


@dataclass
class Candidate:
    """One sheet in the grid: the asset, its image, its layout and the frames cut so far."""

    asset_id: str
    record: AssetRecord
    sheet: QImage
    layout: SheetLayout
    cells: dict[tuple[int, int], QImage] = field(default_factory=dict)

    @property
    def attrs(self) -> dict[str, str]:
        a = self.record.extra.get("attrs") or self.record.params.get("attrs") or {}
        return dict(a) if isinstance(a, dict) else {}

    @property
    def seed(self) -> int | None:
        return self.record.seed

    def frame(self, cell: tuple[int, int]) -> QImage:
        """The frame at a track cell ``(row, column)`` (cut from the sheet once)."""
        img = self.cells.get(cell)
        if img is None:
            img = self.sheet.copy(*self.layout.rect(*cell))
            self.cells[cell] = img
        return img

    def thumbnail(self) -> QImage:
        return self.frame(state.thumbnail_track(self.layout).cells()[0])

    def feedback(self) -> state.PromptFeedback:
        return state.sheet_feedback(self.record.generator, self.record.params, self.record.extra)


class SpritesPanel(GeneratingPanel):
    """Style + prompt + attribute pickers -> candidates -> animated preview -> export."""

    no_project_message = "Open or create a project first: sprites are saved in it."
    #: a candidate tile was added (asset id); for tests and listeners
    candidate_added = Signal(str)
    #: the previewed frame changed (frame index in the animation)
    frame_changed = Signal(int)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self._batch_title = ""
        self._candidates: dict[str, Candidate] = {}
        self._current: Candidate | None = None
        self._frame = 0
        self._export_dir: Path | None = None
        self._animation = "walk"
        self._direction = ALL_DIRECTIONS
        self._layout: SheetLayout = state.style_layout(state.DEFAULT_MODEL)
        self._tracks: list[Track] = []
        self._fps_for: tuple[str, int] | None = None  # (animation, frame ms) the fps is for
        self._zooms: dict[int, int] = {}  # frame px -> the zoom last used for it
        #: (generator, prompt, feedback) of the last sheet of this panel's batches
        self._last_result: tuple[str, str, state.PromptFeedback] | None = None
        self.export_dialog: ExportDialog | None = None
        #: each settings class's params fields <-> their controls (ranges, labels, tooltips
        #: from the spec); ``binder`` is the GenStudio style's, ``lpc_binder`` the LPC one's
        self.binders: dict[type, Binder] = {
            cls: Binder(cls.PARAMS) for cls in state.SETTINGS_CLASSES
        }
        self.binder = self.binders[state.SpriteSettings]
        self.lpc_binder = self.binders[state.LpcSettings]
        #: the controls only one style has
        self._style_widgets: dict[type, list[QWidget]] = {cls: [] for cls in self.binders}
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._tick)

        self.splitter = mode_layout(
            self,
            self._build_controls(),
            self._build_candidates(),
            self._build_preview(),
            stretch=(1, 1),
            sizes=[380, 420],
        )

        self.follow_jobs()
        seed = state.random_seed()
        for cls in reversed(state.SETTINGS_CLASSES):  # every style's defaults, the default last
            self.apply_to_controls(cls(seed=seed))
        self.watch_seed()  # a fresh seed per Generate until one is chosen
        self._model_changed()
        self._update_buttons()

    # ====================================================================== controls (left)

    def _each_binder(self):
        return self.binders.values()

    def _only(self, cls: type, widget: QWidget) -> QWidget:
        """Mark ``widget`` as a control of one style (hidden in the others)."""
        self._style_widgets[cls].append(widget)
        return widget

    def _build_controls(self) -> QWidget:
        body, lay = controls_body("SpriteControls")

        # --- style (model) and the LPC license
        lay.addWidget(section_title("Sprites"))
        top = QHBoxLayout()
        top.setSpacing(8)
        self.model = QComboBox()
        self.model.setObjectName("SpriteModel")
        self.model.setToolTip("Which generator draws the characters, and in which style")
        self.model.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.model.setMinimumContentsLength(12)
        self.model.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        for name in state.sprite_models():
            self.model.addItem(state.model_label(name), name)
            self.model.setItemData(
                self.model.count() - 1,
                state.MODEL_TIPS.get(name, name),
                Qt.ItemDataRole.ToolTipRole,
            )
        self.model.currentIndexChanged.connect(self._model_changed)
        top.addWidget(field_label("Style"))
        top.addWidget(self.model, 1)
        lay.addLayout(top)
        self.license_note = QLabel(
            f"<b>License: CC-BY-SA 3.0 / GPL 3.0.</b> {html.escape(state.LPC_LICENSE_TEXT)}"
        )
        self.license_note.setObjectName("LicenseNote")
        self.license_note.setWordWrap(True)
        self.license_note.setTextFormat(Qt.TextFormat.RichText)
        self.license_note.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Minimum)
        self.license_note.setToolTip(
            f"{state.LPC_LICENSE}: see the credits file beside each export"
        )
        lay.addWidget(self._only(state.LpcSettings, self.license_note))

        # --- prompt
        lay.addSpacing(4)
        self.prompt = QPlainTextEdit()
        self.prompt.setTabChangesFocus(True)
        self.prompt.setFixedHeight(58)
        self.prompt.textChanged.connect(self._update_prompt_feedback)
        for b in self._each_binder():
            b.text("prompt", self.prompt)
        lay.addWidget(self.prompt)
        self.prompt_info = wrapped_label("PromptInfo")
        lay.addWidget(self.prompt_info)

        # --- attributes: the GenStudio style's pickers, or a word on the LPC style's
        lay.addSpacing(6)
        lay.addWidget(self._only(state.SpriteSettings, self._build_attr_pickers()))
        lpc_box = QWidget()
        ll = QVBoxLayout(lpc_box)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.setSpacing(4)
        ll.addWidget(section_title("Character"))
        self.lpc_note = muted_label(
            "The prompt picks the artists' layers (body, hair, clothes, weapon); the seed draws "
            "the rest. The attribute pickers belong to the GenStudio style."
        )
        self.lpc_note.setWordWrap(True)
        self.lpc_note.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Minimum)
        ll.addWidget(self.lpc_note)
        lay.addWidget(self._only(state.LpcSettings, lpc_box))

        # --- pixels
        lay.addSpacing(6)
        lay.addWidget(section_title("Pixels"))
        form = QGridLayout()
        form.setHorizontalSpacing(8)
        form.setVerticalSpacing(6)
        form.setColumnStretch(1, 1)

        #: each style's frame sizes, from its params' spec (one combo per style, same place)
        self.sizes: dict[type, QComboBox] = {}
        for cls, b in self.binders.items():
            combo = b.combo("size", items=state.size_choices(cls.PARAMS))
            self.sizes[cls] = combo
            form.addWidget(self._only(cls, b.label("size")), 0, 0)
            form.addWidget(self._only(cls, combo), 0, 1)
        self.size = self.sizes[state.SpriteSettings]
        self.lpc_size = self.sizes[state.LpcSettings]

        self.colors = self.binder.spin("palette_colors")
        for other in self._each_binder():
            if other is not self.binder:
                other.spin("palette_colors", self.colors)
        self._last_colors = 0
        self.colors.valueChanged.connect(self._colors_changed)
        form.addWidget(self.binder.label("palette_colors"), 1, 0)
        form.addWidget(self.colors, 1, 1)

        pal_row = QHBoxLayout()
        pal_row.setSpacing(4)
        self.palette_button = QPushButton("Palette file\u2026")
        self.palette_button.setIcon(icon("palette"))
        self.palette_button.setToolTip(
            "Lock the colours to a palette: GIMP .gpl, JASC or RIFF .pal, .hex (one RRGGBB per "
            "line) or a palette .png. You can also drop a .gpl/.pal/.hex file on the window."
        )
        self.palette_button.clicked.connect(self.choose_palette)
        self.palette_clear = clear_button(
            "Stop using the palette file", lambda: self.set_palette_file("")
        )
        pal_row.addWidget(self.palette_button)
        pal_row.addWidget(self.palette_clear)
        pal_row.addStretch(1)
        for b in self._each_binder():
            b.bind(
                "palette_file", self.palette_button, lambda: self._palette_file,
                lambda v: self._set_palette(v, None),
            )  # fmt: skip
        form.addWidget(field_label("Palette"), 2, 0)
        form.addLayout(pal_row, 2, 1)
        self.palette_info = muted_label()
        self.palette_info.setWordWrap(True)
        self.palette_info.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Minimum)
        form.addWidget(self.palette_info, 3, 1)
        self.palette_swatch = QLabel()
        form.addWidget(self.palette_swatch, 4, 1)

        self.outline = self.binder.check("outline", QCheckBox("1-px dark outline"))
        form.addWidget(self._only(state.SpriteSettings, self.outline), 5, 1)
        lay.addLayout(form)

        # --- batch
        lay.addSpacing(6)
        lay.addWidget(section_title("Batch"))
        b = QGridLayout()
        b.setHorizontalSpacing(8)
        b.setColumnStretch(1, 1)
        self.count, self.seed, self.dice = count_and_seed(
            self.binder, b, 0, icon("dice"), self.roll_seed
        )
        for other in self._each_binder():
            if other is not self.binder:
                other.spin("count", self.count)
                other.seed("seed", self.seed)
        lay.addLayout(b)

        # --- a control for every field a style has that no code above placed
        for cls, binder in self.binders.items():
            more = binder.rest()
            if more is None:
                continue
            box = QWidget()
            ml = QVBoxLayout(box)
            ml.setContentsMargins(0, 6, 0, 0)
            ml.setSpacing(6)
            ml.addWidget(section_title("More settings"))
            ml.addWidget(more)
            lay.addWidget(self._only(cls, box))
        lay.addStretch(1)
        self.generate_button = add_generate_button(
            lay, self.generate, "Generate a batch (Ctrl+Enter)"
        )
        return controls_scroll(body, 348, "SpriteControlsScroll")

    def _build_attr_pickers(self) -> QWidget:
        box = QWidget()
        box.setObjectName("AttributePickers")
        lay = QVBoxLayout(box)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(6)
        hdr = QHBoxLayout()
        hdr.addWidget(section_title("Character"))
        hdr.addStretch(1)
        self.reset_attrs = QToolButton()
        self.reset_attrs.setText("All any")
        self.reset_attrs.setToolTip("Set every picker to 'any' (drawn from the seed)")
        self.reset_attrs.setAutoRaise(True)
        self.reset_attrs.clicked.connect(lambda: self.set_attrs({}))
        hdr.addWidget(self.reset_attrs)
        lay.addLayout(hdr)
        grid = QGridLayout()
        grid.setHorizontalSpacing(6)
        grid.setVerticalSpacing(4)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(2, 1)
        self.attr_combos: dict[str, QComboBox] = {}
        for row, (label, style_key, colour_key) in enumerate(state.ATTR_ROWS):
            grid.addWidget(field_label(label), row, 0)
            grid.addWidget(self._attr_combo(style_key), row, 1, 1, 1 if colour_key else 2)
            if colour_key:
                grid.addWidget(self._attr_combo(colour_key), row, 2)
        lay.addLayout(grid)
        self.binder.bind("attrs", self.reset_attrs, self.attrs, self.set_attrs)
        lay.addWidget(muted_label("'any' is drawn from the seed; a choice is locked."))
        return box

    def _attr_combo(self, key: str) -> QComboBox:
        combo = QComboBox()
        title = state.ATTR_TITLES[key]
        combo.setToolTip(f"{title}: 'any' draws it from the seed")
        combo.addItem(
            "any tone" if key == "skin" else "any colour" if key in state.COLOUR_KEYS else "any",
            ANY,
        )
        for value in procedural.ATTRIBUTES[key]:
            ramp = _ramp_of(key, value)
            if ramp is not None:
                combo.addItem(swatch_pixmap([ramp[2]], 12, 12), state.value_label(value), value)
            else:
                combo.addItem(state.value_label(value), value)
        combo.setMinimumContentsLength(7)
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        combo.currentIndexChanged.connect(lambda _i, c=combo: self._style_combo(c))
        self.attr_combos[key] = combo
        return combo

    def _style_combo(self, combo: QComboBox) -> None:
        f = combo.font()
        f.setItalic(combo.currentData() == ANY)
        combo.setFont(f)

    def _style_license(self) -> None:
        c = theme.current()
        self.license_note.setStyleSheet(
            f"QLabel#LicenseNote {{ background: {c.info_bg}; color: {c.text}; "
            f"border: 1px solid {c.border}; border-radius: 5px; padding: 5px 7px; }}"
        )

    # ====================================================================== candidates (top)

    def _build_candidates(self) -> QWidget:
        card, lay, hdr = titled_card("Candidates", spacing=8)
        self.batch_info, self.progress = batch_status(hdr, 120)
        self.reroll_button = QPushButton("Re-roll")
        self.reroll_button.setIcon(icons.icon("retry", 16))
        self.reroll_button.setToolTip("Same settings, a new random seed")
        self.reroll_button.clicked.connect(self.reroll)
        self.variations_button = QPushButton("Variations")
        self.variations_button.setIcon(icon("variations"))
        self.variations_button.setToolTip(
            "The selected character in other colours: its body, hair style, clothes and item "
            "are kept, the colours are drawn again"
        )
        self.variations_button.clicked.connect(self.variations)
        hdr.addWidget(self.reroll_button)
        hdr.addWidget(self.variations_button)

        self.grid = QListWidget()
        self.grid.setObjectName("SpriteCandidates")
        self.grid.setViewMode(QListView.ViewMode.IconMode)
        self.grid.setResizeMode(QListView.ResizeMode.Adjust)
        self.grid.setMovement(QListView.Movement.Static)
        self.grid.setUniformItemSizes(True)
        self.grid.setGridSize(TILE)
        self.grid.setSpacing(0)
        self.grid.setFrameShape(QFrame.Shape.NoFrame)
        self.grid.setMouseTracking(True)
        self.grid.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.grid.setItemDelegate(CandidateDelegate(self.grid))
        self.grid.currentItemChanged.connect(self._current_item_changed)
        self.grid.setAutoFillBackground(False)
        self.grid.viewport().setAutoFillBackground(False)
        self.empty = QLabel(
            "No candidates yet.\nDescribe a character or pick attributes, then press Generate."
        )
        self.empty.setObjectName("EmptyState")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.grid_stack = QStackedWidget()
        self.grid_stack.addWidget(self.empty)
        self.grid_stack.addWidget(self.grid)
        lay.addWidget(self.grid_stack, 1)
        return card

    # ====================================================================== preview (bottom)

    def _build_preview(self) -> QWidget:
        card, lay, hdr = titled_card("Preview", spacing=8)
        self.preview_info = info_label()
        hdr.addWidget(self.preview_info, 1)
        self.export_button = QPushButton("Export\u2026")
        self.export_button.setIcon(icon("export"))
        self.export_button.setToolTip(
            "Write the selected sheet as PNG, Aseprite JSON, Godot SpriteFrames or frames"
        )
        self.export_button.clicked.connect(self.open_export_dialog)
        hdr.addWidget(self.export_button)

        views = QWidget()
        self._views_row = QHBoxLayout(views)
        self._views_row.setContentsMargins(0, 4, 0, 4)
        self._views_row.setSpacing(state.VIEW_GAP)
        self._views_row.addStretch(1)
        self._views_row.addStretch(1)
        self.views: list[FrameView] = []
        self._ensure_views(len(self._layout.directions))
        self.views_scroll = QScrollArea()
        self.views_scroll.setWidget(views)
        self.views_scroll.setWidgetResizable(True)
        self.views_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.views_scroll.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.views_scroll.viewport().setAutoFillBackground(False)
        views.setAutoFillBackground(False)
        self.preview_empty = QLabel("Select a candidate to see it move.")
        self.preview_empty.setObjectName("EmptyState")
        self.preview_empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview_desc = muted_label()
        self.preview_desc.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview_desc.setWordWrap(True)
        self.preview_desc.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Minimum)
        #: what the generator made of the selected sheet's prompt, and its notes
        self.sheet_info = wrapped_label("SheetInfo")
        self.sheet_info.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview_stack = QStackedWidget()
        self.preview_stack.addWidget(self.preview_empty)
        self.preview_stack.addWidget(self.views_scroll)
        lay.addWidget(self.preview_stack, 1)
        lay.addWidget(self.preview_desc)
        lay.addWidget(self.sheet_info)

        bar = QHBoxLayout()
        bar.setSpacing(6)
        self.anim_combo = QComboBox()
        self.anim_combo.setObjectName("SpriteAnimation")
        self.anim_combo.setToolTip("The animation to play (those the selected sheet has)")
        self.anim_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.anim_combo.activated.connect(lambda i: self.set_animation(self.anim_combo.itemData(i)))
        self.direction_combo = QComboBox()
        self.direction_combo.setObjectName("SpriteDirection")
        self.direction_combo.setToolTip("Which way the character faces (those the animation has)")
        self.direction_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.direction_combo.activated.connect(
            lambda i: self.set_direction(self.direction_combo.itemData(i))
        )
        bar.addWidget(self.anim_combo)
        bar.addWidget(self.direction_combo)
        bar.addSpacing(10)
        self.play_button = QToolButton()
        self.play_button.setCheckable(True)
        self.play_button.setChecked(True)
        self.play_button.setIconSize(QSize(16, 16))
        self.play_button.toggled.connect(self.set_playing)
        bar.addWidget(self.play_button)
        self.fps = QDoubleSpinBox()
        self.fps.setRange(0.5, 30.0)
        self.fps.setDecimals(1)
        self.fps.setSingleStep(1.0)
        self.fps.setSuffix(" fps")
        self.fps.setFixedWidth(84)
        self.fps.setToolTip("Frames per second (defaults: the animation's frame duration)")
        self.fps.valueChanged.connect(self._fps_changed)
        bar.addWidget(self.fps)
        self.frame_label = muted_label()
        self.frame_label.setMinimumWidth(40)
        self.frame_label.setToolTip("Frame of the animation")
        bar.addWidget(self.frame_label)
        bar.addStretch(1)
        zl = muted_label("Zoom")
        zl.setContentsMargins(0, 0, 6, 0)
        bar.addWidget(zl)
        self.zoom = QSlider(Qt.Orientation.Horizontal)
        self.zoom.setRange(state.ZOOMS[0], state.ZOOMS[-1])
        self.zoom.setPageStep(1)
        self.zoom.setToolTip("Nearest-neighbour zoom, 1x to 8x")
        self.zoom.setFixedWidth(84)
        self.zoom.valueChanged.connect(self.set_zoom)
        bar.addWidget(self.zoom)
        self.zoom_label = QLabel()
        self.zoom_label.setMinimumWidth(28)
        self.zoom_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        bar.addWidget(self.zoom_label)
        lay.addLayout(bar)
        self.zoom.setValue(state.DEFAULT_ZOOM)
        self.set_zoom(state.DEFAULT_ZOOM)
        self._update_play_icon()
        self._set_layout(self._layout)
        return card

    def _ensure_views(self, n: int) -> None:
        """At least ``n`` frame views in the preview row (one per direction shown)."""
        while len(self.views) < n:
            v = FrameView("")
            v.set_zoom(self.zoom.value() if hasattr(self, "zoom") else state.DEFAULT_ZOOM)
            self.views.append(v)
            self._views_row.insertWidget(len(self.views), v, 0, Qt.AlignmentFlag.AlignVCenter)

    # ====================================================================== settings <-> controls

    def style(self) -> type:
        """The settings class of the chosen model (SpriteSettings or LpcSettings)."""
        return state.settings_for(self.model.currentData() or state.DEFAULT_MODEL)

    def current_settings(self) -> Any:
        """The controls as settings of the chosen style; InvalidParamsError when the seed field
        is not a number."""
        model = self.model.currentData() or state.DEFAULT_MODEL
        cls = state.settings_for(model)
        return cls(model=model, **self.binders[cls].values())

    def apply_to_controls(self, s: Any) -> None:
        i = self.model.findData(s.model)
        if i < 0 and s.model:
            # a model this studio does not have (any more): show it, generation will say why
            self.model.addItem(state.model_label(s.model), s.model)
            i = self.model.count() - 1
        self.model.setCurrentIndex(max(0, i))
        self._last_colors = s.palette_colors
        self.binders[state.settings_for(s.model)].apply(s.to_params())

    def set_model(self, model: str) -> None:
        """Choose a sprite model (a style) by its generator name."""
        i = self.model.findData(model)
        if i >= 0:
            self.model.setCurrentIndex(i)

    def _model_changed(self, _index: int = -1) -> None:
        cls = self.style()
        for owner, widgets in self._style_widgets.items():
            for w in widgets:
                w.setVisible(owner is cls)
        self.prompt.setPlaceholderText(PROMPT_HINTS.get(cls, PROMPT_HINTS[state.SpriteSettings]))
        self._style_license()
        if self._current is None:
            self._set_layout(state.style_layout(self.model.currentData() or state.DEFAULT_MODEL))
        self._update_prompt_feedback()

    def attrs(self) -> dict[str, str]:
        return {k: c.currentData() for k, c in self.attr_combos.items() if c.currentData() != ANY}

    def set_attrs(self, attrs: dict[str, str]) -> None:
        for k, combo in self.attr_combos.items():
            i = combo.findData(attrs.get(k, ANY))
            combo.setCurrentIndex(max(0, i))
            self._style_combo(combo)

    def _colors_changed(self, v: int) -> None:
        if v == 1:  # 1 colour is not a palette: step over it
            v = 2 if self._last_colors == 0 else 0
            self.colors.setValue(v)
        self._last_colors = v

    def _update_prompt_feedback(self) -> None:
        """The prompt's feedback under it: the last sheet's when it was made from this very
        prompt and style (words matched by meaning included), else the live one."""
        model = self.model.currentData() or state.DEFAULT_MODEL
        text = self.prompt.toPlainText()
        fb = state.prompt_feedback(text, model)
        last = self._last_result
        if (
            last is not None
            and not fb.error
            and text.strip()
            and last[0] == model
            and last[1] == text
        ):
            fb = last[2]
        self.prompt_info.setText(feedback_html(fb, "Words the generator knows become attributes."))
        self.prompt_info.setToolTip(fb.full_text())
        self.prompt_feedback = fb

    # --- palette ------------------------------------------------------------------------------

    _palette_file = ""

    def choose_palette(self) -> None:
        start = str(Path(self._palette_file).parent) if self._palette_file else str(Path.home())
        path, _ = QFileDialog.getOpenFileName(
            self, "Lock colours to a palette", start, PALETTE_FILTER
        )
        if path:
            self.set_palette_file(path)

    def set_palette_file(self, path: str | Path) -> bool:
        """Load a palette file (or clear it with ""); a bad file keeps the previous one, shows
        the reason and returns False."""
        if not path:
            self._set_palette("", None)
            return True
        try:
            colors = palettes.read_palette(path)
        except GenStudioError as e:
            self.ctx.show_message(e.user_message(), "error")
            return False
        self._set_palette(str(path), colors)
        return True

    def _set_palette(self, path: str, colors) -> None:
        self._palette_file = path
        self.palette_clear.setVisible(bool(path))
        if not path:
            self.palette_info.setText("none: the character's own colours")
            self.palette_swatch.clear()
            self.palette_swatch.hide()
            return
        if colors is None:
            try:
                colors = palettes.read_palette(path)
            except GenStudioError as e:
                self.palette_info.setText(f"{Path(path).name}: {e.user_message()}")
                self.palette_swatch.hide()
                return
        rgb = [tuple(int(v) for v in c) for c in colors]
        self.palette_info.setText(f"{Path(path).name} \u2022 {len(rgb)} colours")
        self.palette_info.setToolTip(path)
        shown = rgb[:20]
        self.palette_swatch.setPixmap(swatch_pixmap(shown, 14, 14))
        self.palette_swatch.setToolTip(" ".join(palettes.rgb_hex(c) for c in rgb))
        self.palette_swatch.show()

    # ====================================================================== hooks

    def generate(self) -> bool:
        self.fresh_seed()
        try:
            s = self.current_settings()
        except InvalidParamsError as e:
            self.ctx.show_message(e.user_message(), "error")
            return True
        return self._submit(s, self._title(s))

    def reroll(self) -> bool:
        """Same settings, a new random seed (shown in the seed field)."""
        self.roll_seed()
        return self.generate()

    def variations(self) -> bool:
        """The selected character with its shape kept and its colours drawn again."""
        cand = self._current
        if cand is None or not cand.attrs:
            self.ctx.show_message("Select a candidate to make variations of it.", "info")
            return False
        try:
            source = state.settings_from_record(
                cand.record.generator, cand.record.params, cand.record.seed
            )
        except InvalidParamsError as e:
            self.ctx.show_message(e.user_message(), "error")
            return False
        s = state.variation_settings(
            source, cand.attrs, seed=state.random_seed(), count=self.count.value()
        )
        return self._submit(s, f"Variations of {cand.asset_id}", source=cand)

    def apply_settings(self, record: AssetRecord) -> None:
        s = state.settings_from_record(record.generator, record.params, record.seed)
        self.apply_to_controls(s)
        if s.palette_file and not Path(s.palette_file).is_file():
            self.ctx.show_message(
                f"The palette file {s.palette_file} of this sprite is gone; choose it again or "
                "clear it before generating.",
                "warning",
            )

    def accepts_drop(self, path: Path) -> bool:
        return path.suffix.lower() in PALETTE_SUFFIXES

    def handle_drop(self, path: Path) -> None:
        if self.set_palette_file(path):
            self.ctx.show_message(f"Colours locked to the palette {path.name}.")

    def focus_search(self) -> bool:
        return False

    def activated(self) -> None:
        if self._current is not None and self.play_button.isChecked():
            self._timer.start()

    def shutdown(self) -> None:
        self._timer.stop()
        self.unfollow_jobs()

    # ====================================================================== jobs -> candidates

    def _title(self, s: Any) -> str:
        what = s.prompt.strip().splitlines()[0][:40] if s.prompt.strip() else "characters"
        n = s.count
        return f"{n} sprite{'s' if n != 1 else ''}: {what} (seed {s.seed})"

    def _submit(self, s: Any, title: str, source: Candidate | None = None) -> bool:
        if self.need_project():
            return True
        params = s.to_params()
        if source is not None:
            params["parent"] = source.asset_id  # recorded in every variation's sidecar
        job = self.submit(s.model, params, title=title)
        if job is None:
            return True
        self._batch_title = title
        self._clear_candidates()
        if source is not None:
            self._add_candidate(source.record, badge="source")
        self.start_batch(job, s.count)
        self._update_buttons()
        return True

    def _on_project_changed(self, _project: Project | None) -> None:
        self._clear_candidates()
        self._batch_job = None
        self._last_result = None
        self.progress.hide()
        self.batch_info.setText("")
        self._update_prompt_feedback()

    def _on_job_event(self, event: JobEvent) -> None:
        if event.job_id not in self._my_jobs:
            return
        if event.job_id != self._batch_job:
            return  # an older batch: its sheets are in the gallery
        if event.type == EventType.ASSET and event.asset_id:
            self._add_asset(event.asset_id)
        elif event.type == EventType.PROGRESS:
            self.progress.setValue(int(event.fraction * 1000))
        elif event.type == EventType.STATE and event.state is not None:
            st = event.state.value
            if st in FINAL_STATES:
                self.progress.hide()
                n = (
                    self._count_new()
                    if st == "done"
                    else sum(1 for c in self._candidates.values() if c.asset_id)
                )
                self.report_batch_end(event.job_id, st, n, "Sprite")
            elif st == "running":
                self.batch_info.setText(f"generating {self._batch_total}\u2026")

    def _count_new(self) -> int:
        return sum(1 for i in range(self.grid.count()) if not self.grid.item(i).data(BadgeRole))

    def _add_asset(self, asset_id: str) -> None:
        rec = self.gallery_record(asset_id, "sprite")
        if rec is None:
            return
        self._add_candidate(rec)
        prompt = rec.params.get("prompt", "") if isinstance(rec.params, dict) else ""
        if isinstance(prompt, str):
            fb = state.sheet_feedback(rec.generator, rec.params, rec.extra)
            # the sheet's notes are about that character; the prompt line keeps the words
            words = state.PromptFeedback(
                matched=fb.matched, unknown=fb.unknown, by_meaning=fb.by_meaning
            )
            self._last_result = (rec.generator, prompt, words)
            self._update_prompt_feedback()

    def load_candidate(self, rec: AssetRecord) -> Candidate | None:
        project = self.ctx.project
        if project is None:
            return None
        path = project.asset_path(rec)
        from genstudio.ui.imagefile import load_image

        loaded, why = load_image(path)
        if loaded is None:
            log.warning("sprite sheet %s could not be decoded: %s", path, why)
            return None
        img = loaded.image.convertToFormat(QImage.Format.Format_ARGB32)
        try:
            lay = state.sheet_layout(img.width(), img.height(), rec.extra.get("layout"))
        except InvalidParamsError as e:
            log.warning("%s: %s", rec.id, e.user_message())
            return None
        return Candidate(rec.id, rec, img, lay)

    def _add_candidate(self, rec: AssetRecord, badge: str = "") -> None:
        cand = self.load_candidate(rec)
        if cand is None:
            return
        self._candidates[rec.id] = cand
        item = QListWidgetItem(f"seed {rec.seed}" if rec.seed is not None else rec.id)
        item.setData(FrameRole, cand.thumbnail())
        item.setData(AssetRole, rec.id)
        item.setData(BadgeRole, badge)
        item.setToolTip(
            f"{state.describe(rec.generator, cand.attrs)}\nseed {rec.seed} \u2022 "
            f"{state.model_label(rec.generator)}\n{rec.id}"
        )
        item.setSizeHint(TILE)
        self.grid.addItem(item)
        self.grid_stack.setCurrentWidget(self.grid)
        if self.grid.currentItem() is None:
            self.grid.setCurrentItem(item)
        self.candidate_added.emit(rec.id)
        if self.progress.isVisible():
            self.batch_info.setText(f"{self._count_new()} of {self._batch_total}")

    def _clear_candidates(self) -> None:
        self.grid.blockSignals(True)
        self.grid.clear()
        self.grid.blockSignals(False)
        self._candidates.clear()
        self.grid_stack.setCurrentWidget(self.empty)
        self.select(None)

    def candidate_ids(self) -> list[str]:
        return item_ids(self.grid, AssetRole)

    def _current_item_changed(self, item: QListWidgetItem | None, _prev=None) -> None:
        cand = self._candidates.get(item.data(AssetRole)) if item is not None else None
        self.select(cand)

    def select_asset(self, asset_id: str) -> None:
        select_item(self.grid, asset_id, AssetRole)

    # ====================================================================== preview

    def select(self, cand: Candidate | None) -> None:
        self._current = cand
        self._frame = 0
        if cand is None:
            self._timer.stop()
            self.preview_stack.setCurrentWidget(self.preview_empty)
            self.preview_info.setText("")
            self.preview_info.setToolTip("")
            self.preview_desc.setText("")
            self.sheet_info.setText("")
            self.sheet_info.setToolTip("")
            for v in self.views:
                v.set_frame(None)
            self._set_layout(state.style_layout(self.model.currentData() or state.DEFAULT_MODEL))
        else:
            self.preview_stack.setCurrentWidget(self.views_scroll)
            rec = cand.record
            lay = cand.layout
            desc = state.describe(rec.generator, cand.attrs)
            self.preview_info.setText(
                f"  seed {rec.seed} \u2022 {lay.frame_w}x{lay.frame_h} px \u2022 "
                f"{len(lay.animations)} animations \u2022 {state.model_label(rec.generator)}"
            )
            licence = rec.extra.get("license")
            self.preview_info.setToolTip(
                f"{rec.id}\n{desc}" + (f"\nLicense: {licence}" if licence else "")
            )
            self.preview_desc.setText(desc)
            self._show_sheet_feedback(cand)
            self.set_zoom(self._zoom_for(lay))
            self._set_layout(lay)
            if self.play_button.isChecked():
                self._timer.start()
        self._update_buttons()

    def _show_sheet_feedback(self, cand: Candidate) -> None:
        fb = cand.feedback()
        self.sheet_info.setText(feedback_html(fb))
        self.sheet_info.setToolTip(fb.full_text())
        self.sheet_feedback = fb

    def current_candidate(self) -> Candidate | None:
        return self._current

    def current_layout(self) -> SheetLayout:
        """The layout whose animations the preview offers (the selected sheet's, else the
        chosen style's)."""
        return self._layout

    @property
    def animation(self) -> str:
        return self._animation

    @property
    def direction(self) -> str:
        """The chosen direction ("" = every direction the animation has)."""
        return self._direction

    def animations(self) -> list[str]:
        """The animations in the selector (those of :meth:`current_layout`)."""
        return [self.anim_combo.itemData(i) for i in range(self.anim_combo.count())]

    def directions(self) -> list[str]:
        """The directions the selector offers for the current animation ("every direction"
        not counted)."""
        return [
            d
            for d in (self.direction_combo.itemData(i) for i in range(self.direction_combo.count()))
            if d != ALL_DIRECTIONS
        ]

    def shown_tracks(self) -> list[Track]:
        """The tracks playing in the preview, one per frame view."""
        return list(self._tracks)

    def frame_index(self) -> int:
        return self._frame

    def _set_layout(self, lay: SheetLayout) -> None:
        """Offer ``lay``'s animations; the current one stays when ``lay`` has it."""
        self._layout = lay
        names = lay.animations
        self.anim_combo.blockSignals(True)
        self.anim_combo.clear()
        for name in names:
            t = lay.track(name)
            self.anim_combo.addItem(state.animation_label(name), name)
            if t is not None:
                self.anim_combo.setItemData(
                    self.anim_combo.count() - 1,
                    f"{t.frames} frames at {t.frame_ms} ms, "
                    f"{'looping' if t.loop else 'played once in a game'}; faces "
                    f"{', '.join(lay.directions_of(name))}",
                    Qt.ItemDataRole.ToolTipRole,
                )
        self.anim_combo.blockSignals(False)
        keep = self._animation if self._animation in names else "walk" if "walk" in names else ""
        self.set_animation(keep or (names[0] if names else ""), keep_fps=True)

    def set_animation(self, name: str, *, keep_fps: bool = False) -> None:
        """Play animation ``name`` of the current layout (its directions in the direction
        selector, its frame duration as the fps; ``keep_fps``: keep a speed the user chose
        when the animation and its frame duration stay the same)."""
        lay = self._layout
        if name not in lay.animations:
            name = lay.animations[0] if lay.animations else ""
        self._animation = name
        i = self.anim_combo.findData(name)
        if i >= 0 and self.anim_combo.currentIndex() != i:
            self.anim_combo.setCurrentIndex(i)
        dirs = lay.directions_of(name)
        self.direction_combo.blockSignals(True)
        self.direction_combo.clear()
        if len(dirs) > 1:
            self.direction_combo.addItem("All directions", ALL_DIRECTIONS)
        for d in dirs:
            self.direction_combo.addItem(d.capitalize(), d)
        self.direction_combo.blockSignals(False)
        self.direction_combo.setEnabled(len(dirs) > 1)
        if self._direction not in dirs:
            self._direction = ALL_DIRECTIONS
        self.direction_combo.setCurrentIndex(max(0, self.direction_combo.findData(self._direction)))
        track = lay.track(name)
        timing = (name, track.frame_ms if track is not None else 0)
        if not keep_fps or timing != self._fps_for:
            self.fps.setValue(round(state.fps_of(track), 1))
            self._fps_for = timing
        self._frame = 0
        self._update_tracks()

    def set_direction(self, direction: str) -> None:
        """Show one direction of the animation ("" = all of them)."""
        dirs = self._layout.directions_of(self._animation)
        self._direction = direction if direction in dirs else ALL_DIRECTIONS
        self.direction_combo.setCurrentIndex(max(0, self.direction_combo.findData(self._direction)))
        self._update_tracks()

    def _update_tracks(self) -> None:
        self._tracks = state.shown_tracks(self._layout, self._animation, self._direction)
        self._ensure_views(len(self._tracks))
        for k, v in enumerate(self.views):
            if k < len(self._tracks):
                v.caption = self._tracks[k].direction
                v.show()
            else:
                v.set_frame(None)
                v.hide()
        self._show_frame()

    def set_playing(self, playing: bool) -> None:
        if self.play_button.isChecked() != playing:
            self.play_button.setChecked(playing)  # re-enters through toggled
            return
        if playing and self._current is not None:
            self._timer.start()
        else:
            self._timer.stop()
        self._update_play_icon()

    def is_playing(self) -> bool:
        return self._timer.isActive()

    def _update_play_icon(self) -> None:
        playing = self.play_button.isChecked()
        self.play_button.setIcon(icon("pause" if playing else "play"))
        self.play_button.setToolTip("Pause" if playing else "Play")

    def _fps_changed(self, fps: float) -> None:
        self._timer.setInterval(max(15, round(1000.0 / max(0.1, fps))))

    def set_fps(self, fps: float) -> None:
        self.fps.setValue(fps)

    def set_zoom(self, zoom: int) -> None:
        zoom = max(state.ZOOMS[0], min(state.ZOOMS[-1], int(zoom)))
        if self.zoom.value() != zoom:
            self.zoom.setValue(zoom)  # re-enters
            return
        self.zoom_label.setText(f"{zoom}x")
        for v in self.views:
            v.set_zoom(zoom)
        if self._current is not None:
            self._zooms[self._current.layout.frame_w] = zoom

    def _zoom_for(self, lay: SheetLayout) -> int:
        """The zoom for a sheet of ``lay``'s frame size: the one last used for that size, else
        the largest (up to the default) at which every direction fits the preview."""
        if lay.frame_w in self._zooms:
            return self._zooms[lay.frame_w]
        vp = self.views_scroll.viewport()
        w, h = vp.width(), vp.height()
        if w < 100 or h < 60:  # not laid out yet
            return state.DEFAULT_ZOOM
        n = max(1, len(lay.directions))
        return state.fit_zoom(lay.frame_w, lay.frame_h, n, w, h)

    def _frames(self) -> int:
        return max([t.frames for t in self._tracks] or [1])

    def _tick(self) -> None:
        if self._current is None:
            self._timer.stop()
            return
        self._frame = (self._frame + 1) % self._frames()
        self._show_frame()

    def current_cells(self) -> list[tuple[int, int]]:
        """The (row, column) shown in each frame view now."""
        return [t.cells()[self._frame % t.frames] for t in self._tracks]

    def _show_frame(self) -> None:
        n = self._frames()
        self._frame %= n
        self.frame_label.setText(f"{self._frame + 1}/{n}")
        cand = self._current
        if cand is None:
            return
        for v, cell in zip(self.views, self.current_cells(), strict=False):
            v.set_frame(cand.frame(cell))
        self.frame_changed.emit(self._frame)

    def _update_buttons(self) -> None:
        has = self._current is not None
        self.variations_button.setEnabled(has and bool(self._current and self._current.attrs))
        self.export_button.setEnabled(has)

    # ====================================================================== export

    def default_export_dir(self) -> Path:
        if self._export_dir is not None:
            return self._export_dir
        project = self.ctx.project
        return (project.root / "exports") if project is not None else Path.home()

    def open_export_dialog(self) -> ExportDialog | None:
        cand = self._current
        if cand is None:
            return None
        stem = state.export_stem(cand.record.extra.get("name_hint"), cand.asset_id)
        dlg = ExportDialog(self, self.default_export_dir(), stem)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.export_dialog = dlg
        dlg.open()
        return dlg

    def export_selected(
        self, out_dir: Path, stem: str, formats: list[str], scale: int
    ) -> list[Path] | None:
        """Export the selected sheet; a message says what was written (or why not)."""
        cand = self._current
        project = self.ctx.project
        if cand is None or project is None:
            self.ctx.show_message("Select a candidate to export.", "info")
            return None
        if not str(out_dir).strip() or str(out_dir) == ".":
            self.ctx.show_message("Choose a folder to export to.", "error")
            return None
        try:
            extra = cand.record.extra if isinstance(cand.record.extra, dict) else {}
            written = state.export_asset(
                project.asset_path(cand.record),
                out_dir,
                stem,
                formats,
                scale,
                credits=extra.get("credits"),
            )
        except GenStudioError as e:
            self.ctx.show_message(f"Export failed: {e.user_message()}", "error")
            return None
        except OSError as e:
            self.ctx.show_message(f"Export failed: {e}", "error")
            return None
        self._export_dir = out_dir
        n = len(written)
        self.ctx.show_message(f"Exported {n} file{'s' if n != 1 else ''} to {out_dir}.")
        return written

    def hideEvent(self, event) -> None:  # noqa: N802 - Qt API
        self._timer.stop()  # no animation while another mode is shown
        super().hideEvent(event)

    def showEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        if self._current is not None and self.play_button.isChecked():
            self._timer.start()

    # ====================================================================== theme

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt API
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            self._update_prompt_feedback()
            self._update_play_icon()
            self._style_license()
            if self._current is not None:
                self._show_sheet_feedback(self._current)
        super().changeEvent(event)
