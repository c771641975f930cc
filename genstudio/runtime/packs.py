"""Model packs: a folder with ``model.json`` and ONNX (plus optional safetensors) files.

``model.json``::

    {
      "id": "sprites-vae-16", "kind": "sprite-vae", "version": "1",
      "license": "MIT", "attribution": "trained by GenStudio on ...",
      "inputs": [...], "outputs": [...],
      "files": {"model.onnx": {"sha256": "<64 hex>", "size": 1234}, ...},
      "training": {...provenance...}, "metrics": {...}
    }

Loading a pack is where untrusted files enter the studio, so :func:`load_pack` refuses, with a
message that says why:

- pickle formats (``.ckpt .pt .pth .bin .pkl .pickle``, files starting with the pickle magic
  ``0x80 0x02..0x05``, zip archives holding a ``data.pkl``) anywhere in the pack: unpickling
  runs code (InvokeAI CVE-2024-12029, picklescan bypasses);
- files whose SHA-256 or size differs from ``model.json``;
- ONNX external-data locations that leave the pack folder (absolute paths, ``..``, symlinks),
  walked through every initializer and attribute, subgraphs and functions included (the
  ONNX external-data path-traversal CVEs).

Nothing here imports onnxruntime; ``onnx`` is imported only when an ONNX file is checked.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from genstudio.core.atomic import atomic_write_json, read_json
from genstudio.core.errors import GenStudioError, ModelPackError, UnsafeModelError

log = logging.getLogger(__name__)

PACK_FILE = "model.json"
PICKLE_EXTENSIONS = frozenset({".ckpt", ".pt", ".pth", ".bin", ".pkl", ".pickle"})
PICKLE_HINT = "pickle formats can run code; convert to safetensors/ONNX"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_CHUNK = 1 << 20


@dataclass
class ModelPack:
    """A model pack folder as described by its ``model.json`` (see module docstring)."""

    root: Path
    id: str
    kind: str
    version: str
    license: str
    attribution: str
    inputs: list[Any]
    outputs: list[Any]
    files: dict[str, dict[str, Any]]  # name -> {"sha256": ..., "size": ...}
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)
    verified: bool = False  # hashes checked (load_pack(verify=True) or verify_pack)

    def onnx_path(self, name: str | None = None) -> Path:
        """The ONNX file ``name`` (with or without ``.onnx``), or the pack's only/``model`` one."""
        onnx_files = sorted(f for f in self.files if f.lower().endswith(".onnx"))
        if name is None:
            if len(onnx_files) == 1:
                return self.root / onnx_files[0]
            if "model.onnx" in onnx_files:
                return self.root / "model.onnx"
            if not onnx_files:
                raise ModelPackError(f"Model pack {self.id!r} has no ONNX file.")
            raise ModelPackError(
                f"Model pack {self.id!r} has several ONNX files; say which one.",
                hint=f"Files: {', '.join(onnx_files)}",
            )
        for candidate in (name, f"{name}.onnx"):
            if candidate in onnx_files:
                return self.root / candidate
        raise ModelPackError(
            f"Model pack {self.id!r} has no ONNX file {name!r}.",
            hint=f"Files: {', '.join(onnx_files) or 'none'}",
        )

    def sha256(self, name: str | None = None) -> str:
        """The recorded hash of an ONNX file (for asset provenance)."""
        return str(self.files[self.onnx_path(name).relative_to(self.root).as_posix()]["sha256"])


# ----------------------------------------------------------------------------- file checks


def _looks_like_safetensors(head: bytes, size: int) -> bool:
    # 8-byte little-endian header length, then a JSON object. Checked first because a header
    # length such as 0x0280 starts with the same two bytes as a pickle.
    if len(head) < 9:
        return False
    n = int.from_bytes(head[:8], "little")
    return 2 <= n <= size - 8 and head[8:9] == b"{"


