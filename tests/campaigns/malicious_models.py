"""The malicious model set (issue 11): files and folders built to attack GenStudio's model
loading, fed through every entry point a user reaches.

    .venv/bin/python -m tests.campaigns.malicious_models --out report.json [--no-cli]

What is built (each case is one malicious file or folder, made from a valid base):

- pickles of every protocol 0-5 whose payload would create a *marker* file when unpickled,
  under every disguise (``.safetensors``, ``.onnx``, ``.dat``, ``.bin``, ``.json``, no
  extension, dot files, dot folders, nested folders), each as an extra file in a model pack,
  as a listed pack file (model.json's hash updated, so only the content gives it away), in a
  Stable Diffusion ONNX folder, and as a single file given to ``models import``;
- PyTorch zip checkpoints (``torch.save``: zip and legacy format, and hand-made zips with
  ``data.pkl``, ``archive/data.pkl``, other ``.pkl`` members, a pickle member without a
  ``.pkl`` name), under several names;
- links out of the folder: the ONNX file, model.json, the UNet, tokenizer and scheduler files,
  a folder, an external-data file, dangling links and link loops; a FIFO in the folder;
- ONNX external data: ``../``, absolute paths, Windows paths, ``_ORT_MEM_ADDR_``, offsets and
  lengths past the end, a location that is a folder, a missing file;
- malformed and oversized safetensors headers and ONNX files (sparse files: no disk used);
- model.json attacks: hash and size mismatches, names leaving the pack, a huge model.json.

Entry points (the CLI in subprocesses where a user reaches it, else the Python API):

- model packs: ``genstudio models check``, ``load_pack``, ``find_packs``, a session through
  ``SessionCache.get`` after a scan (``load_pack(verify=False)``, as the studio does), and for
  changes to listed files made *after* the scan, ``SessionCache.get`` of the scanned pack;
- SD folders: ``genstudio models import``, ``genstudio generate image --model``,
  ``validate_sd_folder``, ``SDPipeline`` (session creation) and, for the lazily loaded VAE
  encoder, a change made after the pipeline was built;
- single files: ``genstudio models import FILE`` and ``validate_sd_folder(FILE)``.

What it proves, per run: 0 code executions (no marker ever appears; the payloads are shown
to be live first by unpickling each one in a throw-away child process, a positive control),
0 reads outside the folder (the files the links and paths point at are watched with inotify
for any open or read, by any process), and every run refused with a clear message: a
``GenStudioError`` (CLI: exit code 2, an ``error:`` line, no traceback) whose message names
the problem (each case lists the words one of which it must contain) and that carries a hint.
The valid bases pass every entry point (a negative control: the refusals are the attack's).

``tests/runtime/test_malicious_models.py`` runs the whole set through the Python API and a
part of it through the CLI in CI.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import io
import json
import os
import pickle  # noqa: TID251 - only to *write* the malicious files; nothing here loads one
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
CPU = ("CPUExecutionProvider",)
PROTOCOLS = range(6)
DISGUISES = (
    "weights.safetensors",
    "model.onnx_data",
    "extra.onnx",
    "data.dat",
    "weights.bin",
    "config2.json",
    "noextension",
    ".hidden.safetensors",
    ".evil.ckpt",
    ".cache/evil.pt",
    ".cache/blob",
    "sub/dir/deep.dat",
)
# the disguises CI tries for every protocol (the campaign tries all of them)
CI_DISGUISES = ("weights.safetensors", "noextension", ".evil.ckpt", ".cache/evil.pt")
PICKLE_WORDS = ("pickle",)
LINK_WORDS = ("outside", "link")
API_TIMEOUT_S = 60
CLI_TIMEOUT_S = 180


# ----------------------------------------------------------------------------- payloads


class _Opener:
    """Unpickling this calls ``open(marker, "w")``: the marker file appears."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (self.marker, "w"))


def payload(marker: Path, protocol: int) -> bytes:
    """A pickle (``protocol`` 0-5) that creates ``marker`` when it is loaded."""
    return pickle.dumps({"state_dict": _Opener(str(marker))}, protocol=protocol)


def torch_checkpoint(marker: Path, path: Path, *, zip_format: bool = True) -> bool:
    """A real PyTorch checkpoint with the payload (False when torch is not installed)."""
    try:
        import torch
    except ImportError:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {"weight": torch.zeros(2), "evil": _Opener(str(marker))},
        str(path),
        _use_new_zipfile_serialization=zip_format,
    )
    return True


