"""The LPC style: content pack, compositing, pixel-art reduction, prompts, the generator."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from genstudio.core.errors import InvalidParamsError
from genstudio.generators import get as get_generator
from genstudio.generators.base import RunContext
from genstudio.generators.sprites import export, layout, postprocess
from genstudio.generators.sprites.lpc import catalog, character, prompt
from genstudio.generators.sprites.lpc.generator import LpcParams, idle_rows

UPSTREAM = Path(__file__).resolve().parents[3] / "shared" / "data" / "lpc-universal"


@pytest.fixture(scope="module")
def cat() -> catalog.Catalog:
    return catalog.load()


def run_gen(**params):
    outs = []
    ctx = RunContext(emit=lambda o: outs.append(o) or f"id{len(outs)}")
    get_generator("sprites.lpc").run(LpcParams(**params), ctx)
    return outs


# --- the content pack ----------------------------------------------------------------------------


def test_pack_holds_every_kind_of_part(cat):
    slots = {la.slot for la in cat.layers}
    for s in ("body", "hair", "facial", "head", "torso", "legs", "feet", "cape", "weapon",
              "ears", "quiver", "wings", "offhand"):  # fmt: skip
        assert s in slots
    skins = {la.colour for la in cat.layers if la.slot == "body"}
    assert {"light", "dark", "darkelf", "orc", "skeleton"} <= skins
    assert len(cat.names("hair", "female")) >= 25
    assert len(cat.colours("hair", "long", "female")) >= 25
    # one drawing per palette swap: far fewer files than layers
    drawings = {la.drawing for la in cat.layers}
    assert len(cat.layers) > 2000 and len(drawings) < 500


@pytest.mark.skipif(not UPSTREAM.is_dir(), reason="needs ../shared/data/lpc-universal")
def test_pack_layers_are_the_upstream_pixels(cat):
    """Palette swaps rebuilt from drawing + colour table equal the artists' files exactly."""
    from PIL import Image

    picks = [la for la in cat.layers if la.colours][::97] + [la for la in cat.layers][::301]
    assert len(picks) >= 20
    for la in picks:
        with Image.open(UPSTREAM / la.path, formats=["PNG"]) as im:
            want = np.array(im.convert("RGBA"))
        got = np.asarray(cat.pixels(la))
        assert np.array_equal(got[want[..., 3] > 0], want[want[..., 3] > 0]), la.path
        assert not got[want[..., 3] == 0, 3].any(), la.path


def test_damaged_pack_is_a_clear_error(tmp_path):
    from genstudio.core.errors import ModelPackError

    (tmp_path / "catalog.json").write_text("{not json")
    with pytest.raises(ModelPackError, match="damaged"):
        catalog.load(tmp_path)
    with pytest.raises(ModelPackError, match="not installed"):
        catalog.load(tmp_path / "missing")


# --- compositing -----------------------------------------------------------------------------------


def test_compose_puts_hair_over_body_and_cape_back_behind(cat):
    body = cat.find("body", "female", "body", "light")[0]
    hair = cat.find("hair", "female", "long", "black")[0]
    back = cat.find("cape_back", "female", "normal", "red")[0]
    img = catalog.compose(cat, [catalog.Pick(hair), catalog.Pick(back), catalog.Pick(body)])
    hp, bp, kp = (np.asarray(cat.pixels(x)) for x in (hair, body, back))
    both = (hp[..., 3] == 255) & (bp[..., 3] > 0)
    assert both.any() and np.array_equal(img[both], hp[both])
    behind = (kp[..., 3] == 255) & (bp[..., 3] == 255) & (hp[..., 3] == 0)
    assert behind.any() and np.array_equal(img[behind], bp[behind])