def check_model_file(path: str | os.PathLike[str]) -> None:
    """Refuse pickle-based files (by extension, magic bytes or torch zip layout)."""
    path = Path(path)
    if path.suffix.lower() in PICKLE_EXTENSIONS:
        raise UnsafeModelError(
            f"{path.name}: refused, {PICKLE_HINT}.",
            hint="Model packs may only hold .onnx, .safetensors and plain data files.",
        )
    try:
        with open(path, "rb") as f:
            head = f.read(16)
        size = path.stat().st_size
    except OSError as e:
        raise ModelPackError(f"Cannot read {path}: {e.strerror or e}") from e
    if _looks_like_safetensors(head, size):
        return
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        raise UnsafeModelError(f"{path.name}: refused, it is a pickle; {PICKLE_HINT}.")
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as z:
                names = z.namelist()
        except (zipfile.BadZipFile, OSError):
            return
        if any(n == "data.pkl" or n.endswith("/data.pkl") or n.endswith(".pkl") for n in names):
            raise UnsafeModelError(
                f"{path.name}: refused, it is a PyTorch zip checkpoint; {PICKLE_HINT}."
            )


def _iter_tensors(graph: Any) -> Iterator[Any]:
    """Every TensorProto of a graph, its nodes' attributes and all nested subgraphs."""
    yield from graph.initializer
    for sp in graph.sparse_initializer:
        yield sp.values
        yield sp.indices
    for node in graph.node:
        yield from _iter_node_tensors(node)


def _iter_node_tensors(node: Any) -> Iterator[Any]:
    for attr in node.attribute:
        if attr.HasField("t"):
            yield attr.t
        yield from attr.tensors
        if attr.HasField("sparse_tensor"):
            yield attr.sparse_tensor.values
            yield attr.sparse_tensor.indices
        for sp in attr.sparse_tensors:
            yield sp.values
            yield sp.indices
        if attr.HasField("g"):
            yield from _iter_tensors(attr.g)
        for g in attr.graphs:
            yield from _iter_tensors(g)


def _external_location(tensor: Any) -> str | None:
    # TensorProto.EXTERNAL == 1; read the "location" key of external_data.
    if tensor.data_location != 1 and not len(tensor.external_data):
        return None
    for kv in tensor.external_data:
        if kv.key == "location":
            return str(kv.value)
    return ""


def _is_inside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True


def check_onnx_external_data(
    onnx_path: str | os.PathLike[str], root: str | os.PathLike[str] | None = None
) -> list[str]:
    """Check that every external-data location of an ONNX file stays inside ``root`` (the
    pack folder, default: the file's folder). Returns the locations, relative to the ONNX
    file's folder. Raises UnsafeModelError for absolute paths, ``..`` and symlink escapes."""
    import onnx

    onnx_path = Path(onnx_path)
    base = onnx_path.parent
    root_dir = Path(root or base).resolve()
    try:
        model = onnx.load(str(onnx_path), load_external_data=False)
    except Exception as e:  # protobuf DecodeError and friends
        raise ModelPackError(f"{onnx_path.name} is not a valid ONNX file: {e}") from e
    tensors: list[Any] = list(_iter_tensors(model.graph))
    for fn in model.functions:
        for node in fn.node:
            tensors.extend(_iter_node_tensors(node))
    locations: list[str] = []
    for t in tensors:
        loc = _external_location(t)
        if loc is None:
            continue
        where = f"{onnx_path.name}: tensor {t.name!r}"
        if not loc:
            raise UnsafeModelError(f"{where} has external data without a location.")
        pure = PurePosixPath(loc.replace("\\", "/"))
        if (
            pure.is_absolute()
            or os.path.isabs(loc)
            or re.match(r"^[A-Za-z]:", loc)
            or ".." in pure.parts
        ):
            raise UnsafeModelError(
                f"{where} points outside the model pack ({loc!r}).",
                hint="External data must be a file inside the pack folder.",
            )
        target = (base / pure).resolve()  # follows symlinks
        if not _is_inside(target, root_dir):
            raise UnsafeModelError(
                f"{where} points outside the model pack ({loc!r} -> {target}).",
                hint="External data must be a file inside the pack folder, not a link out of it.",
            )
        if not target.is_file():
            raise ModelPackError(f"{where}: external data file {loc!r} is missing.")
        if pure.as_posix() not in locations:
            locations.append(pure.as_posix())
    return locations


# ----------------------------------------------------------------------------- model.json


def _field_error(root: Path, name: str, problem: str) -> ModelPackError:
    return ModelPackError(
        f"{root / PACK_FILE}: field {name!r} {problem}.",
        hint="Fix model.json, or rebuild the pack with write_pack().",
    )