def zip_with(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


# ----------------------------------------------------------------------------- valid bases


def build_pack(root: Path) -> Path:
    """A valid model pack: a linear ONNX model, its weights as external data, a README."""
    from genstudio.runtime.packs import write_pack
    from tests.helpers.onnxmodels import linear_model

    root.mkdir(parents=True, exist_ok=True)
    linear_model(root / "model.onnx", external_data="model.weights")
    (root / "README.md").write_text("a tiny model\n")
    write_pack(
        root,
        id="malicious-base",
        kind="test",
        files=["model.onnx", "README.md"],
        license="MIT",
        attribution="the malicious model set",
    )
    return root


def _save(model: Any, path: Path, external: str | None = None) -> None:
    import onnx

    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    if external:
        onnx.save_model(
            model,
            str(path),
            save_as_external_data=True,
            all_tensors_to_one_file=True,
            location=external,
            size_threshold=0,
        )
    else:
        onnx.save_model(model, str(path))


def build_sd(root: Path) -> Path:
    """A tiny Stable Diffusion 1.x ONNX folder in Optimum's layout, built with onnx.helper (no
    torch): it validates, imports and generates a 64x64 image in a fraction of a second. The
    UNet and the VAE encoder keep their weights as external data."""
    from onnx import TensorProto, helper, numpy_helper

    f32 = TensorProto.FLOAT
    op13 = [helper.make_opsetid("", 13)]
    rng = np.random.default_rng(0)
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1, "a</w>": 2, "c": 3, "at</w>": 4}
    vocab["cat</w>"] = 5
    emb = rng.standard_normal((len(vocab), 768)).astype(np.float32)
    text = helper.make_graph(
        [helper.make_node("Gather", ["E", "input_ids"], ["last_hidden_state"], axis=0)],
        "text_encoder",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, 77])],
        [helper.make_tensor_value_info("last_hidden_state", f32, [1, 77, 768])],
        initializer=[numpy_helper.from_array(emb, "E")],
    )
    _save(helper.make_model(text, opset_imports=op13), root / "text_encoder" / "model.onnx")
    unet = helper.make_graph(
        [helper.make_node("Mul", ["sample", "scale"], ["out_sample"])],
        "unet",
        [
            helper.make_tensor_value_info("sample", f32, ["b", 4, "h", "w"]),
            helper.make_tensor_value_info("timestep", f32, [1]),
            helper.make_tensor_value_info("encoder_hidden_states", f32, ["b", 77, 768]),
        ],
        [helper.make_tensor_value_info("out_sample", f32, ["b", 4, "h", "w"])],
        initializer=[numpy_helper.from_array(np.full((1,), 0.1, np.float32), "scale")],
    )
    _save(helper.make_model(unet, opset_imports=op13), root / "unet" / "model.onnx", "weights.pb")
    dec = helper.make_graph(
        [
            helper.make_node("Slice", ["latent_sample", "s0", "s1", "ax"], ["rgb"]),
            helper.make_node("Resize", ["rgb", "", "scales"], ["sample"], mode="nearest"),
        ],
        "vae_decoder",
        [helper.make_tensor_value_info("latent_sample", f32, ["b", 4, "h", "w"])],
        [helper.make_tensor_value_info("sample", f32, ["b", 3, "H", "W"])],
        initializer=[
            numpy_helper.from_array(np.array([0], np.int64), "s0"),
            numpy_helper.from_array(np.array([3], np.int64), "s1"),
            numpy_helper.from_array(np.array([1], np.int64), "ax"),
            numpy_helper.from_array(np.array([1, 1, 8, 8], np.float32), "scales"),
        ],
    )
    _save(helper.make_model(dec, opset_imports=op13), root / "vae_decoder" / "model.onnx")
    enc = helper.make_graph(
        [helper.make_node("Conv", ["sample", "K"], ["latent_parameters"], strides=[8, 8])],
        "vae_encoder",
        [helper.make_tensor_value_info("sample", f32, ["b", 3, "H", "W"])],
        [helper.make_tensor_value_info("latent_parameters", f32, ["b", 8, "h", "w"])],
        initializer=[
            numpy_helper.from_array(
                (rng.standard_normal((8, 3, 8, 8)) * 0.01).astype(np.float32), "K"
            )
        ],
    )
    _save(
        helper.make_model(enc, opset_imports=op13),
        root / "vae_encoder" / "model.onnx",
        "weights.pb",
    )
    (root / "tokenizer").mkdir()
    (root / "tokenizer" / "vocab.json").write_text(json.dumps(vocab))
    (root / "tokenizer" / "merges.txt").write_text("#version: 0.2\nc at</w>\n")
    (root / "scheduler").mkdir()
    (root / "scheduler" / "scheduler_config.json").write_text(
        json.dumps(
            {
                "_class_name": "PNDMScheduler",
                "beta_start": 0.00085,
                "beta_end": 0.012,
                "beta_schedule": "scaled_linear",
                "num_train_timesteps": 1000,
                "set_alpha_to_one": False,
                "skip_prk_steps": True,
                "steps_offset": 1,
                "prediction_type": "epsilon",
            }
        )
    )
    (root / "unet" / "config.json").write_text(
        json.dumps({"sample_size": 8, "in_channels": 4, "out_channels": 4,
                    "cross_attention_dim": 768, "block_out_channels": [32, 64]})
    )  # fmt: skip
    (root / "vae_decoder" / "config.json").write_text(
        json.dumps({"block_out_channels": [32, 32, 32, 32], "scaling_factor": 0.18215})
    )
    (root / "model_index.json").write_text(
        json.dumps({"_class_name": "OnnxStableDiffusionPipeline", "_name_or_path": "tiny"})
    )
    return root


# ----------------------------------------------------------------------------- the outside


@dataclass
class Env:
    """Where a run lives: ``outside`` holds what links and paths point at (watched),
    ``markers`` is where payloads would leave their marker files."""

    base: Path
    outside: Path = field(init=False)
    markers: Path = field(init=False)
    work: Path = field(init=False)

    def __post_init__(self) -> None:
        self.outside = self.base / "outside"
        self.markers = self.base / "markers"
        self.work = self.base / "work"
        for d in (self.outside, self.markers, self.work):
            d.mkdir(parents=True, exist_ok=True)
        from tests.helpers.onnxmodels import linear_model

        linear_model(self.outside / "secret.onnx")  # a model that would load if followed
        linear_model(self.outside / "ext" / "secret-ext.onnx", external_data="secret.weights")
        (self.outside / "secret.json").write_text('{"secret": "SECRET-TOKEN-1f4e"}')
        (self.outside / "secret.weights").write_bytes(np.ones(64, np.float32).tobytes())
        (self.outside / "dir").mkdir(exist_ok=True)
        (self.outside / "dir" / "model.onnx").write_bytes(
            (self.outside / "secret.onnx").read_bytes()
        )
        build_sd(self.outside / "sd")  # a whole valid folder out there
        self.base_pack = build_pack(self.base / "base-pack")
        self.base_sd = build_sd(self.base / "base-sd")

    def marker(self, name: str) -> Path:
        return self.markers / f"{name}.marker"

    def fresh(self, kind: str, name: str) -> Path:
        d = self.work / name
        if d.exists() or d.is_symlink():
            shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
        src = self.base_pack if kind == "pack" else self.base_sd
        shutil.copytree(src, d / src.name, symlinks=True)
        return d / src.name


