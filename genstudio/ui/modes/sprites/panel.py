"""The Sprites mode: describe a character, generate a batch, pick one, watch it walk, export.

Controls on the left edit a :class:`state.SpriteSettings`; *Generate* (Ctrl+Enter) submits a
``sprites.*`` job through the job bridge. The sheets arrive as gallery assets (the runner writes
file + sidecar); the panel follows the job events of its own jobs and shows each new sheet as a
candidate tile. Selecting one plays it in four directions with a QTimer. Nothing here blocks the
GUI thread: generation runs on the runner's worker, and a sheet PNG is a few KB to decode.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
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
    QSlider,
    QStackedWidget,
    QToolButton,
    QWidget,
)

from genstudio.core.errors import GenStudioError, InvalidParamsError
from genstudio.generators import palettes
from genstudio.generators.sprites import procedural
from genstudio.generators.sprites.generator import SpriteParams
from genstudio.ui import icons, theme
from genstudio.ui.modes.base import (
    FINAL_STATES,
    GeneratingPanel,
    batch_status,
    clear_button,
    controls_body,
    controls_scroll,
    count_and_seed,
    field_label,
    finish_controls,
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
PALETTE_SUFFIXES = (".gpl", ".hex", ".pal")
PALETTE_FILTER = (
    "Palettes (*.gpl *.pal *.hex *.png);;GIMP palette (*.gpl);;JASC/RIFF palette (*.pal);;"
    "Hex list (*.hex);;Images (*.png)"
)

_RAMPS = {
    "skin": palettes.SKIN_RAMPS,
    "hair_color": palettes.HAIR_RAMPS,
    "eyes": palettes.EYE_RAMPS,
}


# palette(...) references follow the application palette, so this works in both themes
_STYLE = """
QToolButton#AnimLeft, QToolButton#AnimRight, QToolButton#AnimMid {
    padding: 3px 12px; border: 1px solid palette(mid); background: palette(base);
}
QToolButton#AnimLeft { border-top-left-radius: 5px; border-bottom-left-radius: 5px; }
QToolButton#AnimRight {
    border-top-right-radius: 5px; border-bottom-right-radius: 5px; border-left: none;
}
QToolButton#AnimLeft:checked, QToolButton#AnimRight:checked, QToolButton#AnimMid:checked {
    background: palette(highlight); color: palette(highlighted-text); border-color: palette(highlight);
}
"""


def _ramp_of(key: str, value: str):
    table = _RAMPS.get(key, palettes.CLOTH_RAMPS if key.endswith("_color") else None)
    return table.get(value) if table else None


@dataclass
class Candidate:
    """One sheet in the grid: the asset and its frames (QImage, cut once)."""

    asset_id: str
    record: AssetRecord
    sheet: QImage
    geometry: state.SheetGeometry
    frames: list[list[QImage]] = field(default_factory=list)  # [direction][column]

    @property
    def attrs(self) -> dict[str, str]:
        a = self.record.extra.get("attrs") or self.record.params.get("attrs") or {}
        return dict(a) if isinstance(a, dict) else {}

    @property
    def seed(self) -> int | None:
        return self.record.seed

    def frame(self, direction: int, column: int) -> QImage:
        return self.frames[direction][column]


class SpritesPanel(GeneratingPanel):
    """Prompt + attribute pickers -> candidates -> animated preview -> export."""

    no_project_message = "Open or create a project first: sprites are saved in it."
    #: a candidate tile was added (asset id); for tests and listeners
    candidate_added = Signal(str)
    #: the previewed frame changed (column index in the animation)
    frame_changed = Signal(int)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self._batch_title = ""
        self._candidates: dict[str, Candidate] = {}
        self._current: Candidate | None = None
        self._frame = 0
        self._export_dir: Path | None = None
        self._animation = "walk"
        self.export_dialog: ExportDialog | None = None
        #: every SpriteParams field <-> its control (range, label, tooltip from the spec)
        self.binder = Binder(SpriteParams)

        self.splitter = mode_layout(
            self,
            self._build_controls(),
            self._build_candidates(),
            self._build_preview(),
            stretch=(1, 1),
            sizes=[380, 420],
        )

        self._timer = QTimer(self)
        self._timer.timeout.connect(self._tick)
        self._set_animation("walk")

        self.follow_jobs()
        self.setStyleSheet(_STYLE)
        self.apply_to_controls(state.SpriteSettings(seed=state.random_seed()))
        self._update_prompt_feedback()
        self._update_buttons()

    # ====================================================================== controls (left)

    def _build_controls(self) -> QWidget:
        body, lay = controls_body("SpriteControls")

        # --- model
        top = QHBoxLayout()
        top.addWidget(section_title("Sprites"))
        top.addStretch(1)
        self.model = QComboBox()
        self.model.setToolTip("Which generator draws the characters")
        for name in state.sprite_models():
            self.model.addItem(state.model_label(name), name)
            self.model.setItemData(
                self.model.count() - 1,
                state.MODEL_TIPS.get(name, name),
                Qt.ItemDataRole.ToolTipRole,
            )
        top.addWidget(muted_label("Model"))
        top.addWidget(self.model)
        lay.addLayout(top)

        # --- prompt
        lay.addSpacing(4)
        self.prompt = QPlainTextEdit()
        self.prompt.setPlaceholderText(
            "Describe the character, e.g. 'stocky knight, red hair, blue cape' "
            "(optional: the pickers below win)"
        )
        self.prompt.setTabChangesFocus(True)
        self.prompt.setFixedHeight(58)
        self.prompt.textChanged.connect(self._update_prompt_feedback)
        self.binder.text("prompt", self.prompt)
        lay.addWidget(self.prompt)
        self.prompt_info = QLabel()
        self.prompt_info.setObjectName("PromptInfo")
        self.prompt_info.setWordWrap(True)
        self.prompt_info.setTextFormat(Qt.TextFormat.RichText)
        lay.addWidget(self.prompt_info)

        # --- attributes
        lay.addSpacing(6)
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

        # --- pixels
        lay.addSpacing(6)
        lay.addWidget(section_title("Pixels"))
        form = QGridLayout()
        form.setHorizontalSpacing(8)
        form.setVerticalSpacing(6)
        form.setColumnStretch(1, 1)

        self.size = self.binder.combo(
            "size",
            items=[
                (f"{s} x {s} px" + ("  (native)" if s == state.NATIVE_SIZE else ""), s)
                for s in state.SIZES
            ],
        )
        form.addWidget(self.binder.label("size"), 0, 0)
        form.addWidget(self.size, 0, 1)

        self.colors = self.binder.spin("palette_colors")
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
        self.palette_clear = clear_button("Stop using the palette file", lambda: self.set_palette_file(""))
        pal_row.addWidget(self.palette_button)
        pal_row.addWidget(self.palette_clear)
        pal_row.addStretch(1)
        self.binder.bind(
            "palette_file", self.palette_button, lambda: self._palette_file,
            lambda v: self._set_palette(v, None),
        )  # fmt: skip
        form.addWidget(field_label("Palette"), 2, 0)
        form.addLayout(pal_row, 2, 1)
        self.palette_info = muted_label()
        self.palette_info.setWordWrap(True)
        form.addWidget(self.palette_info, 3, 1)
        self.palette_swatch = QLabel()
        form.addWidget(self.palette_swatch, 4, 1)

        self.outline = self.binder.check("outline", QCheckBox("1-px dark outline"))
        form.addWidget(self.outline, 5, 1)
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
        lay.addLayout(b)
        self.generate_button = finish_controls(lay, self.binder, self.generate, "Generate a batch (Ctrl+Enter)")
        return controls_scroll(body, 348, "SpriteControlsScroll")

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
        vl = QHBoxLayout(views)
        vl.setContentsMargins(0, 4, 0, 4)
        vl.setSpacing(14)
        vl.addStretch(1)
        self.views: list[FrameView] = []
        for d in procedural.DIRECTIONS:
            v = FrameView(d)
            self.views.append(v)
            vl.addWidget(v, 0, Qt.AlignmentFlag.AlignVCenter)
        vl.addStretch(1)
        self.views_scroll = QScrollArea()
        self.views_scroll.setWidget(views)
        self.views_scroll.setWidgetResizable(True)
        self.views_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.views_scroll.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.views_scroll.viewport().setAutoFillBackground(False)
        views.setAutoFillBackground(False)
        self.preview_empty = QLabel("Select a candidate to see it idle and walk.")
        self.preview_empty.setObjectName("EmptyState")
        self.preview_empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview_desc = muted_label()
        self.preview_desc.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview_desc.setWordWrap(True)
        self.preview_stack = QStackedWidget()
        self.preview_stack.addWidget(self.preview_empty)
        self.preview_stack.addWidget(self.views_scroll)
        lay.addWidget(self.preview_stack, 1)
        lay.addWidget(self.preview_desc)

        bar = QHBoxLayout()
        bar.setSpacing(6)
        self.anim_buttons = QButtonGroup(self)
        self.anim_buttons.setExclusive(True)
        bar.setSpacing(0)
        for i, (name, _n) in enumerate(procedural.ANIMATIONS):
            btn = QToolButton()
            last = i == len(procedural.ANIMATIONS) - 1
            btn.setObjectName("AnimLeft" if i == 0 else "AnimRight" if last else "AnimMid")
            btn.setText(name.capitalize())
            btn.setCheckable(True)
            btn.setToolTip(f"Play the {name} animation")
            self.anim_buttons.addButton(btn)
            btn.clicked.connect(lambda _c=False, n=name: self._set_animation(n))
            btn.setProperty("anim", name)
            bar.addWidget(btn)
        bar.addSpacing(10)
        self.play_button = QToolButton()
        self.play_button.setCheckable(True)
        self.play_button.setChecked(True)
        self.play_button.setIconSize(QSize(16, 16))
        self.play_button.toggled.connect(self.set_playing)
        bar.addWidget(self.play_button)
        bar.addSpacing(6)
        self.fps = QDoubleSpinBox()
        self.fps.setRange(0.5, 30.0)
        self.fps.setDecimals(1)
        self.fps.setSingleStep(1.0)
        self.fps.setSuffix(" fps")
        self.fps.setFixedWidth(84)
        self.fps.setToolTip("Frames per second (defaults: the animation's frame duration)")
        self.fps.valueChanged.connect(self._fps_changed)
        bar.addWidget(self.fps)
        bar.addSpacing(6)
        self.frame_label = muted_label()
        self.frame_label.setMinimumWidth(34)
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
        self.zoom.setValue(3)
        self.set_zoom(3)
        self._update_play_icon()
        return card

    # ====================================================================== settings <-> controls

    def current_settings(self) -> state.SpriteSettings:
        """The controls as settings; InvalidParamsError when the seed field is not a number."""
        return state.SpriteSettings(
            model=self.model.currentData() or state.DEFAULT_MODEL, **self.binder.values()
        )

    def apply_to_controls(self, s: state.SpriteSettings) -> None:
        i = self.model.findData(s.model)
        if i < 0 and s.model:
            # a model this studio does not have (any more): show it, generation will say why
            self.model.addItem(state.model_label(s.model), s.model)
            i = self.model.count() - 1
        self.model.setCurrentIndex(max(0, i))
        self._last_colors = s.palette_colors
        self.binder.apply(s.to_params())

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
        fb = state.prompt_feedback(self.prompt.toPlainText())
        c = theme.current()
        if fb.error:
            text = f'<span style="color:{c.danger}">{html.escape(fb.error)}</span>'
        elif fb.empty:
            text = (
                f'<span style="color:{c.muted}">Words the generator knows become attributes.</span>'
            )
        else:
            parts = []
            if fb.matched:
                words = html.escape(", ".join(fb.matched))
                parts.append(
                    f'<span style="color:{c.muted}">understood:</span> '
                    f'<span style="color:{c.success}">{words}</span>'
                )
            if fb.unknown:
                words = html.escape(", ".join(dict.fromkeys(fb.unknown)))
                parts.append(
                    f'<span style="color:{c.muted}">ignored:</span> '
                    f'<span style="color:{c.warning}">{words}</span>'
                )
            text = "; ".join(parts)
        self.prompt_info.setText(text)
        self.prompt_info.setToolTip(fb.text())
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
            source = state.SpriteSettings.from_record(
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
        s = state.SpriteSettings.from_record(record.generator, record.params, record.seed)
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

    def _title(self, s: state.SpriteSettings) -> str:
        what = s.prompt.strip().splitlines()[0][:40] if s.prompt.strip() else "characters"
        n = s.count
        return f"{n} sprite{'s' if n != 1 else ''}: {what} (seed {s.seed})"

    def _submit(self, s: state.SpriteSettings, title: str, source: Candidate | None = None) -> bool:
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
        self.progress.hide()
        self.batch_info.setText("")

    def _on_job_event(self, event: JobEvent) -> None:
        if event.job_id not in self._my_jobs:
            return
        if event.job_id != self._batch_job:
            return  # an older batch: its sheets are in the gallery
        if event.type == "asset" and event.asset_id:
            self._add_asset(event.asset_id)
        elif event.type == "progress":
            self.progress.setValue(int(event.fraction * 1000))
        elif event.type == "state" and event.state is not None:
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
        if rec is not None:
            self._add_candidate(rec)

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
        img = loaded.image
        img = img.convertToFormat(QImage.Format.Format_ARGB32)
        try:
            geo = state.SheetGeometry.for_image(img.width(), img.height(), rec.extra.get("layout"))
        except InvalidParamsError as e:
            log.warning("%s: %s", rec.id, e)
            return None
        frames = [[img.copy(*geo.rect(d, c)) for c in range(geo.columns)] for d in range(geo.rows)]
        return Candidate(rec.id, rec, img, geo, frames)

    def _add_candidate(self, rec: AssetRecord, badge: str = "") -> None:
        cand = self.load_candidate(rec)
        if cand is None:
            return
        self._candidates[rec.id] = cand
        item = QListWidgetItem(f"seed {rec.seed}" if rec.seed is not None else rec.id)
        item.setData(FrameRole, cand.frame(0, 0))
        item.setData(AssetRole, rec.id)
        item.setData(BadgeRole, badge)
        item.setToolTip(
            f"{state.describe_attrs(cand.attrs)}\nseed {rec.seed} \u2022 {state.model_label(rec.generator)}"
            f"\n{rec.id}"
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
            self.preview_desc.setText("")
            for v in self.views:
                v.set_frame(None)
        else:
            self.preview_stack.setCurrentWidget(self.views_scroll)
            rec = cand.record
            g = cand.geometry
            self.preview_info.setText(
                f"  seed {rec.seed} \u2022 {g.frame_w}x{g.frame_h} px \u2022 "
                f"{state.model_label(rec.generator)}"
            )
            self.preview_desc.setText(state.describe_attrs(cand.attrs))
            self.preview_info.setToolTip(f"{rec.id}\n{state.describe_attrs(cand.attrs)}")
            for d, v in enumerate(self.views):
                if d < g.rows:
                    v.caption = g.directions[d]
            if self.play_button.isChecked():
                self._timer.start()
            self._show_frame()
        self._update_buttons()

    def current_candidate(self) -> Candidate | None:
        return self._current

    @property
    def animation(self) -> str:
        return self._animation

    def frame_index(self) -> int:
        return self._frame

    def _anim(self) -> state.Animation:
        if self._current is not None:
            return self._current.geometry.animation(self._animation)
        col = 0
        for name, n in procedural.ANIMATIONS:
            if name == self._animation:
                return state.Animation(name, col, n, procedural.FRAME_MS[name])
            col += n
        name, n = procedural.ANIMATIONS[0]
        return state.Animation(name, 0, n, procedural.FRAME_MS[name])

    def _set_animation(self, name: str) -> None:
        self._animation = name
        for btn in self.anim_buttons.buttons():
            btn.setChecked(btn.property("anim") == name)
        self._frame = 0
        self.fps.setValue(round(state.default_fps(name), 1))
        self._show_frame()

    def set_animation(self, name: str) -> None:
        self._set_animation(name)

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

    def _tick(self) -> None:
        if self._current is None:
            self._timer.stop()
            return
        self._frame = (self._frame + 1) % max(1, self._anim().frames)
        self._show_frame()

    def _show_frame(self) -> None:
        anim = self._anim()
        self._frame %= max(1, anim.frames)
        self.frame_label.setText(f"{self._frame + 1}/{anim.frames}")
        cand = self._current
        if cand is None:
            return
        col = anim.start + self._frame
        for d, v in enumerate(self.views):
            v.set_frame(cand.frame(d, col) if d < cand.geometry.rows else None)
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
            written = state.export_asset(
                project.asset_path(cand.record), out_dir, stem, formats, scale
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
        super().changeEvent(event)
