"""Procedural pixel-art characters: layered parts, palette ramps, 4 directions x idle + walk.

Everything here was drawn/written for GenStudio: no outside art.

Sheet layout (``render_sheet`` returns ``(4, 6, 32, 32, 4) uint8`` RGBA):

* rows (axis 0) = directions in :data:`DIRECTIONS` order: ``down, left, right, up``;
* columns (axis 1) = 2 idle frames then 4 walk frames (:data:`ANIMATIONS`);
* every frame is 32x32, transparent background, the character's lowest opaque row (the soles'
  outline) is row :data:`BASELINE` (31) in every frame, horizontally centred on x = 15.5.

Hand convention: weapons and tools (sword, axe, spear, staff, wand, torch) are held in the
character's *right* hand, the shield on the *left* arm. So facing down the weapon is on the
viewer's left; facing up it is on the viewer's right (behind the body); facing right it is in the
near hand (in front of the body); facing left it is in the far hand (behind the body). The left
view is the mirror of the right view for the body only; held items are re-placed in the right
hand before mirroring.

Determinism: rendering is a pure function of the attribute dict (integer numpy work only); the
seed only fills in attributes that were not given (``sample_attributes``), with
``numpy.random.Generator(PCG64(seed))``.

The package: :mod:`.templates` (the hand-made pixel templates, the sheet layout and
:data:`TEMPLATE_VERSION`), :mod:`.vocabulary` (attributes and how a seed draws them),
:mod:`.prompt` (words and phrases -> attributes) and :mod:`.render` (materials, bodies, parts,
items, compositing, colour). Everything public is importable from here.
"""

from __future__ import annotations

from genstudio.generators.sprites.procedural.prompt import (
    MAX_PROMPT_CHARS,
    PromptParse,
    parse_prompt,
    prompt_vocabulary,
)
from genstudio.generators.sprites.procedural.render import (
    BODY_GEOM,
    BOT,
    EYE,
    FLAME,
    GEM,
    GOLD,
    HAIR_M,
    HAT,
    ITEM_SPRITES,
    LAYER_ORDER,
    LEATHER,
    MOUTH,
    N_CODES,
    N_MAT,
    OUT,
    POSES,
    SHIELD_SPRITES,
    SHOE,
    SKIN,
    STEEL,
    TOP,
    TOP2,
    VIEWS,
    WHITE,
    WOOD,
    Body,
    C,
    Limb,
    Pose,
    Skel,
    blit,
    color_lut,
    compose_codes,
    hand_pos,
    parse_template,
    part_layer,
    put,
    rect,
    render_sheet,
    resolve_attributes,
    skeleton,
    used_ramps,
)
from genstudio.generators.sprites.procedural.templates import (
    ANIMATIONS,
    BASELINE,
    DIRECTIONS,
    DIRECTIONS_COUNT,
    FRAME,
    FRAME_MS,
    FRAMES_COUNT,
    GROUND,
    HAIR,
    HAIR_CLIP,
    HEAD_DOWN,
    HEAD_SIDE,
    HEAD_UP,
    HEADWEAR,
    N_FRAMES,
    TEMPLATE_VERSION,
    layout,
)
from genstudio.generators.sprites.procedural.vocabulary import (
    ATTRIBUTE_KEYS,
    ATTRIBUTES,
    BODIES,
    BOTTOMS,
    CLOTH,
    EYE_STYLES,
    HAIR_STYLES,
    HEADWEAR_STYLES,
    ITEMS,
    SHOES,
    TOPS,
    make_rng,
    sample_attributes,
    validate_attributes,
)

__all__ = [
    "ANIMATIONS",
    "ATTRIBUTES",
    "ATTRIBUTE_KEYS",
    "BASELINE",
    "BODIES",
    "BODY_GEOM",
    "BOT",
    "BOTTOMS",
    "Body",
    "C",
    "CLOTH",
    "DIRECTIONS",
    "DIRECTIONS_COUNT",
    "EYE",
    "EYE_STYLES",
    "FLAME",
    "FRAME",
    "FRAMES_COUNT",
    "FRAME_MS",
    "GEM",
    "GOLD",
    "GROUND",
    "HAIR",
    "HAIR_CLIP",
    "HAIR_M",
    "HAIR_STYLES",
    "HAT",
    "HEADWEAR",
    "HEADWEAR_STYLES",
    "HEAD_DOWN",
    "HEAD_SIDE",
    "HEAD_UP",
    "ITEMS",
    "ITEM_SPRITES",
    "LAYER_ORDER",
    "LEATHER",
    "Limb",
    "MAX_PROMPT_CHARS",
    "MOUTH",
    "N_CODES",
    "N_FRAMES",
    "N_MAT",
    "OUT",
    "POSES",
    "Pose",
    "PromptParse",
    "SHIELD_SPRITES",
    "SHOE",
    "SHOES",
    "SKIN",
    "STEEL",
    "Skel",
    "TEMPLATE_VERSION",
    "TOP",
    "TOP2",
    "TOPS",
    "VIEWS",
    "WHITE",
    "WOOD",
    "blit",
    "color_lut",
    "compose_codes",
    "hand_pos",
    "layout",
    "make_rng",
    "parse_prompt",
    "parse_template",
    "part_layer",
    "prompt_vocabulary",
    "put",
    "rect",
    "render_sheet",
    "resolve_attributes",
    "sample_attributes",
    "skeleton",
    "used_ramps",
    "validate_attributes",
]