def test_recolour_keeps_the_shading_order(cat):
    tunic = cat.find("torso", "female", "tunic", "white")[0]
    px = np.asarray(cat.pixels(tunic))
    out = catalog.recolour(px, (50, 80, 190))
    m = px[..., 3] > 0
    assert np.array_equal(out[..., 3], px[..., 3])
    src = px[m][:, :3].astype(int).sum(1)
    dst = out[m][:, :3].astype(int).sum(1)
    # brighter stays brighter (rank correlation of lightness ~ 1), and it is blue now
    order = np.argsort(src, kind="stable")
    assert np.mean(np.diff(dst[order]) >= 0) > 0.97
    shade = src > 150
    assert out[m][shade][:, 2].mean() > out[m][shade][:, 0].mean() + 40


# --- pixel-art reduction -------------------------------------------------------------------------


def test_reduce_half_rules():
    px = np.zeros((8, 8, 4), np.uint8)
    px[0, 0] = (200, 10, 10, 255)  # one pixel of a block: gone
    px[2:4, 2:4] = (200, 200, 200, 255)  # a full block: kept
    px[2, 2] = (10, 10, 10, 255)  # its darkest pixel is the outline at the edge
    px[6:8, 6] = (90, 90, 250, 255)  # 2 of 4: kept
    out = postprocess.reduce_half(px)
    assert out.shape == (4, 4, 4)
    assert out[0, 0, 3] == 0
    assert tuple(out[1, 1]) == (10, 10, 10, 255)  # a lone block is all edge: outline colour
    assert tuple(out[3, 3]) == (90, 90, 250, 255)
    assert set(np.unique(out[..., 3])) <= {0, 255}
    with pytest.raises(InvalidParamsError):
        postprocess.reduce_half(np.zeros((5, 4, 4), np.uint8))


def test_reduced_sheet_keeps_its_outline_unlike_a_subsample(cat):
    ch = character.build(character.sample({"sex": "male"}, 5, cat), cat)
    from genstudio.generators.sprites.lpc.generator import render

    big = render(ch, size=64, cat=cat)
    small = render(ch, size=32, cat=cat)
    assert small.shape == (big.shape[0] // 2, big.shape[1] // 2, 4)
    sub = big[1::2, 1::2]

    def dark_edge_share(img):
        on = img[..., 3] > 0
        pad = np.pad(on, 1)
        edge = on & ~(pad[:-2, 1:-1] & pad[2:, 1:-1] & pad[1:-1, :-2] & pad[1:-1, 2:])
        lum = img[..., :3].astype(int) @ np.array([299, 587, 114]) // 1000
        return float((lum[edge] < 60).mean())

    assert dark_edge_share(small) > dark_edge_share(sub) + 0.1
    assert dark_edge_share(small) > 0.8


# --- prompts ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, want",
    [
        ("elf archer", {"ears": "elvenears", "weapon": "bow", "quiver": "quiver"}),
        ("skeleton", {"body": "skeleton"}),
        ("orc warrior", {"body": "orc", "torso": "chain_mail"}),
        ("zombie", {"body": "zombie"}),
        ("knight with a red cape", {"torso": "plate_chest", "cape": "normal", "cape_color": "red"}),
        ("old man", {"sex": "male", "hair_color": "white", "facial": "beard"}),
        ("girl with long blonde hair", {"sex": "female", "hair": "long", "hair_color": "blonde"}),
        ("pirate captain", {"head": "red", "cape": "normal"}),
        ("cowboy with a hat", {"head": "leather_cap"}),
        ("fairy", {"sex": "female", "wings": "wings"}),
        (
            "woman in a pink dress",
            {"sex": "female", "torso": "dress_w_sash", "torso_color": "pink"},
        ),
    ],
)
def test_prompt_phrases(text, want):
    got = prompt.parse(text, meaning=False).attrs
    assert {k: got.get(k) for k in want} == want


def test_unknown_words_are_listed_once():
    p = prompt.parse("knight riding a unicorn, unicorn", meaning=False)
    assert p.unknown == ["riding", "unicorn"]


def test_words_are_understood_by_meaning():
    p = prompt.parse("a swordswoman with a longbow, mighty huntsman")
    assert p.by_meaning, p
    for word, entry in p.by_meaning.items():
        assert entry in prompt.PHRASES and word in ("swordswoman", "huntsman", "mighty")
    assert "huntsman" in p.by_meaning  # -> hunter / huntress
    assert prompt.parse("pizza").unknown == ["pizza"]