class Watch:
    """inotify on every folder of ``root``: any open, read or listing of what is in it, by any
    process, is an event. Linux only; ``available`` is False elsewhere."""

    IN_ACCESS, IN_OPEN, IN_ISDIR = 0x1, 0x20, 0x40000000

    def __init__(self, root: Path) -> None:
        self.available = False
        self.events: list[str] = []
        try:
            self._libc = ctypes.CDLL(None, use_errno=True)
            self._fd = self._libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        except (OSError, AttributeError):
            return
        if self._fd < 0:
            return
        self._wds: dict[int, Path] = {}
        for d in [root, *[p for p in root.rglob("*") if p.is_dir() and not p.is_symlink()]]:
            wd = self._libc.inotify_add_watch(
                self._fd, str(d).encode(), self.IN_ACCESS | self.IN_OPEN
            )
            if wd >= 0:
                self._wds[wd] = d
        self.available = bool(self._wds)

    def drain(self) -> list[str]:
        """The accesses since the last call (paths)."""
        if not self.available:
            return []
        out: list[str] = []
        while True:
            try:
                buf = os.read(self._fd, 65536)
            except BlockingIOError:
                break
            i = 0
            while i + 16 <= len(buf):
                wd, mask, _cookie, n = struct.unpack_from("iIII", buf, i)
                name = buf[i + 16 : i + 16 + n].rstrip(b"\0").decode(errors="replace")
                i += 16 + n
                where = self._wds.get(wd, Path("?")) / name
                out.append(f"{'list' if mask & self.IN_ISDIR else 'open/read'} {where}")
        self.events.extend(out)
        return out


# ----------------------------------------------------------------------------- the cases


@dataclass
class Case:
    id: str
    target: str  # "pack" | "sd" | "file" | "pack-late" | "sd-late"
    group: str
    make: Callable[[Path, Env], Path | None]  # changes a fresh base; returns what to feed
    words: tuple[str, ...]  # the message must contain one of them (lower case)
    markers: tuple[str, ...] = ()  # marker names its payloads would create
    # entry points that do not apply: the scan (find_packs) does not hash files by design,
    # hashes are checked by load_pack and before the first session
    skip: tuple[str, ...] = ()
    ci: bool = True  # in the representative part that CI runs (see ``ci_part``)


def _rewrite_model_json(root: Path, change: Callable[[dict[str, Any]], None]) -> None:
    doc = json.loads((root / "model.json").read_text())
    change(doc)
    (root / "model.json").write_text(json.dumps(doc))


