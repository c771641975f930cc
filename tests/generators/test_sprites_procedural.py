"""Procedural sprite generator: determinism, layout, attribute control, prompt, generator."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from genstudio.core.errors import Cancelled, InvalidParamsError
from genstudio.generators import get as get_generator
from genstudio.generators import palettes
from genstudio.generators.base import RunContext
from genstudio.generators.sprites import export, procedural
from genstudio.generators.sprites.generator import ProceduralSpriteGenerator, SpriteParams

P = procedural
BASE = {
    "body": "regular",
    "skin": "fair",
    "hair_style": "short",
    "hair_color": "brown",
    "eyes": "blue",
    "eye_style": "normal",
    "top": "tshirt",
    "top_color": "red",
    "bottom": "trousers",
    "bottom_color": "navy",
    "shoes": "boots",
    "shoes_color": "brown",
    "headwear": "none",
    "headwear_color": "green",
    "item": "none",
}


def colours(px: np.ndarray) -> set[tuple[int, int, int]]:
    flat = px.reshape(-1, 4)
    return {tuple(int(v) for v in c[:3]) for c in flat[flat[:, 3] == 255]}


def run_gen(**params):
    outs = []
    ctx = RunContext(emit=lambda o: outs.append(o) or f"id{len(outs)}")
    ProceduralSpriteGenerator().run(SpriteParams.from_dict(params), ctx)
    return outs


# --- layout and determinism ---------------------------------------------------------------


def test_sheet_shape_and_layout():
    sheet = P.render_sheet({}, 1)
    assert sheet.shape == (4, 6, 32, 32, 4) and sheet.dtype == np.uint8
    lay = P.layout()
    assert lay["directions"] == ["down", "left", "right", "up"]
    assert [(a["name"], a["start"], a["frames"]) for a in lay["animations"]] == [
        ("idle", 0, 2),
        ("walk", 2, 4),
    ]
    assert lay["columns"] == 6 and lay["rows"] == 4 and lay["baseline_y"] == 31


def test_same_seed_same_bytes_and_different_seeds_differ():
    a = export.encode_png(export.sheet_image(P.render_sheet({}, 42)))
    b = export.encode_png(export.sheet_image(P.render_sheet({}, 42)))
    c = export.encode_png(export.sheet_image(P.render_sheet({}, 43)))
    assert a == b
    assert a != c
    g1 = run_gen(seed=9, count=3)
    g2 = run_gen(seed=9, count=3)
    assert [o.data for o in g1] == [o.data for o in g2]
    assert len({o.data for o in g1}) == 3


def test_full_attributes_render_the_same_for_any_seed():
    assert np.array_equal(P.render_sheet(BASE, 1), P.render_sheet(BASE, 999))


def test_binary_alpha_transparent_background_and_baseline_in_every_frame():
    for seed in range(120):
        sheet = P.render_sheet({}, seed)
        alpha = sheet[..., 3]
        assert set(np.unique(alpha).tolist()) <= {0, 255}
        assert (sheet[alpha == 0][:, :3] == 0).all()
        # nothing is clipped: the top row and the side columns stay empty
        assert (alpha[..., 0, :] == 0).all()
        assert (alpha[..., :, 0] == 0).all() and (alpha[..., :, -1] == 0).all()
        rows = np.nonzero(alpha.any(axis=-1))  # (dir, frame, y)
        lowest = np.full((4, 6), -1)
        np.maximum.at(lowest, (rows[0], rows[1]), rows[2])
        assert (lowest == P.BASELINE).all(), (seed, lowest)


@pytest.mark.parametrize("key", list(P.ATTRIBUTES))
def test_every_attribute_value_renders_with_feet_on_the_baseline(key):
    for value in P.ATTRIBUTES[key]:
        for body in ("slim", "child"):
            sheet = P.render_sheet({**BASE, "body": body, key: value}, 0)
            alpha = sheet[..., 3]
            assert alpha.any(axis=(-1, -2)).all()
            assert alpha[..., P.BASELINE, :].any(axis=-1).all(), (key, value, body)
            assert not alpha[..., P.BASELINE + 1 :, :].any()


def test_left_is_mirror_of_right_without_items():
    s = P.render_sheet(BASE, 0)
    assert np.array_equal(s[1], s[2][:, :, ::-1])
    s = P.render_sheet(dict(BASE, item="sword"), 0)
    assert not np.array_equal(s[1], s[2][:, :, ::-1])  # the sword stays in the right hand


def _steel_pixels(sheet_dir_frame: np.ndarray) -> np.ndarray:
    steel = np.array(palettes.STEEL_RAMP)
    rgb = sheet_dir_frame[..., :3]
    return (rgb[:, :, None, :] == steel[None, None]).all(-1).any(-1) & (
        sheet_dir_frame[..., 3] == 255
    )


def test_hand_convention_weapon_in_right_hand():
    s = P.render_sheet(dict(BASE, item="sword"), 0)
    down = np.nonzero(_steel_pixels(s[0, 0]))[1]
    up = np.nonzero(_steel_pixels(s[3, 0]))[1]
    assert down.mean() < 15.5 < up.mean()  # viewer's left facing down, right facing up
    # facing right the sword is in the near hand (front layer), facing left in the far one
    front = P.part_layer("items_front", ("sword",), "regular")[0]
    back = P.part_layer("items_back", ("sword",), "regular")[0]
    di = {d: i for i, d in enumerate(P.DIRECTIONS)}
    assert front[di["right"]].any() and not back[di["right"]].any()
    assert back[di["left"]].any() and not front[di["left"]].any()
    assert back[di["up"]].any() and front[di["down"]].any()
    # the shield is on the other arm
    fr = P.part_layer("items_front", ("shield",), "regular")[0]
    bk = P.part_layer("items_back", ("shield",), "regular")[0]
    assert fr[di["left"]].any() and bk[di["right"]].any()


def test_walk_frames_move_and_idle_breathes():
    s = P.render_sheet(BASE, 0)
    for d in range(4):
        walk = [s[d, c].tobytes() for c in range(2, 6)]
        assert len(set(walk)) == 4
        assert s[d, 0].tobytes() != s[d, 1].tobytes()


@pytest.mark.parametrize("hair", ["red", "blonde", "blue", "black"])
def test_requested_hair_colour_ramp_is_visible(hair):
    s = P.render_sheet(dict(BASE, hair_color=hair), 0)
    got = colours(s[0])
    ramp = set(palettes.HAIR_RAMPS[hair])
    assert len(ramp & got) >= 3
    for other, oramp in palettes.HAIR_RAMPS.items():
        if other != hair:
            assert not (set(oramp) - ramp - set(palettes.CLOTH_RAMPS["red"])) & got


def test_skin_and_clothes_colours_follow_attributes():
    s = P.render_sheet(dict(BASE, skin="dark", top_color="teal", bottom_color="yellow"), 0)
    got = colours(s)
    assert set(palettes.SKIN_RAMPS["dark"][1:3]) <= got
    assert palettes.CLOTH_RAMPS["teal"][2] in got
    assert palettes.CLOTH_RAMPS["yellow"][2] in got
    assert palettes.CLOTH_RAMPS["red"][2] not in got


def test_ramps_have_four_steps_dark_to_light():
    def lum(c):
        return 2 * c[0] + 5 * c[1] + c[2]

    groups = [palettes.SKIN_RAMPS, palettes.HAIR_RAMPS, palettes.CLOTH_RAMPS, palettes.EYE_RAMPS]
    for group in groups:
        for name, ramp in group.items():
            assert len(ramp) == 4, name
            assert lum(ramp[0]) < lum(ramp[1]) < lum(ramp[2]), name
    assert len(palettes.SKIN_RAMPS) >= 6 and len(palettes.HAIR_RAMPS) >= 8
    assert len(P.HAIR_STYLES) >= 8 and "bald" in P.HAIR_STYLES
    assert len(P.TOPS) >= 6 and len(P.BODIES) >= 3


def test_sample_attributes_fixing_one_keeps_the_others():
    a = P.sample_attributes(P.make_rng(5))
    b = P.sample_attributes(P.make_rng(5), hair_color="pink")
    assert b["hair_color"] == "pink"
    assert {k: v for k, v in a.items() if k != "hair_color"} == {
        k: v for k, v in b.items() if k != "hair_color"
    }
    assert set(a) == set(P.ATTRIBUTE_KEYS)


def test_bad_attributes_are_refused():
    with pytest.raises(InvalidParamsError, match="Unknown sprite attribute"):
        P.render_sheet({"tail": "long"}, 0)
    with pytest.raises(InvalidParamsError, match="hair_color"):
        P.render_sheet({"hair_color": "plaid"}, 0)
    with pytest.raises(InvalidParamsError):
        P.validate_attributes({"body": 3})


# --- prompt ------------------------------------------------------------------------------


def test_prompt_parser_maps_words_and_reports_unknown():
    r = P.parse_prompt(
        "A stocky hero with red hair, dark skin, a blue tunic, wizard hat and sword!"
    )
    assert r.attrs == {
        "body": "stocky",
        "hair_color": "red",
        "skin": "dark",
        "top": "tunic",
        "top_color": "blue",
        "headwear": "wizard_hat",
        "item": "sword",
    }
    assert r.unknown == ()
    r = P.parse_prompt("knight with a sword, glittery")
    assert r.attrs["item"] == "sword" and r.attrs["top"] == "armor"  # explicit beats archetype
    assert r.unknown == ("glittery",)
    r = P.parse_prompt("dark brown hair, green eyes, ponytail, black boots, child")
    assert r.attrs == {
        "hair_color": "dark_brown",
        "eyes": "green",
        "hair_style": "ponytail",
        "shoes": "boots",
        "shoes_color": "black",
        "body": "child",
    }
    assert P.parse_prompt("").attrs == {}
    with pytest.raises(InvalidParamsError):
        P.parse_prompt("x" * 10_000)
    vocab = P.prompt_vocabulary()
    assert "knight" in vocab["archetypes"]


# --- generator ---------------------------------------------------------------------------


def test_generator_is_registered_and_emits_sheets_with_layout():
    gen = get_generator("sprites.procedural")
    assert isinstance(gen, ProceduralSpriteGenerator)
    assert gen.kind == "sprite"
    progress = []
    outs = []
    ctx = RunContext(
        progress=lambda f, m, p: progress.append((f, m, p is not None)),
        emit=lambda o: outs.append(o) or "x",
    )
    p = SpriteParams.from_dict(
        {"prompt": "red hair, zorblax", "attrs": {"item": "staff"}, "seed": 3, "count": 2}
    )
    res = gen.run(p, ctx)
    assert len(outs) == 2 and progress[-1][0] == 1.0 and res.asset_ids == ["x", "x"]
    o = outs[1]
    assert o.kind == "sprite" and o.ext == "png" and o.seed == 4
    assert o.extra["attrs"]["hair_color"] == "red" and o.extra["attrs"]["item"] == "staff"
    assert set(o.extra["attrs"]) == set(P.ATTRIBUTE_KEYS)
    assert o.params["attrs"] == {"item": "staff"}  # the user's locks, not the drawn values
    assert o.params["seed"] == 4 and o.params["count"] == 1
    assert o.extra["prompt_unknown"] == ["zorblax"]
    assert o.extra["layout"]["columns"] == 6 and o.extra["layout"]["frame_w"] == 32
    json.dumps(o.params)
    json.dumps(o.extra)
    img = export.decode_png(o.data)
    assert img.shape == (128, 192, 4)
    # the sheet's params re-create exactly that sheet
    again = run_gen(**o.params)
    assert again[0].data == o.data


def test_params_json_round_trip():
    p = SpriteParams.from_dict(
        {"prompt": "mage", "attrs": {"hair_color": "white"}, "seed": 7, "size": 64}
    )
    d = json.loads(json.dumps(p.to_dict()))
    assert SpriteParams.from_dict(d) == p
    q = SpriteParams.from_dict({"attrs": [["hair_color", "white"]]})
    assert q.attrs == {"hair_color": "white"}


@pytest.mark.parametrize(
    "bad",
    [
        {"count": 0},
        {"count": 100_000},
        {"count": True},
        {"size": 33},
        {"size": 128},
        {"palette_colors": 1},
        {"palette_colors": 65},
        {"seed": -1},
        {"seed": 1.5},
        {"prompt": "word " * 2000},
        {"attrs": {"hat": "cap"}},
        {"attrs": {"headwear": "sombrero"}},
        {"attrs": "hair_color=red"},
        {"outline_color": "red"},
        {"palette_file": "/nonexistent/palette.gpl"},
        {"unknown_param": 1},
    ],
)
def test_bad_params_raise_invalid_params(bad):
    with pytest.raises(InvalidParamsError):
        SpriteParams.from_dict(bad)


def test_sizes_palette_limit_and_outline_colour():
    for size in (16, 48, 64):
        (o,) = run_gen(seed=1, size=size)
        img = export.decode_png(o.data)
        assert img.shape == (4 * size, 6 * size, 4)
        frames = export.split_image(img)
        assert frames[..., size - 1, :, 3].any(axis=-1).all()  # feet on the last row
        assert o.extra["layout"]["baseline_y"] == size - 1
    for k in (2, 8, 16):
        (o,) = run_gen(seed=2, palette_colors=k)
        img = export.decode_png(o.data)
        assert len(colours(img)) <= k
        assert set(np.unique(img[..., 3]).tolist()) <= {0, 255}
    (o,) = run_gen(seed=2, outline_color="#ff00ff")
    assert (255, 0, 255) in colours(export.decode_png(o.data))
    (o,) = run_gen(seed=2, outline=False)
    assert palettes.OUTLINE_RGB not in colours(export.decode_png(o.data))


def test_palette_file_locks_colours(tmp_path):
    f = tmp_path / "p.hex"
    f.write_text("000000\nffffff\nff0000\n00ff00\n0000ff\n808080\n")
    (o,) = run_gen(seed=3, palette_file=str(f))
    got = colours(export.decode_png(o.data))
    assert got <= {tuple(c) for c in palettes.read_palette(f).tolist()}
    (o,) = run_gen(seed=3, palette_file=str(f), palette_colors=3)
    assert len(colours(export.decode_png(o.data))) <= 3


def test_pal_palette_file_locks_colours(tmp_path):
    f = tmp_path / "p.pal"
    f.write_text("JASC-PAL\n0100\n4\n0 0 0\n255 255 255\n200 40 40\n40 40 200\n")
    (o,) = run_gen(seed=3, palette_file=str(f))
    assert colours(export.decode_png(o.data)) <= {
        (0, 0, 0),
        (255, 255, 255),
        (200, 40, 40),
        (40, 40, 200),
    }
    bad = tmp_path / "bad.pal"
    bad.write_text("JASC-PAL\n0100\n3\n0 0 0\n")
    with pytest.raises(InvalidParamsError, match="declares 3 colours"):
        run_gen(seed=3, palette_file=str(bad))


def test_cancel_stops_the_run():
    ev = threading.Event()
    outs = []

    def emit(o):
        outs.append(o)
        ev.set()
        return ""

    ctx = RunContext(emit=emit, cancel_event=ev)
    with pytest.raises(Cancelled):
        ProceduralSpriteGenerator().run(SpriteParams(count=5), ctx)
    assert len(outs) == 1


#: the composed material codes of each template version (see test below)
TEMPLATE_FINGERPRINTS = {1: "d82c3a50a73b108d646329de9c15ee8771f98b5899b46a216a4aef25eed531b5"}


def _template_fingerprint() -> str:
    import hashlib

    h = hashlib.sha256()
    combos = [procedural.sample_attributes(procedural.make_rng(s)) for s in range(24)]
    base = procedural.sample_attributes(procedural.make_rng(0))
    for key, values in procedural.ATTRIBUTES.items():
        combos += [dict(base, **{key: v}) for v in values]
    for attrs in combos:
        for outline in (True, False):
            codes = procedural.compose_codes(attrs, outline=outline)
            h.update(codes.tobytes())
            h.update(str(codes.shape).encode())
    return h.hexdigest()


def test_template_version_names_the_templates():
    """SpriteNet packs record the template version they learned; a template, material or part
    change that alters any composed code must bump TEMPLATE_VERSION (and add its fingerprint
    here), or a shipped model would silently draw the old parts."""
    assert _template_fingerprint() == TEMPLATE_FINGERPRINTS[procedural.TEMPLATE_VERSION]


def test_spritenet_pack_of_another_template_version_is_refused(monkeypatch):
    from genstudio.core.errors import ModelPackError
    from genstudio.generators.sprites import model_gen

    monkeypatch.setattr(model_gen, "_cache", {})
    monkeypatch.setattr(procedural, "TEMPLATE_VERSION", 2)  # the shipped pack learned version 1
    with pytest.raises(ModelPackError, match="version 1 of the character templates"):
        model_gen.raw_sheets([procedural.resolve_attributes(None, 0)], [0])


def test_ground_shadow_is_one_declared_parameter_everywhere():
    """``shadow`` is declared once (SpriteParams); the CLI flag, the studio's settings and
    the sidecar come from that declaration."""
    from genstudio import cli
    from genstudio.generators.sprites.generator import SpriteParams, render_processed
    from genstudio.generators.sprites.postprocess import SHADOW_RGB
    from genstudio.ui.modes.sprites.state import SpriteSettings

    attrs = procedural.resolve_attributes(None, 3)
    plain, shaded = render_processed(attrs), render_processed(attrs, shadow=True)
    added = (plain[..., 3] == 0) & (shaded[..., 3] == 255)
    assert added.any() and np.array_equal(shaded[~added], plain[~added])  # only behind
    assert (shaded[added][:, :3] == SHADOW_RGB).all()
    assert added[..., :-3, :].sum() == 0  # on the ground rows only
    argv = ["generate", "sprite", "--out", "x", "--shadow"]
    args = cli.build_parser(argv).parse_args(argv)
    from genstudio.generators import fields

    assert SpriteParams.from_dict(fields.from_args(args, SpriteParams)).shadow is True
    assert SpriteSettings().shadow is False and SpriteSettings().to_params()["shadow"] is False
    assert SpriteParams.from_dict({"shadow": True}).to_dict()["shadow"] is True