def test_content_key_is_the_set_of_content_words():
    assert prompt.content_key("elf archer") == prompt.content_key("an Archer, elf!")
    assert prompt.content_key("elf archer") != prompt.content_key("elf ranger")
    assert prompt.content_key("") == 0


# --- the generator ---------------------------------------------------------------------------------


def test_sheet_is_the_lpc_layout_with_all_animations():
    (o,) = run_gen(prompt="human knight", seed=3, size=64)
    img = export.decode_png(o.data)
    assert img.shape == (25 * 64, 13 * 64, 4)
    lay = layout.SheetLayout.from_dict(o.extra["layout"])
    assert lay.fits(img.shape[1], img.shape[0])
    for a in ("idle", "walk", "slash", "thrust", "spellcast", "shoot", "hurt"):
        assert a in lay.animations
    assert lay.directions_of("hurt") == ["down"]
    assert set(np.unique(img[..., 3])) == {0, 255}
    # every frame of every track has the character in it
    for t in lay.tracks:
        for r, c in t.cells():
            assert img[r * 64 : (r + 1) * 64, c * 64 : (c + 1) * 64, 3].any(), t.name
    assert o.extra["license"] == catalog.LICENSE
    assert "Layers used in this sheet" in o.extra["credits"]
    assert "Johannes Sj" in o.extra["credits"]  # an artist of AUTHORS.txt
    assert all(la["path"] in o.extra["credits"] for la in o.extra["layers"])
    json.dumps(o.extra)  # the sidecar can hold it


def test_32px_sheet_and_palette_limit():
    (o,) = run_gen(prompt="elf archer", seed=1, size=32, palette_colors=12)
    img = export.decode_png(o.data)
    assert img.shape == (25 * 32, 13 * 32, 4)
    assert postprocess.count_colors(img) <= 12
    assert o.extra["layout"]["frame_w"] == 32


def test_garment_without_frames_leaves_its_animations_out(cat):
    ch = character.build(
        {"sex": "female", "body": "light", "torso": "tunic", "belt": "black", "legs": "pants"}, cat
    )
    assert set(character.missing_animations(ch)) == {"thrust", "shoot"}
    (o,) = run_gen(attrs={"sex": "female", "belt": "black"}, seed=2, size=32)
    lay = layout.SheetLayout.from_dict(o.extra["layout"])
    assert "thrust" not in lay.animations and "shoot" not in lay.animations
    assert "slash" in lay.animations
    assert any("thrust" in n for n in o.extra["notes"])


def test_idle_breathes():
    sheet = np.zeros((21 * 64, 13 * 64, 4), np.uint8)
    sheet[8 * 64 + 10 : 8 * 64 + 60, 20:40] = (100, 100, 100, 255)
    rows = idle_rows(sheet)
    stand, breath = rows[:64, :64], rows[:64, 64:128]
    assert not np.array_equal(stand, breath)
    assert np.array_equal(stand[45:], breath[45:])  # the feet stay where they are


def test_different_prompts_never_give_the_same_sheet():
    texts = ["elf", "elf archer", "archer", "ranger", "knight", "blue knight", "wizard", "mage"]
    sheets = {t: run_gen(prompt=t, seed=11, size=32)[0].data for t in texts}
    assert len(set(sheets.values())) == len(texts)
    # same words, other order: the same sheet
    assert run_gen(prompt="archer, elf", seed=11, size=32)[0].data == sheets["elf archer"]


def test_attrs_win_and_bad_attrs_are_refused():
    (o,) = run_gen(prompt="skeleton", attrs={"body": "orc"}, seed=1, size=32)
    assert o.extra["attrs"]["body"] == "orc"
    with pytest.raises(InvalidParamsError, match="hat"):
        LpcParams(attrs={"hat": "big"})
    with pytest.raises(InvalidParamsError, match="not a value"):
        LpcParams(attrs={"body": "plaid"})
    with pytest.raises(InvalidParamsError):
        LpcParams(size=48)