def _check_relative_name(root: Path, name: str) -> None:
    pure = PurePosixPath(name)
    if (
        not name
        or "\\" in name
        or pure.is_absolute()
        or re.match(r"^[A-Za-z]:", name)
        or any(p in ("..", ".", "") for p in name.split("/"))
    ):
        raise UnsafeModelError(
            f"{root / PACK_FILE}: file name {name!r} is not a plain path inside the pack."
        )


def _parse(root: Path, raw: Any) -> ModelPack:
    if not isinstance(raw, dict):
        raise ModelPackError(f"{root / PACK_FILE} must hold a JSON object.")
    for name in ("id", "kind", "version", "license", "attribution"):
        if name not in raw:
            raise _field_error(root, name, "is missing")
        if not isinstance(raw[name], str) or (name in ("id", "kind") and not raw[name].strip()):
            raise _field_error(
                root,
                name,
                "must be a non-empty string" if name in ("id", "kind") else "must be a string",
            )
    if not _ID.match(raw["id"]):
        raise _field_error(root, "id", "may only hold letters, digits, '.', '_' and '-'")
    for name in ("inputs", "outputs"):
        if not isinstance(raw.get(name, []), list):
            raise _field_error(root, name, "must be a list")
    for name in ("training", "metrics"):
        if not isinstance(raw.get(name, {}), dict):
            raise _field_error(root, name, "must be an object")
    files = raw.get("files")
    if files is None:
        raise _field_error(root, "files", "is missing")
    if not isinstance(files, dict) or not files:
        raise _field_error(root, "files", "must be a non-empty object of name -> {sha256, size}")
    for fname, info in files.items():
        _check_relative_name(root, fname)
        if fname == PACK_FILE:
            raise _field_error(root, f"files.{fname}", "must not list model.json itself")
        if not isinstance(info, dict):
            raise _field_error(root, f"files.{fname}", "must be an object with sha256 and size")
        sha = info.get("sha256")
        if not isinstance(sha, str) or not _SHA256.match(sha):
            raise _field_error(root, f"files.{fname}.sha256", "must be 64 lowercase hex digits")
        size = info.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise _field_error(root, f"files.{fname}.size", "must be a whole number >= 0")
    return ModelPack(
        root=root,
        id=raw["id"],
        kind=raw["kind"],
        version=raw["version"],
        license=raw["license"],
        attribution=raw["attribution"],
        inputs=list(raw.get("inputs", [])),
        outputs=list(raw.get("outputs", [])),
        files={k: dict(v) for k, v in files.items()},
        training=dict(raw.get("training", {})),
        metrics=dict(raw.get("metrics", {})),
        raw=raw,
    )


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def verify_pack(pack: ModelPack) -> None:
    """Check every listed file's size and SHA-256 (UnsafeModelError naming the file)."""
    for name, info in pack.files.items():
        path = pack.root / name
        try:
            size = path.stat().st_size
        except OSError as e:
            raise ModelPackError(f"Model pack {pack.id!r}: cannot read {name}: {e}") from e
        if size != info["size"]:
            raise UnsafeModelError(
                f"Model pack {pack.id!r}: {name} has {size} bytes, model.json says {info['size']}.",
                hint="The file was changed or damaged; reinstall the pack.",
            )
        if _sha256_file(path) != info["sha256"]:
            raise UnsafeModelError(
                f"Model pack {pack.id!r}: {name} does not match its SHA-256 in model.json.",
                hint="The file was changed or damaged; reinstall the pack.",
            )
    pack.verified = True


def load_pack(root: str | os.PathLike[str], *, verify: bool = True) -> ModelPack:
    """Read and check the pack in folder ``root``.

    Always: model.json shape, listed files present and inside the folder, no pickle file
    anywhere in the folder, ONNX external data confined (and listed, so its hash is checked).
    With ``verify`` (default): sizes and SHA-256 of every listed file.
    """
    root = Path(root)
    if not root.is_dir():
        raise ModelPackError(f"Model pack folder {root} does not exist.")
    try:
        raw = read_json(root / PACK_FILE, what="model pack description")
    except ModelPackError:
        raise
    except GenStudioError as e:
        raise ModelPackError(e.message, hint=e.hint) from e
    pack = _parse(root, raw)
    root_dir = root.resolve()

    for path in sorted(root.rglob("*")):  # nothing that can run code, anywhere in the pack
        if path.is_file() and path.name != PACK_FILE:
            check_model_file(path)
    for name in pack.files:
        path = root / name
        if not path.is_file():
            raise ModelPackError(
                f"Model pack {pack.id!r}: file {name} is listed in model.json but missing.",
                hint="Reinstall the pack.",
            )
        if not _is_inside(path.resolve(), root_dir):
            raise UnsafeModelError(f"Model pack {pack.id!r}: {name} links outside the pack folder.")
        check_model_file(path)
    if verify:  # before parsing anything: a changed file is reported as changed
        verify_pack(pack)
    for name in pack.files:
        if name.lower().endswith(".onnx"):
            base = PurePosixPath(name).parent
            for loc in check_onnx_external_data(root / name, root):
                rel = (base / loc).as_posix()
                if rel not in pack.files:
                    raise UnsafeModelError(
                        f"Model pack {pack.id!r}: external data {rel} of {name} is not listed "
                        "in model.json, so its hash cannot be checked."
                    )
    return pack