def _list_in_pack(root: Path, name: str) -> None:
    """Add ``name`` to model.json with its real hash: only its content can give it away."""
    import hashlib

    data = (root / name).read_bytes()
    _rewrite_model_json(
        root,
        lambda d: d["files"].__setitem__(
            name, {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        ),
    )


def _put(root: Path, rel: str, data: bytes) -> Path:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return p


def _link(root: Path, rel: str, target: Path | str) -> Path:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    if p.exists() or p.is_symlink():
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink()
    p.symlink_to(target)
    return p


def _external(onnx_path: Path, location: str, **fields: str) -> None:
    """Point every external tensor of ``onnx_path`` (or, if none, its first initializer) at
    ``location``, with extra external-data fields (offset, length)."""
    import onnx

    model = onnx.load(str(onnx_path), load_external_data=False)
    inits = list(model.graph.initializer)
    ext = [t for t in inits if t.data_location == onnx.TensorProto.EXTERNAL] or inits[:1]
    for t in ext:
        t.ClearField("raw_data")
        t.data_location = onnx.TensorProto.EXTERNAL
        del t.external_data[:]
        for k, v in {"location": location, **fields}.items():
            e = t.external_data.add()
            e.key, e.value = k, v
    onnx_path.write_bytes(model.SerializeToString())


def _safetensors(
    header: bytes | dict[str, Any], data: bytes = b"", *, length: int | None = None
) -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    n = len(raw) if length is None else length
    return struct.pack("<Q", n) + raw + data


def _st_entry(dtype: str, shape: list[int], begin: int, end: int) -> dict[str, Any]:
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


def _varint(n: int) -> bytes:
    out = b""
    while True:
        b, n = n & 0x7F, n >> 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def _field(num: int, payload: bytes) -> bytes:
    return _varint(num << 3 | 2) + _varint(len(payload)) + payload


def _deep_onnx(levels: int) -> bytes:
    """A ModelProto whose graph nests ``levels`` subgraphs (node attribute ``g``): beyond
    protobuf's recursion limit."""
    g = b""
    for _ in range(levels):
        g = _field(1, _field(5, _field(6, g)))  # GraphProto.node -> NodeProto.attribute -> .g
    return _varint(1 << 3) + _varint(8) + _field(7, g)


def _sparse(path: Path, size: int, head: bytes = b"") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(head)
        f.truncate(size)
    return path


def build_cases(env: Env, *, with_torch: bool = True) -> list[Case]:
    cases: list[Case] = []

    def add(id: str, target: str, group: str, make, words, markers=(), skip=(), ci=True) -> None:
        cases.append(Case(id, target, group, make, tuple(words), tuple(markers), tuple(skip), ci))

    # -- pickles of every protocol under every disguise, in packs, SD folders, alone
    for proto in PROTOCOLS:
        for rel in DISGUISES:
            tag = rel.replace("/", "_").lstrip(".") or "x"
            for target in ("pack", "pack-listed", "sd"):
                mid = f"p{proto}-{tag}-{target}"

                def make(root, env, rel=rel, proto=proto, mid=mid, target=target):
                    _put(root, rel, payload(env.marker(mid), proto))
                    if target == "pack-listed":
                        _list_in_pack(root, rel)
                    return root

                add(mid, "pack" if target.startswith("pack") else "sd", "pickle", make,
                    PICKLE_WORDS, [mid], ci=rel in CI_DISGUISES)  # fmt: skip
        for name in ("model.safetensors", "v1-5.onnx", "model.dat", "model", "sd.ckpt"):
            mid = f"p{proto}-single-{name}"

            def make_single(root, env, name=name, proto=proto, mid=mid):
                return _put(root.parent, name, payload(env.marker(mid), proto))

            add(mid, "file", "pickle", make_single, PICKLE_WORDS, [mid])
        # a pickle replacing a listed file of a pack after the scan, before the session
        mid = f"p{proto}-swap-model.onnx"

        def make_swap(root, env, proto=proto, mid=mid):
            (root / "model.onnx").write_bytes(payload(env.marker(mid), proto))
            return root

        add(mid, "pack-late", "pickle", make_swap, ("sha-256", "bytes", "pickle"), [mid])
        mid = f"p{proto}-as-unet"

        def make_unet(root, env, proto=proto, mid=mid):
            (root / "unet" / "model.onnx").write_bytes(payload(env.marker(mid), proto))
            return root

        add(mid, "sd", "pickle", make_unet, PICKLE_WORDS, [mid])
        mid = f"p{proto}-late-vae-encoder"

        def make_late(root, env, proto=proto, mid=mid):
            (root / "vae_encoder" / "model.onnx").write_bytes(payload(env.marker(mid), proto))
            return root

        add(mid, "sd-late", "pickle", make_late, PICKLE_WORDS, [mid])

    # -- zip (PyTorch) checkpoints
    zips = {
        "zip-data.pkl": {"data.pkl": None, "version": b"3\n"},
        "zip-archive-data.pkl": {"archive/data.pkl": None, "archive/version": b"3\n"},
        "zip-other.pkl": {"weights/model.pkl": None},
        "zip-member-no-name": {"archive/weights": None, "archive/version": b"3\n"},
    }
    for zname, members in zips.items():
        for rel in ("model.safetensors", "model.onnx_data", "checkpoint.zip", ".cache/z"):
            for target in ("pack", "sd"):
                mid = f"{zname}-{rel.replace('/', '_')}-{target}"

                def make_zip(root, env, members=members, rel=rel, mid=mid):
                    data = {
                        k: (payload(env.marker(mid), 2) if v is None else v)
                        for k, v in members.items()
                    }
                    _put(root, rel, zip_with(data))
                    return root

                add(mid, target, "zip", make_zip, ("pickle", "zip"), [mid])
    if with_torch:
        for fmt in ("zip", "legacy"):
            for rel in ("model.pt", "model.safetensors", "unet/extra.onnx", ".cache/hidden-ckpt"):
                for target in ("pack", "sd"):
                    mid = f"torch-{fmt}-{rel.replace('/', '_')}-{target}"

                    def make_torch(root, env, fmt=fmt, rel=rel, mid=mid):
                        torch_checkpoint(env.marker(mid), root / rel, zip_format=fmt == "zip")
                        return root

                    add(mid, target, "torch", make_torch, ("pickle",), [mid])

    # -- links out of the folder, special files
    def links(target: str) -> list[tuple[str, Callable[[Path, Env], Any]]]:
        o = env.outside
        common = [
            ("link-file-out", lambda r, e: _link(r, "notes.onnx", o / "secret.onnx")),
            ("link-dir-out", lambda r, e: _link(r, "sub", o / "dir")),
            ("link-dot-out", lambda r, e: _link(r, ".cache", o / "dir")),
            ("link-relative-out", lambda r, e: _link(r, "x.json", Path("../../../outside/secret.json"))),
            ("link-dangling", lambda r, e: _link(r, "gone.onnx", o / "does-not-exist.onnx")),
            ("link-loop", lambda r, e: (_link(r, "a", r / "b"), _link(r, "b", r / "a"))),
        ]  # fmt: skip
        if target == "pack":
            return common + [
                ("link-model-out", lambda r, e: _link(r, "model.onnx", o / "secret.onnx")),
                ("link-model-json-out", lambda r, e: _link(r, "model.json", o / "secret.json")),
                ("link-weights-out", lambda r, e: _link(r, "model.weights", o / "secret.weights")),
            ]  # fmt: skip
        return common + [
            ("link-unet-out", lambda r, e: _link(r, "unet/model.onnx", o / "sd/unet/model.onnx")),
            ("link-unet-dir-out", lambda r, e: _link(r, "unet", o / "sd/unet")),
            ("link-unet-weights-out", lambda r, e: _link(r, "unet/weights.pb", o / "sd/unet/weights.pb")),
            ("link-vocab-out", lambda r, e: _link(r, "tokenizer/vocab.json", o / "sd/tokenizer/vocab.json")),
            ("link-sched-out", lambda r, e: _link(r, "scheduler/scheduler_config.json", o / "sd/scheduler/scheduler_config.json")),
            ("link-index-out", lambda r, e: _link(r, "model_index.json", o / "sd/model_index.json")),
        ]  # fmt: skip

    for target in ("pack", "sd"):
        for name, fn in links(target):

            def make_link(root, env, fn=fn):
                fn(root, env)
                return root

            add(f"{name}-{target}", target, "link", make_link, LINK_WORDS + ("cannot be followed",))

        def make_fifo(root, env):
            os.mkfifo(root / "pipe.onnx")
            return root

        add(f"fifo-{target}", target, "special", make_fifo, ("not a regular file",))
    # links made after the scan / after the pipeline was built (load time)
    o = env.outside
    late = {
        "pack-late": [
            ("late-link-model-out", lambda r, e: _link(r, "model.onnx", o / "secret.onnx")),
            ("late-link-weights-out", lambda r, e: _link(r, "model.weights", o / "secret.weights")),
        ],
        "sd-late": [
            ("late-link-vae-encoder-out", lambda r, e: _link(r, "vae_encoder/model.onnx", o / "sd/vae_encoder/model.onnx")),
            ("late-link-vae-weights-out", lambda r, e: _link(r, "vae_encoder/weights.pb", o / "sd/vae_encoder/weights.pb")),
            ("late-ort-mem-vae", lambda r, e: _external(r / "vae_encoder/model.onnx", "*/_ORT_MEM_ADDR_/*")),
            ("late-traversal-vae", lambda r, e: _external(r / "vae_encoder/model.onnx", "../../../outside/secret.weights")),
        ],
    }  # fmt: skip
    for target, items in late.items():
        for name, fn in items:

            def make_late_link(root, env, fn=fn):
                fn(root, env)
                return root

            words = LINK_WORDS + ("_ort_mem_addr_", "sha-256", "bytes, model.json says")
            add(name, target, "link", make_late_link, words)

    # -- ONNX external data
    secret_w = str(env.outside / "secret.weights")
    ext = [
        ("ext-dotdot", "../../outside/secret.weights", {}, ("outside",)),
        ("ext-dotdot-deep", "a/../../../../outside/secret.weights", {}, ("outside",)),
        ("ext-absolute", secret_w, {}, ("outside",)),
        ("ext-backslash", "..\\..\\outside\\secret.weights", {}, ("outside",)),
        ("ext-windows-drive", "C:\\Windows\\secret.weights", {}, ("outside",)),
        ("ext-ort-mem", "*/_ORT_MEM_ADDR_/*", {}, ("_ort_mem_addr_",)),
        ("ext-ort-mem-path", "x/_ORT_MEM_ADDR_/y", {}, ("_ort_mem_addr_",)),
        ("ext-nul", "model.weights\0../../x", {}, ("nul byte",)),
        ("ext-offset-past-end", "SELF", {"offset": "1000000"}, ("past the end",)),
        ("ext-length-past-end", "SELF", {"offset": "0", "length": "99999999"}, ("past the end",)),
        ("ext-offset-negative", "SELF", {"offset": "-5"}, ("whole number",)),
        ("ext-offset-text", "SELF", {"offset": "12abc"}, ("whole number",)),
        ("ext-missing-file", "nowhere.weights", {}, ("missing",)),
        ("ext-is-folder", "sub", {}, ("not a regular file", "missing")),
        ("ext-empty-location", "", {}, ("without a location",)),
    ]
    for target in ("pack", "sd"):
        for name, loc, fields, words in ext:

            def make_ext(root, env, loc=loc, fields=fields, target=target):
                onnx_path = root / ("model.onnx" if target == "pack" else "unet/model.onnx")
                self_loc = "model.weights" if target == "pack" else "weights.pb"
                (onnx_path.parent / "sub").mkdir(exist_ok=True)
                _external(onnx_path, self_loc if loc == "SELF" else loc, **fields)
                if target == "pack":
                    _list_in_pack(root, "model.onnx")
                return root

            add(f"{name}-{target}", target, "external-data", make_ext, words)

    # -- safetensors headers
    f32 = _st_entry("F32", [2], 0, 8)
    bad_st = [
        ("st-len-huge", _safetensors(b"{}", length=2**63), ("header length",)),
        ("st-len-past-end", _safetensors(b'{"a": 1}', length=5000), ("past the end",)),
        ("st-len-over-cap", None, ("out of range",)),
        ("st-len-tiny", _safetensors(b"{", length=1), ("out of range",)),
        ("st-short", b"\x01\x02\x03", ("fewer than",)),
        ("st-not-json", _safetensors(b"{not json at all}"), ("not valid json",)),
        ("st-bad-utf8", _safetensors(b'{"\xff\xfe": 1}'), ("not valid json",)),
        ("st-array", _safetensors(b"[1, 2, 3]"), ("not a json object",)),
        ("st-deep", _safetensors(b'{"a":' + b"[" * 100000 + b"]" * 100000 + b"}"), ("nested", "not valid json")),
        ("st-dup-key", _safetensors(b'{"w": %s, "w": %s}' % (json.dumps(f32).encode(), json.dumps(f32).encode()), b"\0" * 8), ("twice",)),
        ("st-dtype", _safetensors({"w": _st_entry("F128", [2], 0, 32)}, b"\0" * 32), ("unknown dtype",)),
        ("st-shape", _safetensors({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, b"\0" * 4), ("invalid shape",)),
        ("st-shape-text", _safetensors({"w": {"dtype": "F32", "shape": "big", "data_offsets": [0, 4]}}, b"\0" * 4), ("invalid shape",)),
        ("st-offsets-out", _safetensors({"w": _st_entry("F32", [2], 0, 800)}, b"\0" * 8), ("offsets outside",)),
        ("st-offsets-reversed", _safetensors({"w": _st_entry("F32", [0], 8, 0)}, b"\0" * 8), ("offsets outside",)),
        ("st-size-mismatch", _safetensors({"w": _st_entry("F32", [3], 0, 8)}, b"\0" * 8), ("does not match",)),
        ("st-overlap", _safetensors({"a": _st_entry("F32", [2], 0, 8), "b": _st_entry("F32", [2], 4, 12)}, b"\0" * 12), ("overlaps", "gap")),
        ("st-gap", _safetensors({"a": _st_entry("F32", [1], 4, 8)}, b"\0" * 8), ("gap",)),
        ("st-trailing", _safetensors({"a": _st_entry("F32", [2], 0, 8)}, b"\0" * 8 + b"JUNK" * 100), ("follow the last",)),
        ("st-metadata", _safetensors({"__metadata__": {"a": 1}, "w": f32}, b"\0" * 8), ("__metadata__",)),
        ("st-entry-not-object", _safetensors({"w": [1, 2]}), ("not described",)),
        ("st-huge-shape", _safetensors({"w": _st_entry("F32", [2**40, 2**40], 0, 8)}, b"\0" * 8), ("does not match",)),
    ]  # fmt: skip
    for target in ("pack", "pack-listed", "sd"):
        for name, data, words in bad_st:
            for rel in ("weights.safetensors", ".hidden/w.safetensors"):
                cid = f"{name}-{rel.split('/')[0].lstrip('.')}-{target}"

                def make_st(root, env, data=data, rel=rel, target=target):
                    if data is None:  # a header length just over the 100 MB cap, sparse
                        p = root / rel
                        _sparse(p, 100_000_010 + 8, struct.pack("<Q", 100_000_001) + b"{")
                    else:
                        _put(root, rel, data)
                    if target == "pack-listed":
                        _list_in_pack(root, rel)
                    return root

                add(cid, "pack" if target.startswith("pack") else "sd", "safetensors",
                    make_st, words, ci=not rel.startswith("."))  # fmt: skip

    # -- ONNX files: oversized, malformed
    def onnx_bad(
        name: str, fn: Callable[[Path], Any], words: tuple[str, ...], listed: bool = True
    ) -> None:
        for target in ("pack", "sd"):

            def make_onnx(root, env, fn=fn, target=target):
                p = root / ("model.onnx" if target == "pack" else "unet/model.onnx")
                fn(p)
                if target == "pack" and listed:
                    _list_in_pack(root, "model.onnx")
                return root

            add(f"{name}-{target}", target, "onnx", make_onnx, words)

    onnx_bad("onnx-oversized", lambda p: _sparse(p, 3 << 30, b"\x08\x08"), ("2 gb",), False)
    onnx_bad(
        "onnx-random",
        lambda p: p.write_bytes(np.random.default_rng(1).bytes(5000)),
        ("not a valid onnx", "damaged", "pickle"),
    )
    onnx_bad(
        "onnx-truncated",
        lambda p: p.write_bytes(p.read_bytes()[:40]),
        ("not a valid onnx", "damaged"),
    )
    onnx_bad(
        "onnx-deep",
        lambda p: p.write_bytes(_deep_onnx(300)),
        ("not a valid onnx", "damaged"),
    )
    onnx_bad(
        "onnx-empty", lambda p: p.write_bytes(b""), ("not a valid onnx", "damaged", "no inputs")
    )
    # fmt: on

    # -- model.json attacks (packs)
    def pack_json(
        name: str, fn: Callable[[Path], Any], words: tuple[str, ...], skip: tuple[str, ...] = ()
    ) -> None:
        def make_json(root, env, fn=fn):
            fn(root)
            return root

        add(name, "pack", "model.json", make_json, words, skip=skip)

    def flip(root: Path) -> None:
        p = root / "README.md"
        p.write_text("a tiny modeL\n")

    scan = ("find_packs",)
    pack_json("hash-mismatch", flip, ("sha-256",), scan)
    pack_json(
        "size-mismatch",
        lambda r: (r / "README.md").write_text("longer text\n"),
        ("bytes, model.json says",),
        scan,
    )
    pack_json(
        "weights-changed",
        lambda r: (r / "model.weights").write_bytes(b"\0" * 60),
        ("sha-256",),
        scan,
    )
    pack_json(
        "files-dotdot",
        lambda r: _rewrite_model_json(
            r,
            lambda d: d["files"].__setitem__(
                "../../outside/secret.onnx", {"sha256": "0" * 64, "size": 1}
            ),
        ),
        ("not a plain path",),
    )
    pack_json(
        "files-absolute",
        lambda r: _rewrite_model_json(
            r,
            lambda d: d["files"].__setitem__(
                str(env.outside / "secret.onnx"), {"sha256": "0" * 64, "size": 1}
            ),
        ),
        ("not a plain path",),
    )
    pack_json(
        "files-missing",
        lambda r: _rewrite_model_json(
            r, lambda d: d["files"].__setitem__("gone.onnx", {"sha256": "0" * 64, "size": 1})
        ),
        ("missing",),
    )
    pack_json(
        "model-json-huge",
        lambda r: _sparse(r / "model.json", 200_000_000, b'{"id": "'),
        ("larger than", "mb"),
    )
    pack_json(
        "model-json-fifo",
        lambda r: ((r / "model.json").unlink(), os.mkfifo(r / "model.json")),
        ("not a regular file",),
    )
    pack_json(
        "model-json-deep",
        lambda r: (r / "model.json").write_text("[" * 200000 + "]" * 200000),
        ("nested", "json object", "not valid json"),
    )
    pack_json(
        "model-json-not-utf8",
        lambda r: (r / "model.json").write_bytes(b'{"id": "\xff"}'),
        ("not valid json",),
    )
    pack_json(
        "ext-unlisted",
        lambda r: _rewrite_model_json(r, lambda d: d["files"].pop("model.weights")),
        ("not listed",),
    )
    # fmt: skip
    return cases


# ----------------------------------------------------------------------------- entry points


@dataclass
class Run:
    case: str
    entry: str
    refused: bool
    clear: bool
    message: str
    traceback: bool = False
    hang: bool = False
    seconds: float = 0.0


class _Timeout(Exception):
    pass


@contextlib.contextmanager
def _alarm(seconds: int) -> Iterator[None]:
    def fire(signum, frame):
        raise _Timeout()

    old = signal.signal(signal.SIGALRM, fire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _judge_error(e: BaseException, words: tuple[str, ...]) -> tuple[bool, bool, str]:
    from genstudio.core.errors import GenStudioError

    if not isinstance(e, GenStudioError):
        return True, False, f"{type(e).__name__}: {e}"[:500]
    text = e.user_message()
    clear = bool(e.hint) and any(w in text.lower() for w in words)
    return True, clear, text[:500]


def api_run(case: Case, entry: str, fn: Callable[[], Any]) -> Run:
    """One Python API entry point: refused means a GenStudioError, clear means it has a hint
    and names the problem."""
    t0 = time.perf_counter()
    try:
        with _alarm(API_TIMEOUT_S):
            fn()
    except _Timeout:
        return Run(case.id, entry, False, False, "hang", hang=True, seconds=API_TIMEOUT_S)
    except Exception as e:
        refused, clear, msg = _judge_error(e, case.words)
        return Run(case.id, entry, refused, clear, msg[:240], seconds=time.perf_counter() - t0)
    return Run(case.id, entry, False, False, "accepted", seconds=time.perf_counter() - t0)


def _cli_env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        HOME=str(home),
        GENSTUDIO_CONFIG_DIR=str(home / "config"),
        GENSTUDIO_DATA_DIR=str(home / "data"),
        PYTHONPATH=str(ROOT),
        ORT_DISABLE_TELEMETRY="1",
    )
    return env


def cli_run(
    case: Case,
    entry: str,
    args: list[str],
    home: Path,
    check: Callable[[], str | None] | None = None,
) -> Run:
    """One CLI entry point in a subprocess: refused means exit code != 0 (2: a GenStudioError)
    with an ``error:`` line and no traceback; clear means the output names the problem and
    has a hint line; ``check`` may report something left behind."""
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "genstudio", *args],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=CLI_TIMEOUT_S,
            env=_cli_env(home),
            cwd=str(home),
        )
    except subprocess.TimeoutExpired:
        return Run(case.id, entry, False, False, "hang", hang=True, seconds=CLI_TIMEOUT_S)
    out = proc.stdout + proc.stderr
    tb = "Traceback (most recent call last)" in out
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    refused = proc.returncode != 0 and any(ln.startswith("error:") for ln in lines)
    clear = refused and not tb and len(lines) >= 2 and any(w in out.lower() for w in case.words)
    left = check() if check else None
    if left:
        refused, clear, out = False, False, f"{left}; {out}"
    return Run(case.id, entry, refused, clear, out.strip()[-240:], traceback=tb,
               seconds=time.perf_counter() - t0)  # fmt: skip


