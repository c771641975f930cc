"""How many words of 100 everyday prompts the LPC style honours, and whether any collapse.

``python -m tests.campaigns.lpc_prompt_coverage [OUT.json] [--sheet docs/sprites-lpc-prompts.png]``

For every prompt of ``lpc_prompts.txt`` (written before measuring, never tuned) at seed 1:

* content words = the prompt's words minus stop words (``prompt.STOP``);
* a word is **honoured** when the parse took it (a phrase, a colour, a sex word, or a meaning
  match) *and* what it asked for is in the built character: the attribute kept its value and the
  layer (or tint, or body) is among the sheet's layers - not just "parsed";
* the rest are **not honoured**: those the parse listed as unknown (the user is told) and
  those parsed but overruled (e.g. a male-only item on a female body);
* **collisions**: pairs of prompts with different content words whose sheets are identical.

The contact sheet shows each prompt's walk-down and slash-right frames, to look at.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np

from genstudio.generators.sprites.lpc import catalog, character, prompt
from genstudio.generators.sprites.lpc.generator import render

HERE = Path(__file__).resolve().parent
PROMPTS = HERE / "lpc_prompts.txt"


def load_prompts() -> list[str]:
    lines = PROMPTS.read_text(encoding="utf-8").splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]


def phrase_attrs(phrase: str) -> dict[str, str]:
    """What a matched phrase of the parse asked for."""
    if phrase in prompt.PHRASES:
        return dict(prompt.PHRASES[phrase])
    if phrase in prompt.SEX_WORDS:
        return {"sex": prompt.SEX_WORDS[phrase]}
    words = phrase.split()
    if len(words) == 2:
        colour, noun = words
        target = prompt.COLOUR_TARGET.get(noun)
        if target in ("hair_color", "facial_color"):
            return {target: prompt.HAIR_COLOUR_WORDS.get(colour, colour)}
        if target == "eyes":
            return {"eyes": prompt.COLOUR_WORDS.get(colour, colour)}
        if target:
            return {target: prompt.COLOUR_WORDS.get(colour, colour)}
    if len(words) == 1 and words[0] in prompt.COLOUR_WORDS:
        return {"torso_color": prompt.COLOUR_WORDS[words[0]]}
    return {}


def visible(ch: character.Character, key: str, value: str) -> bool:
    """Whether attribute ``key=value`` shows in the character's layers."""
    a = ch.attrs
    if a.get(key) != value and not (key == "torso" and value == "robe"):
        return False
    picks = ch.picks
    if key == "sex":
        return picks[0].layer.sex in (value, "either")
    if key == "body":
        if value in character.TINTED_BODIES:
            return picks[0].tint == character.TINTED_BODIES[value]
        return picks[0].layer.colour == value
    if key.endswith("_color"):
        slot = key[: -len("_color")]
        if slot == "hair":
            want = character.HAIR_ALIASES.get(value, value)
            return any(p.layer.slot == "hair" and p.layer.colour == want for p in picks)
        if slot == "facial":
            return any(p.layer.slot == "facial" for p in picks)
        slots = {"torso": ("torso", "dress", "robe")}.get(slot, (slot,))
        rgb = character.COLOURS.get(value)
        return any(
            p.layer.slot in slots and (p.layer.colour == value or p.tint == rgb) for p in picks
        )
    if key == "eyes":
        return value == "none" or any(
            p.layer.slot == "eyes" and p.layer.colour == value for p in picks
        )
    if value == "none":
        return not any(p.layer.slot == key for p in picks)
    if key == "torso" and value in character.FORMAL:
        return any(p.layer.slot == "formal" for p in picks)
    if key == "torso":
        names = {value, *character.OTHER_BODY.get(value, ())}
        if value == "robe":
            names.add("longsleeve")  # the male robe: a long shirt over the robe skirt
        return any(p.layer.slot in ("torso", "dress", "robe") and (p.layer.name in names or
                   p.layer.slot == character.TORSO_SLOT.get(value)) for p in picks)  # fmt: skip
    return any(p.layer.slot == key and p.layer.name == value for p in picks)


def measure(seed: int = 1, sheet_out: Path | None = None) -> dict:
    cat = catalog.load()
    rows = []
    digests: dict[str, list[str]] = {}
    tiles = []
    total = honoured = 0
    for text in load_prompts():
        parse = prompt.parse(text)
        attrs = character.sample(parse.attrs, (seed ^ prompt.content_key(text)), cat)
        ch = character.build(attrs, cat)
        img = render(ch, size=64, cat=cat)
        digests.setdefault(hashlib.sha256(img.tobytes()).hexdigest(), []).append(text)
        took: dict[str, dict[str, str]] = {}
        for phrase in parse.matched:
            for w in phrase.split():
                took.setdefault(w, {}).update(phrase_attrs(phrase))
        for w, entry in parse.by_meaning.items():
            took.setdefault(w, {}).update(prompt.PHRASES[entry])
        words = list(dict.fromkeys(parse.content))
        ok, not_ok = [], []
        for w in words:
            want = took.get(w, {})
            if want and any(visible(ch, k, v) for k, v in want.items()):
                ok.append(w)
            else:
                not_ok.append(w)
        total += len(words)
        honoured += len(ok)
        rows.append(
            {
                "prompt": text,
                "honoured": ok,
                "not_honoured": not_ok,
                "reported_unknown": parse.unknown,
                "by_meaning": parse.by_meaning,
                "notes": list(ch.notes),
            }
        )
        f = 64
        cells = [(10, 0), (15, 3), (17, 8)]
        tiles.append(
            np.concatenate([img[r * f : (r + 1) * f, c * f : (c + 1) * f] for r, c in cells], 1)
        )
    collisions = [group for group in digests.values() if len(group) > 1]
    unreported = sorted(
        {w for r in rows for w in r["not_honoured"] if w not in r["reported_unknown"]}
    )
    result = {
        "prompts": len(rows),
        "content_words": total,
        "honoured": honoured,
        "coverage": round(honoured / max(1, total), 4),
        "identical_sheet_groups": collisions,
        "not_honoured_and_not_reported": unreported,
        "rows": rows,
    }
    if sheet_out is not None:
        _contact(tiles, [r["prompt"] for r in rows], sheet_out)
    return result


def _contact(tiles: list[np.ndarray], labels: list[str], out: Path) -> None:
    from PIL import Image, ImageDraw

    cols = 5
    th, tw = tiles[0].shape[:2]
    cell_w, cell_h = tw + 16, th + 22
    n_rows = -(-len(tiles) // cols)
    canvas = Image.new("RGB", (cols * cell_w, n_rows * cell_h), (58, 64, 78))
    draw = ImageDraw.Draw(canvas)
    for i, (t, label) in enumerate(zip(tiles, labels)):
        r, c = divmod(i, cols)
        x, y = c * cell_w + 8, r * cell_h + 2
        bg = np.full(t.shape[:2] + (3,), 200, np.uint8)
        rgb = np.where(t[..., 3:4] > 0, t[..., :3], bg)
        canvas.paste(Image.fromarray(rgb), (x, y))
        draw.text((x, y + th + 2), label[:34], fill=(235, 235, 235))
    canvas = canvas.resize((canvas.width * 2, canvas.height * 2), Image.NEAREST)
    out.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(out)


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv and not argv[0].startswith("--") else None
    sheet = Path(argv[argv.index("--sheet") + 1]) if "--sheet" in argv else None
    res = measure(sheet_out=sheet)
    text = json.dumps(res, indent=1)
    if out:
        out.write_text(text + "\n", encoding="utf-8")
    summary = {k: v for k, v in res.items() if k != "rows"}
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
