"""Fine-tune MusicGPT on a user's MIDI files: the music task of :mod:`genstudio.ml.trainer`.

The new style is conditioned on a spare style token of the vocabulary (``style4``; the layout
of ``tokens.py`` is fixed, so a fine-tuned pack keeps the base's vocabulary). At the start its
embedding is copied from the base style with the closest texture (one track -> folk, two ->
melody_accomp, more -> chorale), so step 0 already writes sensible music and fine-tuning only
has to move it. Training windows are the header + whole bars from a random bar (as in the base
training), over the pieces in every transposition that stays on the piano (``TRANSPOSE``);
pieces are split by content hash into training and validation pieces (from 5 pieces on; with
fewer the validation loss is measured on the training pieces and the report says so).

The pack (``model.json`` + ``music.onnx`` + ``weights.safetensors``) lists its style::

    "styles": [{"token": "style4", "title": "My style: <name>", "tracks": [...]}]

and the music generator offers it wherever a style is picked.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import logging
import re
from pathlib import Path
from typing import Any

import numpy as np

from genstudio.core.atomic import atomic_write_bytes, read_json
from genstudio.core.errors import GenStudioError

log = logging.getLogger(__name__)
STYLE_TOKEN = "style4"
TRANSPOSE = range(-5, 7)
IGNORE = -100
MIN_VALID_PIECES = 5
#: key lock is recommended for a style whose material has at least this share of notes in key
KEY_LOCK_SHARE = 0.98
EVAL_BATCHES = 6


def slug(name: str) -> str:
    s = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return s[:40] or "my-style"


def base_style_for(n_tracks: int) -> str:
    return {1: "folk", 2: "melody_accomp"}.get(n_tracks, "chorale")


class MusicTask:
    kind = "music"

    def __init__(
        self,
        sources: list[str],
        *,
        base: Path,
        name: str,
        style: str = STYLE_TOKEN,
        preview_bars: int = 8,
    ) -> None:
        self.sources = [str(s) for s in sources]
        self.base = Path(base)
        self.name = name
        self.style = style
        self.preview_bars = preview_bars
        self.base_pack = read_json(self.base / "model.json", what="music model pack")
        self._train = self._valid = None
        self.header: dict[str, Any] = {}
        self.tracks: list[dict[str, Any]] = []
        self.in_key = 1.0

    # ------------------------------------------------------------------ data
    def prepare(self, run: Path) -> dict[str, Any]:
        from genstudio.generators.music import dataset
        from genstudio.generators.music import score as sc
        from genstudio.generators.music import tokens as tk
        from genstudio.ml.music.train import Windows

        run.mkdir(parents=True, exist_ok=True)
        scores, report = dataset.scan(self.sources, self.style)
        dataset.check_usable(report)
        rep = report.to_dict()
        cache = run / "tokens.npz"
        meta_path = run / "tokens.json"
        used = [f for f in report.files if f.used]
        order = sorted(range(len(used)), key=lambda i: used[i].sha256)
        valid_ix: set[int] = set()
        if len(used) >= MIN_VALID_PIECES:
            n_valid = max(1, round(len(used) * 0.15))
            valid_ix = {
                i
                for i in order
                if int(hashlib.sha256(used[i].sha256.encode()).hexdigest(), 16) % 7 == 0
            }
            if not valid_ix or len(valid_ix) > n_valid * 2:
                valid_ix = set(order[:n_valid])
        rep["valid_pieces"] = len(valid_ix)
        rep["valid_is_train"] = not valid_ix
        if len(used) == 1:
            rep["problems"].append(
                "Only one piece: the model will learn to imitate it closely. Add more pieces "
                "for a style rather than a copy."
            )
        if cache.exists() and meta_path.exists():
            meta = read_json(meta_path, what="token cache")
            if meta.get("data_sha256") != rep["sha256"]:
                raise GenStudioError(
                    "The material in this run's folders changed since the run started.",
                    hint="Start a new training run for the new material (or put the old files "
                    "back to resume).",
                )
            with np.load(cache, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        else:
            arrays = {}
            for split, keep in (
                ("train", lambda i: i not in valid_ix),
                ("valid", lambda i: i in valid_ix or not valid_ix),
            ):
                seqs = []
                for i, s in enumerate(scores):
                    if not keep(i):
                        continue
                    pitches = [n.pitch for n in s.notes]
                    shifts = TRANSPOSE if split == "train" else (0,)
                    for k in shifts:
                        if min(pitches) + k < 21 or max(pitches) + k > 108:
                            continue
                        try:
                            seqs.append(
                                np.array(tk.encode(sc.transpose(s, k), self.style), np.int16)
                            )
                        except GenStudioError:
                            continue
                offsets = np.zeros(len(seqs) + 1, np.int64)
                offsets[1:] = np.cumsum([len(x) for x in seqs])
                arrays[f"{split}_tokens"] = np.concatenate(seqs) if seqs else np.zeros(0, np.int16)
                arrays[f"{split}_offsets"] = offsets
            buf = io.BytesIO()
            np.savez(buf, **arrays)
            atomic_write_bytes(cache, buf.getvalue())
            from genstudio.core.atomic import atomic_write_json

            first = scores[0]
            atomic_write_json(
                meta_path,
                {
                    "data_sha256": rep["sha256"],
                    "header": {
                        "key": str(first.key) if first.key else None,
                        "ts": list(first.time_signature),
                        "tempo": float(first.tempo),
                    },
                    "tracks": _track_layout(scores),
                    "in_key_share": _in_key_share(scores),
                },
            )
        meta = read_json(meta_path, what="token cache")
        self.header, self.tracks = meta["header"], meta["tracks"]
        self.in_key = float(meta.get("in_key_share", 1.0))
        net_cfg = self._net_cfg()
        windows = {}
        for split in ("train", "valid"):
            a = {
                "tokens": arrays[f"{split}_tokens"],
                "offsets": arrays[f"{split}_offsets"],
                "style": np.zeros(len(arrays[f"{split}_offsets"]) - 1, np.int64),
            }
            windows[split] = Windows(a, net_cfg.max_len, 1)
        if not windows["train"].by_style:
            raise GenStudioError("None of the pieces could be encoded for training.")
        self._train, self._valid = windows["train"], windows["valid"]
        rep["pieces"] = len(used)
        rep["train_sequences"] = len(arrays["train_offsets"]) - 1
        rep["train_tokens"] = int(len(arrays["train_tokens"]))
        return rep

    def _net_cfg(self):
        from genstudio.ml.music.model import MusicGPTConfig

        raw = dict(self.base_pack["training"]["net_config"])
        return MusicGPTConfig(**raw)

    # ------------------------------------------------------------------ model
    def build(self, device: str) -> Any:
        import torch

        from genstudio.generators.music import tokens as tk
        from genstudio.ml import common
        from genstudio.ml.music.model import build

        net, _ = build(self._net_cfg())
        tensors, _ = common.load_checkpoint(self.base / "weights.safetensors")
        net.load_state_dict(tensors)
        base_styles = {s.get("token") for s in self.base_pack.get("styles", [])}
        if self.style not in base_styles:  # a new style: start from the closest base style
            src = base_style_for(len(self.tracks))
            with torch.no_grad():
                v = tk.VOCAB
                net.tok.weight[v.id("STYLE", self.style)] = net.tok.weight[v.id("STYLE", src)]
        return net.to(device)

    def lora_targets(self) -> tuple[str, ...]:
        return ("attn.qkv", "attn.proj", "mlp.0", "mlp.2")

    def sample(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, ...]:
        return self._train.sample(rng, n)

    def loss(self, net: Any, batch: tuple[Any, ...]) -> Any:
        from torch.nn import functional as F

        x, y = batch
        logits = net(x)
        return F.cross_entropy(logits.flatten(0, 1).float(), y.flatten(), ignore_index=IGNORE)

    def evaluate(self, net: Any, device: str) -> dict[str, float]:
        import torch
        from torch.nn import functional as F

        was = net.training
        net.eval()
        erng = np.random.Generator(np.random.PCG64(999))
        total, count = 0.0, 0
        with torch.no_grad():
            for _ in range(EVAL_BATCHES):
                x, y = self._valid.sample(erng, 8)
                xt, yt = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
                logits = net(xt).float()
                loss = F.cross_entropy(
                    logits.flatten(0, 1), yt.flatten(), ignore_index=IGNORE, reduction="sum"
                )
                total += float(loss)
                count += int((yt != IGNORE).sum())
        net.train(was)
        return {"nll": round(total / max(1, count), 5)}

    # ------------------------------------------------------------------ previews
    def compose(self, state: dict[str, Any], bars: int, seed: int):
        """A piece of ``bars`` bars from the weights ``state`` (torch, the product's sampler)."""
        from dataclasses import replace

        from genstudio.generators.music import sampler
        from genstudio.generators.music import score as sc
        from genstudio.generators.music import tokens as tk

        model = TorchStepModel(state, self._net_cfg())
        h = self.header
        prompt = sampler.header_tokens(self.style, h.get("key"), tuple(h["ts"]), h["tempo"])
        cons = sampler.Constraints(bars=bars, max_tracks=max(1, len(self.tracks)))
        seq = sampler.generate_tokens(
            model, prompt, sampler.Grammar(prompt, cons), sampler.SampleSettings(1.0, 0, 0.95, seed)
        )
        out = tk.decode(seq, tempo=h["tempo"])
        key = sc.parse_key(h["key"]) if h.get("key") else None
        return replace(
            out, tempo=float(h["tempo"]), key=key, tracks=apply_tracks(out.tracks, self.tracks)
        )

    def preview(self, state: dict[str, Any], step: int, folder: Path) -> list[dict[str, Any]]:
        from genstudio.generators.music import midi, pianoroll

        score = self.compose(state, self.preview_bars, seed=step)
        mid, png = folder / "preview.mid", folder / "preview.png"
        atomic_write_bytes(mid, midi.midi_bytes(score, title=f"{self.name} - step {step}"))
        atomic_write_bytes(png, pianoroll.png_bytes(score))
        return [{"path": str(mid), "kind": "midi"}, {"path": str(png), "kind": "pianoroll"}]

    # ------------------------------------------------------------------ export
    def export(self, state: dict[str, Any], folder: Path, provenance: dict[str, Any]) -> None:
        from genstudio.ml.music.model import build
        from genstudio.ml.music.train import write_music_pack

        net_cfg = self._net_cfg()
        net, _ = build(net_cfg)
        net.load_state_dict(state)
        base_id = str(self.base_pack.get("id"))
        title = f"My style: {self.name}"
        styles = [s for s in self.base_pack.get("styles", []) if s.get("token") != self.style]
        styles.append(
            {
                "token": self.style,
                "title": title,
                "tracks": self.tracks,
                # material with accidentals (modes, chromatic lines) is not forced into the key
                "sampling": {
                    "key_lock": self.in_key >= KEY_LOCK_SHARE,
                    "in_key_share": round(self.in_key, 4),
                },
            }
        )
        atomic_write_bytes(folder / "MODEL_CARD.md", model_card(self, provenance).encode("utf-8"))
        write_music_pack(
            net,
            net_cfg,
            folder,
            pack_id=f"music-{slug(self.name)}",
            version=f"ft.{provenance.get('steps', 0)}",
            title=title,
            license=f"base model {self.base_pack.get('license', '')}; your material's license applies",
            attribution=f"Fine-tuned by GenStudio from {base_id} {self.base_pack.get('version')} on your MIDI files.",
            training={
                **provenance,
                "script": "genstudio train music",
                "base": {"id": base_id, "version": self.base_pack.get("version")},
                "style": {
                    "token": self.style,
                    "name": self.name,
                    "from": base_style_for(len(self.tracks)),
                },
            },
            metrics={
                "before": provenance.get("metrics_before"),
                "after": provenance.get("metrics_after"),
            },
            extra={"styles": styles},
        )


def model_card(task: MusicTask, prov: dict[str, Any]) -> str:
    """The fine-tuned pack's card: what it was made from, how, and what changed."""
    data = prov.get("data") or {}
    before = (prov.get("metrics_before") or {}).get("nll")
    after = (prov.get("metrics_after") or {}).get("nll")
    lines = [
        f"# My style: {task.name}",
        "",
        f"A fine-tune of **{task.base_pack.get('id')} {task.base_pack.get('version')}** made by "
        "GenStudio on your MIDI files. Pick it in the Music mode's style list (every mode) or "
        "with `genstudio generate music --model <this folder>`.",
        "",
        "| | |",
        "|---|---|",
        f"| material | {data.get('used')} pieces used, {data.get('skipped')} skipped; "
        f"sha256 {str(data.get('sha256'))[:16]}... |",
        f"| method | {prov.get('method')} fine-tuning "
        f"({prov.get('trainable_params'):,} of {prov.get('params'):,} weights) |",
        f"| steps | {prov.get('steps')} in {prov.get('wall_s')} s of training |",
        f"| hardware | {prov.get('hardware')} |",
        f"| held-out NLL (nats/token) | {before} before -> {after} after |",
        "",
        "The base model's license applies to the model; your material's license applies to "
        "what it learned from it.",
        "",
    ]
    return "\n".join(lines)


def _in_key_share(scores) -> float:
    """Share of the material's notes in its pieces' keys (estimated where a piece has none)."""
    from genstudio.generators.music import metrics

    inside = total = 0
    for s in scores:
        key = s.key or metrics.estimate_key(s)
        n = len(metrics.pitched(s))
        if key is None or not n:
            continue
        inside += metrics.in_key_share(s, key) * n
        total += n
    return inside / total if total else 1.0


def _track_layout(scores) -> list[dict[str, Any]]:
    """Per track index: the most common name and GM program in the material."""
    from collections import Counter

    n = max(len(s.tracks) for s in scores)
    out = []
    for i in range(n):
        names = Counter(s.tracks[i].name for s in scores if i < len(s.tracks))
        progs = Counter(s.tracks[i].program for s in scores if i < len(s.tracks))
        out.append(
            {
                "name": names.most_common(1)[0][0] or f"Track {i + 1}",
                "program": progs.most_common(1)[0][0],
            }
        )
    return out


def apply_tracks(tracks, layout: list[dict[str, Any]]):
    """The decoded tracks renamed and re-voiced from the pack's style layout."""
    out = []
    for i, t in enumerate(tracks):
        if i < len(layout):
            t = dataclasses.replace(
                t,
                name=str(layout[i].get("name") or t.name),
                program=int(layout[i].get("program", t.program)) % 128,
            )
        out.append(t)
    return out


class TorchStepModel:
    """The sampler's model interface (``run``/``empty``/``cache_len``/``max_len``) on torch
    weights, for previews during training (no ONNX export per preview)."""

    def __init__(self, state: dict[str, Any], net_cfg) -> None:
        from genstudio.ml.music.model import build

        self.net, _ = build(net_cfg)
        self.net.load_state_dict({k: v.float().cpu() for k, v in state.items()})
        self.net.eval()
        self.cfg = net_cfg
        self.max_len = net_cfg.max_len

    def empty(self, batch: int = 1) -> list[Any]:
        import torch

        c = self.cfg
        out = []
        for _ in range(c.n_layer):
            out += [
                torch.zeros(batch, c.n_head, c.head_dim, 0),
                torch.zeros(batch, c.n_head, 0, c.head_dim),
            ]
        return out

    def run(self, tokens: np.ndarray, past: list[Any]) -> tuple[np.ndarray, list[Any]]:
        import torch

        with torch.inference_mode():
            logits, *present = self.net.step(torch.from_numpy(np.asarray(tokens, np.int64)), *past)
        return logits.numpy(), present

    @staticmethod
    def cache_len(past: list[Any]) -> int:
        return int(past[1].shape[2])


# ---------------------------------------------------------------------------------- the job


def run_job(params: Any, ctx: Any) -> dict[str, Any]:
    """Entry of the ``train.music`` job in the training child process."""
    from genstudio.core.paths import shipped_models_dir
    from genstudio.ml import trainer
    from genstudio.runtime import registry

    base = (
        registry.resolve(params.base or "music-gpt", kind="music")
        if params.base
        else shipped_models_dir() / "music-gpt"
    )
    cfg = trainer.TrainConfig.from_dict(params.train_config())
    task = MusicTask(list(params.data), base=base, name=params.name)
    res = trainer.train(
        task,
        Path(params.run),
        cfg,
        ctx,
        out=Path(params.out),
        provenance={"name": params.name},
    )
    return {
        "pack": str(res.pack),
        "steps": res.step,
        "wall_s": res.wall_s,
        "metrics": res.metrics,
        "summary": f"'My style: {params.name}' ({res.step} steps)",
    }


def main(argv: list[str] | None = None) -> int:
    """``torchrun --nproc_per_node N -m genstudio.ml.music.finetune --data DIR --out PACK ...``:
    the same job on several GPUs (or CPU processes with gloo), one rank per process.
    ``genstudio train music --processes N`` starts this for you."""
    import argparse
    import json
    import os
    import sys

    from genstudio.generators.training import TrainMusicParams
    from genstudio.ml import trainer

    ap = argparse.ArgumentParser(prog="genstudio.ml.music.finetune")
    ap.add_argument("--params", required=True, help="the job's params as a JSON file")
    args = ap.parse_args(argv)
    with open(args.params, encoding="utf-8") as f:
        params = TrainMusicParams.from_dict(json.load(f))
    rank = int(os.environ.get("RANK", "0") or 0)

    def show(name: str, data: dict[str, Any]) -> None:
        if rank == 0:
            print(json.dumps({"event": name, **data}, default=str), flush=True)

    try:
        info = run_job(params, trainer.ConsoleContext(show))
    except GenStudioError as e:
        print(f"error: {e.user_message()}", file=sys.stderr)
        return 1
    show("finished", info)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