def _entries(case: Case, env: Env, subject: Path, home: Path, cli: bool) -> list[Run]:
    from genstudio.generators.images.sd.folder import validate_sd_folder
    from genstudio.generators.images.sd.pipeline import SDPipeline
    from genstudio.runtime.packs import find_packs, load_pack
    from genstudio.runtime.sessions import SessionCache

    runs: list[Run] = []
    if case.target == "pack":
        runs.append(api_run(case, "load_pack", lambda: load_pack(subject)))

        def scan() -> None:
            errors: list[Any] = []
            found = find_packs(subject, on_error=lambda p, e: errors.append(e))
            if found:
                return
            raise errors[0] if errors else RuntimeError("find_packs neither found nor refused")

        if "find_packs" not in case.skip:
            runs.append(api_run(case, "find_packs", scan))
        runs.append(
            api_run(
                case,
                "session",
                lambda: SessionCache(threads=1, prefer=CPU).get(load_pack(subject, verify=False)),
            )
        )
        if cli:
            runs.append(cli_run(case, "cli models check", ["models", "check", str(subject)], home))
    elif case.target in ("sd", "file"):
        runs.append(api_run(case, "validate_sd_folder", lambda: validate_sd_folder(subject)))
        if case.target == "sd":
            runs.append(api_run(case, "SDPipeline", lambda: SDPipeline(subject, CPU, threads=1)))
        if cli:
            models = home / "imported"
            runs.append(
                cli_run(
                    case,
                    "cli models import",
                    ["models", "import", str(subject), "--models-dir", str(models)],
                    home,
                    check=lambda: (
                        f"left in the models folder: {sorted(p.name for p in models.iterdir())}"
                        if models.is_dir() and any(models.iterdir())
                        else None
                    ),
                )
            )
            if case.target == "sd":
                out = home / "out"
                runs.append(
                    cli_run(
                        case,
                        "cli generate image",
                        [
                            "generate",
                            "image",
                            "--model",
                            str(subject),
                            "--prompt",
                            "a cat",
                            "--steps",
                            "1",
                            "--width",
                            "64",
                            "--height",
                            "64",
                            "--out",
                            str(out),
                        ],
                        home,
                        check=lambda: (
                            f"images written: {sorted(p.name for p in out.iterdir())}"
                            if out.is_dir() and any(out.iterdir())
                            else None
                        ),
                    )  # fmt: skip
                )
    return runs