def default_pack_roots() -> list[Path]:
    from genstudio.core.paths import shipped_models_dir
    from genstudio.core.settings import user_models_dir

    return [shipped_models_dir(), user_models_dir()]


def find_packs(
    *roots: str | os.PathLike[str],
    verify: bool = False,
    on_error: Callable[[Path, GenStudioError], None] | None = None,
) -> list[ModelPack]:
    """Packs in ``roots`` (each a pack folder or a folder of pack folders; default: the
    shipped models and the user's models folder; callers add the project's ``models/``).

    Hashes are checked when a session is created (``verify=False`` keeps the scan fast), but
    the safety checks always run. A broken pack is skipped and logged (or given to
    ``on_error``) so that it does not hide the others.
    """
    found: list[ModelPack] = []
    for r in roots or tuple(default_pack_roots()):
        r = Path(r)
        if not r.is_dir():
            continue
        candidates = (
            [r]
            if (r / PACK_FILE).is_file()
            else sorted(p for p in r.iterdir() if p.is_dir() and (p / PACK_FILE).is_file())
        )
        for folder in candidates:
            try:
                found.append(load_pack(folder, verify=verify))
            except GenStudioError as e:
                if on_error is not None:
                    on_error(folder, e)
                else:
                    log.warning("skipping model pack %s: %s", folder, e.user_message())
    return found


def write_pack(
    root: str | os.PathLike[str],
    *,
    id: str,
    kind: str,
    files: Iterable[str | os.PathLike[str]],
    version: str = "1",
    license: str = "",
    attribution: str = "",
    inputs: list[Any] | None = None,
    outputs: list[Any] | None = None,
    training: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> ModelPack:
    """Describe the files already in folder ``root`` in a new model.json (written atomically)
    and return the loaded, verified pack. External-data files of listed ONNX models are added
    automatically. ``files`` are names relative to ``root`` or paths inside it."""
    root = Path(root)
    root_dir = root.resolve()
    names: list[str] = []
    for f in files:
        p = Path(f)
        if p.is_absolute():
            if not _is_inside(p.resolve(), root_dir):
                raise ModelPackError(f"{p} is not inside the pack folder {root}.")
            name = p.resolve().relative_to(root_dir).as_posix()
        else:
            name = PurePosixPath(*p.parts).as_posix()
        if name not in names:
            names.append(name)
    for name in list(names):
        check_model_file(root / name)
        if name.lower().endswith(".onnx"):
            base = PurePosixPath(name).parent
            for loc in check_onnx_external_data(root / name, root):
                rel = (base / loc).as_posix()
                if rel not in names:
                    names.append(rel)
    listing: dict[str, dict[str, Any]] = {}
    for name in names:
        path = root / name
        if not path.is_file():
            raise ModelPackError(f"Cannot describe {name}: no such file in {root}.")
        listing[name] = {"sha256": _sha256_file(path), "size": path.stat().st_size}
    doc: dict[str, Any] = {
        "id": id,
        "kind": kind,
        "version": str(version),
        "license": license,
        "attribution": attribution,
        "inputs": list(inputs or []),
        "outputs": list(outputs or []),
        "files": listing,
        "training": dict(training or {}),
        "metrics": dict(metrics or {}),
    }
    for k, v in (extra or {}).items():
        doc.setdefault(k, v)
    _parse(root, doc)  # fail here rather than write a pack nobody can load
    atomic_write_json(root / PACK_FILE, doc)
    return load_pack(root, verify=True)