def run_case(case: Case, env: Env, watch: Watch, *, cli: bool) -> dict[str, Any]:
    """Build ``case`` on a fresh base, feed it to its entry points; the report row."""
    from genstudio.generators.images.sd.pipeline import SDPipeline
    from genstudio.runtime.packs import load_pack
    from genstudio.runtime.sessions import SessionCache

    kind = "pack" if case.target.startswith("pack") else "sd"
    root = env.fresh(kind, case.id)
    home = root.parent / "home"
    home.mkdir()
    runs: list[Run] = []
    build_error = None
    watch.drain()  # what building the base did is not the case's
    if case.target == "pack-late":
        pack = load_pack(root, verify=False)  # the scan, as the studio does it
        case.make(root, env)
        watch.drain()
        runs.append(
            api_run(
                case, "session after scan", lambda: SessionCache(threads=1, prefer=CPU).get(pack)
            )
        )
    elif case.target == "sd-late":
        pipe = SDPipeline(root, CPU, threads=1)  # built; its VAE encoder loads on first use
        case.make(root, env)
        watch.drain()
        runs.append(api_run(case, "vae_encoder on first use", lambda: pipe.vae_encoder))
    else:
        try:
            subject = case.make(root, env) or root
        except Exception as e:  # a case that cannot be built here (no torch, no mkfifo)
            build_error = f"{type(e).__name__}: {e}"
            subject = None
        watch.drain()
        if subject is not None:
            runs = _entries(case, env, Path(subject), home, cli)
    reads = watch.drain()
    executed = [m for m in case.markers if env.marker(m).exists()]
    return {
        "id": case.id,
        "target": case.target,
        "group": case.group,
        "build_error": build_error,
        "runs": [{**r.__dict__, "seconds": round(r.seconds, 3)} for r in runs],
        "code_executed": executed,
        "outside_reads": reads,
    }


# ----------------------------------------------------------------------------- controls


def positive_control(env: Env, cases: list[Case]) -> dict[str, Any]:
    """Prove the payloads are live: unpickle one payload per protocol (and a torch
    checkpoint, with ``weights_only=False``) in a child process; each must create its
    marker. The markers go to a separate folder, so they never count as an execution."""
    ctrl = env.base / "control"
    ctrl.mkdir(exist_ok=True)
    checks = {}
    code = "import pickle, sys\npickle.loads(open(sys.argv[1], 'rb').read())\n"
    for proto in PROTOCOLS:
        marker = ctrl / f"p{proto}.marker"
        f = ctrl / f"p{proto}.safetensors"
        f.write_bytes(payload(marker, proto))
        subprocess.run([sys.executable, "-c", code, str(f)], capture_output=True, timeout=60)
        checks[f"protocol {proto}"] = marker.exists()
    marker = ctrl / "torch.marker"
    if torch_checkpoint(marker, ctrl / "model.pt"):
        subprocess.run(
            [sys.executable, "-c",
             "import sys, torch; torch.load(sys.argv[1], weights_only=False)",
             str(ctrl / "model.pt")],
            capture_output=True, timeout=120,
        )  # fmt: skip
        checks["torch zip checkpoint"] = marker.exists()
    return checks


def negative_control(env: Env, cli: bool) -> dict[str, Any]:
    """The valid bases pass every entry point (so each refusal is the attack's doing)."""
    from genstudio.generators.images.sd.folder import validate_sd_folder
    from genstudio.generators.images.sd.pipeline import SDPipeline
    from genstudio.runtime.packs import find_packs, load_pack
    from genstudio.runtime.sessions import SessionCache

    pack = env.fresh("pack", "control-pack")
    sd = env.fresh("sd", "control-sd")
    res: dict[str, Any] = {}
    res["load_pack"] = load_pack(pack).verified
    res["find_packs"] = len(find_packs(pack)) == 1
    res["session"] = (
        SessionCache(threads=1, prefer=CPU).get(load_pack(pack, verify=False)) is not None
    )
    res["validate_sd_folder"] = validate_sd_folder(sd).variant == "sd1"
    pipe = SDPipeline(sd, CPU, threads=1)
    res["SDPipeline"] = pipe.generate("a cat", steps=1, width=64, height=64) is not None
    res["vae_encoder"] = pipe.vae_encoder is not None
    if cli:
        home = sd.parent / "home"
        home.mkdir()
        e = _cli_env(home)
        for name, args in {
            "cli models check": ["models", "check", str(pack)],
            "cli models import": ["models", "import", str(sd), "--models-dir", str(home / "m")],
            "cli generate image": ["generate", "image", "--model", str(sd), "--prompt", "a cat",
                                   "--steps", "1", "--width", "64", "--height", "64",
                                   "--out", str(home / "out")],
        }.items():  # fmt: skip
            p = subprocess.run([sys.executable, "-m", "genstudio", *args], capture_output=True,
                               text=True, env=e, cwd=str(home), timeout=CLI_TIMEOUT_S)  # fmt: skip
            res[name] = p.returncode == 0 or (p.stdout + p.stderr)[-400:]
    return res


# ----------------------------------------------------------------------------- the run


def ci_part(case: Case) -> bool:
    """The representative part CI runs: every group, target and protocol; pickles under four
    disguises, safetensors headers under one name."""
    return case.ci


def run_all(
    base: Path, *, cli: bool = True, only: Callable[[Case], bool] | None = None,
    log: Callable[[str], None] | None = None, controls: bool = True,
) -> dict[str, Any]:  # fmt: skip
    t0 = time.time()
    env = Env(base)
    with_torch = True
    try:
        import torch  # noqa: F401
    except ImportError:
        with_torch = False
    cases = build_cases(env, with_torch=with_torch)
    if only is not None:
        cases = [c for c in cases if only(c)]
    checks = (
        {
            "payloads_live": positive_control(env, cases),
            "valid_bases_pass": negative_control(env, cli),
        }
        if controls
        else {}
    )
    watch = Watch(env.outside)
    rows = []
    for i, case in enumerate(cases):
        rows.append(run_case(case, env, watch, cli=cli))
        if log:
            bad = [r for r in rows[-1]["runs"] if not (r["refused"] and r["clear"])]
            log(f"[{i + 1}/{len(cases)}] {case.id}: {len(rows[-1]['runs'])} runs"
                + (f", NOT CLEAR: {bad}" if bad else ""))  # fmt: skip
        shutil.rmtree(env.work / case.id, ignore_errors=True)
    markers_left = sorted(p.name for p in env.markers.iterdir())
    runs = [r for row in rows for r in row["runs"]]
    summary = {
        "cases": len(rows),
        "cases_built": sum(1 for r in rows if not r["build_error"]),
        "by_group": {g: sum(1 for r in rows if r["group"] == g) for g in sorted({r["group"] for r in rows})},
        "by_target": {t: sum(1 for r in rows if r["target"] == t) for t in sorted({r["target"] for r in rows})},
        "entry_point_runs": len(runs),
        "by_entry_point": {e: sum(1 for r in runs if r["entry"] == e) for e in sorted({r["entry"] for r in runs})},
        "cli_runs": sum(1 for r in runs if r["entry"].startswith("cli")),
        "refused": sum(1 for r in runs if r["refused"]),
        "refused_with_clear_message": sum(1 for r in runs if r["refused"] and r["clear"]),
        "accepted": sum(1 for r in runs if not r["refused"]),
        "tracebacks": sum(1 for r in runs if r["traceback"]),
        "hangs": sum(1 for r in runs if r["hang"]),
        "code_executions": sum(len(r["code_executed"]) for r in rows) + len(markers_left),
        "outside_reads": sum(len(r["outside_reads"]) for r in rows),
        "outside_watch": "inotify (open, read, list) on every folder of the outside tree"
        if watch.available else "unavailable",
        "cases_not_built": [r["id"] for r in rows if r["build_error"]],
        "seconds": round(time.time() - t0, 1),
    }  # fmt: skip
    failures = [
        {"id": row["id"], "runs": [r for r in row["runs"] if not (r["refused"] and r["clear"])],
         "code_executed": row["code_executed"], "outside_reads": row["outside_reads"]}
        for row in rows
        if row["code_executed"] or row["outside_reads"]
        or any(not (r["refused"] and r["clear"]) for r in row["runs"])
    ]  # fmt: skip
    return {
        "campaign": "malicious model set (issue 11)",
        "command": "python -m tests.campaigns.malicious_models --out docs/campaigns/malicious-models.json",
        "platform": {"python": sys.version.split()[0], "machine": os.uname().machine,
                     "cores": os.cpu_count()},
        "summary": summary,
        "controls": checks,
        "failures": failures,
        "cases": rows,
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--no-cli", action="store_true", help="Python API entry points only")
    ap.add_argument("--match", help="only cases whose id contains this")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="genstudio-malicious-") as tmp:
        report = run_all(
            Path(tmp),
            cli=not args.no_cli,
            only=(lambda c: args.match in c.id) if args.match else None,
            log=lambda s: print(s, flush=True),
        )
        text = json.dumps(report, indent=1).replace(tmp, "<tmp>")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    print(json.dumps(report["summary"], indent=1))
    s = report["summary"]
    ok = (
        s["code_executions"] == 0
        and s["outside_reads"] == 0
        and s["refused_with_clear_message"] == s["entry_point_runs"]
        and not s["tracebacks"]
        and not s["hangs"]
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
