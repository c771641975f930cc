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
message that says why (and a hint that says what to do):

- anything in the folder, dot files and dot folders included, that is a link leaving it
  (files, folders, dangling links, loops) or not a regular file (FIFOs, devices, sockets):
  checked with lstat before a byte is read (:func:`walk_pack`), so nothing outside is opened;
- pickles, whatever their name: pickle extensions (``.ckpt .pt .pth .bin .pkl .pickle``) and
  pickle *content* of every protocol 0-5 (:func:`pickle_kind` scans the opcode stream with
  ``pickletools.genops``, which executes nothing, simulating the unpickler's stack), and zip
  archives holding a pickle (PyTorch checkpoints: ``data.pkl``, any ``.pkl`` or pickle
  member): unpickling runs code (InvokeAI CVE-2024-12029, picklescan bypasses);
- malformed safetensors headers (:func:`check_safetensors`: length in bounds and at most
  64 MiB, JSON, known dtypes, offsets exactly covering the data), ONNX files over 2 GB;
- files whose SHA-256 or size differs from ``model.json``;
- ONNX external-data locations that leave the pack folder (absolute paths, ``..``, links,
  ``*/_ORT_MEM_ADDR_/*``, NUL bytes) or run past the end of their file, walked through every
  initializer and attribute, subgraphs and functions included (the ONNX external-data
  path-traversal CVEs).

At load time (:func:`verify_pack` before the first session, :func:`check_session_file` for
any ONNX file about to be given to ONNX Runtime) the links and external data are checked again.

Nothing here imports onnxruntime; ``onnx`` is imported only when an ONNX file is checked.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import stat
import struct
import warnings
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any, cast

from genstudio.core.atomic import atomic_write_json, read_json
from genstudio.core.errors import GenStudioError, ModelPackError, UnsafeModelError

log = logging.getLogger(__name__)

PACK_FILE = "model.json"
PICKLE_EXTENSIONS = frozenset({".ckpt", ".pt", ".pth", ".bin", ".pkl", ".pickle"})
PICKLE_HINT = "pickle formats can run code; convert to safetensors/ONNX"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_CHUNK = 1 << 20
# Opcodes through which an unpickler imports something (every pickle that runs code needs one:
# REDUCE, BUILD, OBJ and NEWOBJ only call what these put on the stack; EXT1/2/4 only look up
# copyreg's extension registry, empty unless a program fills it).
_CODE_OPS = frozenset({"GLOBAL", "STACK_GLOBAL", "INST"})
PICKLE_SCAN_BYTES = 1 << 20  # how much of a file the pickle scan reads
MAX_SAFETENSORS_HEADER = 64 << 20  # real headers are a few MB; the library allows 100 MB
MAX_ONNX_BYTES = (1 << 31) - 1  # protobuf cannot hold more; bigger models use external data
MAX_PACK_FILES = 10_000
# bits per element of every dtype the safetensors format defines
SAFETENSORS_DTYPES: dict[str, int] = {
    "BOOL": 8,
    "U8": 8,
    "I8": 8,
    "F8_E5M2": 8,
    "F8_E4M3": 8,
    "F8_E8M0": 8,
    "F4": 4,
    "F6_E2M3": 6,
    "F6_E3M2": 6,
    "I16": 16,
    "U16": 16,
    "F16": 16,
    "BF16": 16,
    "I32": 32,
    "U32": 32,
    "F32": 32,
    "C64": 64,
    "F64": 64,
    "I64": 64,
    "U64": 64,
}


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
                raise ModelPackError(
                    f"Model pack {self.id!r} has no ONNX file.", hint="Reinstall the pack."
                )
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


# ----------------------------------------------------------------------------- paths


def _is_inside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True


def _check_no_escape(path: Path, root: Path) -> None:
    """Refuse ``path`` if it, or a folder on the way to it, is a link that leaves ``root``
    (checked with lstat/readlink only: nothing outside is opened)."""
    root_dir = root.resolve()
    try:
        target = path.resolve()
    except (OSError, RuntimeError) as e:  # a link loop
        raise UnsafeModelError(
            f"{path.name} is a link that cannot be followed ({e}).",
            hint="Replace links by the files they point to.",
        ) from e
    if not _is_inside(target, root_dir):
        shown = path.relative_to(root).as_posix() if _is_inside(path, root) else str(path)
        raise UnsafeModelError(
            f"{shown} links outside the model folder (to {target}): refused.",
            hint="A model folder may only use its own files; copy the file into the folder "
            "instead of linking to it.",
        )


def walk_pack(root: str | os.PathLike[str], *, limit: int = MAX_PACK_FILES) -> list[Path]:
    """Every file in the model folder ``root``, dot files and dot folders included, sorted.

    Refuses (UnsafeModelError), before any file is opened: a link that leaves ``root``
    (files, folders, dangling links), anything that is not a regular file, a folder or a link
    inside ``root`` (FIFOs, devices, sockets), and more than ``limit`` entries. Links to
    folders are not followed; a link to a file inside ``root`` is listed (its target is
    checked where it lies)."""
    root = Path(root)
    root_dir = root.resolve()
    files: list[Path] = []
    count = 0
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as e:
            raise ModelPackError(
                f"Cannot list {folder}: {e.strerror or e}",
                hint="Check the folder's permissions.",
            ) from e
        for entry in entries:
            count += 1
            if count > limit:
                raise ModelPackError(
                    f"{root} holds more than {limit} files and folders: it is not a model folder.",
                    hint="Choose the folder that holds the model itself.",
                )
            path = Path(entry.path)
            rel = path.relative_to(root).as_posix()
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                _check_no_escape(path, root)
                if path.is_file():
                    files.append(path)
                continue
            if stat.S_ISDIR(st.st_mode):
                stack.append(path)
            elif stat.S_ISREG(st.st_mode):
                files.append(path)
            else:
                raise UnsafeModelError(
                    f"{rel} in {root_dir.name} is not a regular file (a device, a pipe or a "
                    "socket): refused.",
                    hint="A model folder may only hold plain files and folders.",
                )
    return sorted(files)


def check_inside(path: str | os.PathLike[str], root: str | os.PathLike[str]) -> Path:
    """``path`` if it is a regular file inside ``root`` that no link leads out of; else
    UnsafeModelError/ModelPackError naming it. For load time: what ONNX Runtime is given."""
    path, root = Path(path), Path(root)
    _check_no_escape(path, root)
    try:
        st = path.stat()
    except OSError as e:
        raise ModelPackError(
            f"{path.name} cannot be read: {e.strerror or e}",
            hint="Reinstall or export the model again.",
        ) from e
    if not stat.S_ISREG(st.st_mode):
        raise UnsafeModelError(
            f"{path.name} is not a regular file: refused.",
            hint="A model folder may only hold plain files and folders.",
        )
    return path


# ----------------------------------------------------------------------------- file checks


# GLOBAL/INST carry "module name" (genops joins the two lines with a space)
_IMPORTABLE = re.compile(r"[^\s\x00-\x1f]+ [^\s\x00-\x1f]+")


class _Window(Exception):
    """The pickle scan reached the end of the bytes it reads of a longer file."""


class _HeadReader:
    """A file-like view of the first bytes of a file for ``pickletools.genops``: a read past
    them raises :class:`_Window` if the file goes on (so a huge length field never allocates
    anything), or returns what is left (genops then reports the truncation)."""

    def __init__(self, head: bytes, truncated: bool) -> None:
        self._head = head
        self._pos = 0
        self._truncated = truncated

    def tell(self) -> int:
        return self._pos

    def read(self, n: int = -1) -> bytes:
        end = len(self._head) if n is None or n < 0 else self._pos + n
        if end > len(self._head) and self._truncated:
            raise _Window()
        data = self._head[self._pos : end]
        self._pos += len(data)
        return data

    def readline(self) -> bytes:
        nl = self._head.find(b"\n", self._pos)
        if nl < 0:
            if self._truncated:
                raise _Window()
            nl = len(self._head) - 1
        data = self._head[self._pos : nl + 1]
        self._pos += len(data)
        return data


def pickle_kind(head: bytes, *, truncated: bool = False, proto_start: bool = True) -> str | None:
    """Whether ``head`` (a file's first bytes; ``truncated``: the file goes on) is a pickle,
    by its content: None, or what gives it away.

    The opcode stream is parsed with ``pickletools.genops`` (which executes nothing) while the
    unpickler's stack is simulated, marks and the kinds of values included, so text or weights
    that happen to start with opcode bytes stop at the first step the unpickler would refuse.
    Recognised, whatever the protocol (0-5):

    - a ``0x80 <0..5>`` start (the PROTO opcode) followed by one more valid step (unless not
      ``proto_start``: a valid safetensors header length may start with those two bytes);
    - any stream that reaches, with every step valid, an opcode that imports something
      (GLOBAL and INST with an importable ``module name``, STACK_GLOBAL on two strings):
      what every pickle that runs code needs;
    - a complete data pickle (STOP after at least 3 steps, one of them a memo or mark
      operation, which a pickler always writes for containers and strings);
    - 64 valid steps that run to the end of the bytes read.
    """
    with warnings.catch_warnings():  # genops warns on odd escapes in protocol-0 strings
        warnings.simplefilter("ignore")
        return _scan_pickle(head, truncated, proto_start)


def _scan_pickle(head: bytes, truncated: bool, proto_start: bool) -> str | None:
    import pickletools

    stack: list[str] = []  # kinds of values; "mark" for a mark
    ops = 0
    structured = False  # a memo or mark operation seen
    proto = head[1] if len(head) >= 2 and head[0] == 0x80 and head[1] <= 5 else None
    if not proto_start:
        proto = None

    def found(why: str) -> str:
        return f"a pickle (protocol {proto})" if proto is not None else f"a pickle ({why})"

    def impossible() -> str | None:  # a step the unpickler would refuse
        return found("a pickle header") if proto is not None and ops >= 2 else None

    try:
        reader = cast(IO[bytes], _HeadReader(head, truncated))  # reads like a binary file
        for op, arg, _pos in pickletools.genops(reader):
            name = op.name
            if name in ("GLOBAL", "INST") and not _IMPORTABLE.fullmatch(str(arg)):
                return impossible()  # "module name" lines that no import could resolve
            before = op.stack_before
            after = [s.name for s in op.stack_after]
            if pickletools.markobject in before:
                at = before.index(pickletools.markobject)
                fixed_above = sum(1 for s in before[at + 1 :] if s is not pickletools.stackslice)
                if "mark" not in stack:
                    return impossible()
                mark = len(stack) - 1 - stack[::-1].index("mark")
                if len(stack) - mark - 1 < fixed_above:
                    return impossible()
                del stack[mark:]
                if len(stack) < at or "mark" in stack[len(stack) - at :]:
                    return impossible()
                del stack[len(stack) - at :]
                structured = True
            elif name == "POP" and stack and stack[-1] == "mark":
                stack.pop()  # POP also drops a mark
            else:
                n = len(before)
                if len(stack) < n or "mark" in stack[len(stack) - n :]:
                    return impossible()
                popped = stack[len(stack) - n :]
                del stack[len(stack) - n :]
                if name == "STACK_GLOBAL" and not all(k in ("str", "any") for k in popped):
                    return impossible()
                if name in ("MEMOIZE", "PUT", "BINPUT", "LONG_BINPUT"):
                    after = popped  # the value keeps its kind
                    structured = True
            stack.extend(after)
            ops += 1
            if name == "MARK":
                structured = True
            if name in _CODE_OPS:
                return found(f"it imports code with {name}")
            if name == "STOP":
                complete = proto is not None or (ops >= 3 and structured)
                return found("a complete pickle stream") if complete else None
    except _Window:
        if proto is not None or ops >= 64:
            return found("a valid pickle stream")
        return None
    except (ValueError, EOFError, OverflowError, struct.error):
        return impossible()  # genops: an unknown opcode, a bad argument, the end of the data
    return impossible()


def _open_regular(path: Path) -> tuple[int, os.stat_result]:
    """An open descriptor of a *regular* file (a FIFO or a device is refused without blocking)
    and its stat."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags | getattr(os, "O_BINARY", 0))
    except (OSError, ValueError) as e:
        raise ModelPackError(
            f"Cannot read {path}: {getattr(e, 'strerror', None) or e}",
            hint="Check that the file exists and can be read.",
        ) from e
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise UnsafeModelError(
            f"{path.name} is not a regular file (a folder, a device, a pipe or a socket).",
            hint="A model folder may only hold plain files and folders.",
        )
    return fd, st


def _read_at(fd: int, offset: int, n: int) -> bytes:
    chunks: list[bytes] = []
    while n > 0:
        chunk = os.pread(fd, min(n, _CHUNK), offset)
        if not chunk:
            break
        chunks.append(chunk)
        offset += len(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def _safetensors_problem(fd: int, size: int) -> str | None:
    """What is wrong with a safetensors file's header, or None: the header length within
    the file and at most 64 MiB, a UTF-8 JSON object without duplicate keys, known dtypes,
    shapes of whole numbers, each tensor's byte range exactly its shape's size, the ranges in
    bounds, not overlapping and covering the data with no gap and nothing after the last."""
    if size < 8:
        return f"it has {size} bytes, fewer than the 8-byte header length"
    n = int.from_bytes(_read_at(fd, 0, 8), "little")
    if n < 2 or n > MAX_SAFETENSORS_HEADER:
        return f"its header length {n} is out of range (2 to {MAX_SAFETENSORS_HEADER})"
    if n > size - 8:
        return f"its header length {n} runs past the end of the file ({size} bytes)"
    raw = _read_at(fd, 8, n)

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        d = dict(pairs)
        if len(d) != len(pairs):
            raise ValueError("a key appears twice")
        return d

    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=no_duplicates)
    except RecursionError:
        return "its header is nested too deeply"
    except ValueError as e:  # UnicodeDecodeError and JSONDecodeError included
        return f"its header is not valid JSON ({str(e)[:120]})"
    if not raw.startswith(b"{") or not isinstance(header, dict):
        return "its header is not a JSON object"
    data_size = size - 8 - n
    ranges: list[tuple[int, int, str]] = []
    for key, info in header.items():
        if key == "__metadata__":
            if not isinstance(info, dict) or not all(isinstance(v, str) for v in info.values()):
                return "its __metadata__ is not an object of strings"
            continue
        if not isinstance(info, dict):
            return f"tensor {key[:80]!r} is not described by an object"
        dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
        if dtype not in SAFETENSORS_DTYPES:
            return f"tensor {key[:80]!r} has an unknown dtype {str(dtype)[:40]!r}"
        if (
            not isinstance(shape, list)
            or len(shape) > 64
            or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
        ):
            return f"tensor {key[:80]!r} has an invalid shape"
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
            or not 0 <= offsets[0] <= offsets[1] <= data_size
        ):
            return f"tensor {key[:80]!r} has data offsets outside the file"
        count = 1
        for d in shape:
            count *= d
        bits = count * SAFETENSORS_DTYPES[dtype]
        if bits % 8 or bits // 8 != offsets[1] - offsets[0]:
            return f"tensor {key[:80]!r}: its byte range does not match its shape and dtype"
        ranges.append((offsets[0], offsets[1], key))
    end = 0
    for begin, stop, key in sorted(ranges):
        if begin != end:
            return (
                f"tensor {key[:80]!r} overlaps another tensor"
                if begin < end
                else f"there is a gap before tensor {key[:80]!r}"
            )
        end = stop
    if end != data_size:
        return f"{data_size - end} bytes follow the last tensor"
    return None


def check_safetensors(path: str | os.PathLike[str]) -> None:
    """Refuse (UnsafeModelError) a safetensors file whose header is malformed (see
    :func:`_safetensors_problem`); nothing reads its tensors before this passed."""
    path = Path(path)
    fd, st = _open_regular(path)
    try:
        problem = _safetensors_problem(fd, st.st_size)
    finally:
        os.close(fd)
    if problem:
        raise UnsafeModelError(
            f"{path.name}: refused, it is not a valid safetensors file: {problem}.",
            hint="The file is damaged or was made to look like safetensors; get it again.",
        )


def _zip_pickle_members(fd: int) -> str | None:
    """The first member of a zip archive that is a pickle (a PyTorch zip checkpoint keeps its
    pickle in ``data.pkl``), by name or by content, or None."""
    with os.fdopen(os.dup(fd), "rb") as f:
        try:
            with zipfile.ZipFile(f) as z:
                infos = z.infolist()
                for info in infos:
                    name = info.filename
                    low = name.lower()
                    if (
                        low == "data.pkl"
                        or low.endswith("/data.pkl")
                        or (PurePosixPath(low).suffix in PICKLE_EXTENSIONS)
                    ):
                        return name
                for info in infos[:256]:
                    if info.is_dir():
                        continue
                    try:
                        with z.open(info) as m:
                            head = m.read(64 * 1024)
                    except Exception:  # encrypted, unsupported compression, damaged
                        continue
                    try:
                        if pickle_kind(head, truncated=info.file_size > len(head)):
                            return info.filename
                    except Exception:  # fail closed
                        return info.filename
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
            return None
    return None


def _is_zip(fd: int) -> bool:
    with os.fdopen(os.dup(fd), "rb") as f:
        try:
            return zipfile.is_zipfile(f)
        except (OSError, ValueError):
            return False


def check_model_file(
    path: str | os.PathLike[str], *, root: str | os.PathLike[str] | None = None
) -> None:
    """Refuse a file that could run code or is not what it claims: pickle formats by
    extension, pickles of any protocol by content (whatever the name), zip archives holding a
    pickle (PyTorch checkpoints), malformed safetensors headers, ONNX files over protobuf's
    2 GB, anything that is not a regular file, and (with ``root``) a link out of ``root``."""
    path = Path(path)
    if root is not None:
        _check_no_escape(path, Path(root))
    if path.suffix.lower() in PICKLE_EXTENSIONS:
        raise UnsafeModelError(
            f"{path.name}: refused, {PICKLE_HINT}.",
            hint="Model packs may only hold .onnx, .safetensors and plain data files.",
        )
    fd, st = _open_regular(path)
    try:
        size = st.st_size
        head = _read_at(fd, 0, PICKLE_SCAN_BYTES)
        st_like = path.suffix.lower() == ".safetensors" or _looks_like_safetensors(head, size)
        problem = _safetensors_problem(fd, size) if st_like else None
        try:
            kind = pickle_kind(
                head, truncated=size > len(head), proto_start=not (st_like and problem is None)
            )
        except Exception as e:  # fail closed: a file the scan cannot judge is not loaded
            kind = f"a file the pickle check could not judge ({type(e).__name__})"
        if kind:
            raise UnsafeModelError(
                f"{path.name}: refused, it is {kind}; {PICKLE_HINT}.",
                hint="Loading a pickle can run hidden code, whatever the file is called.",
            )
        if head[:4] in (b"PK\x03\x04", b"PK\x05\x06") or _is_zip(fd):
            member = _zip_pickle_members(fd)
            if member:
                raise UnsafeModelError(
                    f"{path.name}: refused, it is a PyTorch zip checkpoint (it holds the "
                    f"pickle {member[:80]!r}); {PICKLE_HINT}.",
                    hint="Loading a pickle can run hidden code, whatever the file is called.",
                )
        if problem:
            raise UnsafeModelError(
                f"{path.name}: refused, it is not a valid safetensors file: {problem}.",
                hint="The file is damaged or was made to look like safetensors; get it again.",
            )
        if path.suffix.lower() == ".onnx" and size > MAX_ONNX_BYTES:
            raise UnsafeModelError(
                f"{path.name}: refused, it has {size} bytes; an ONNX file holds at most 2 GB "
                "(bigger models keep their weights in external data files).",
                hint="The file is damaged or is not an ONNX model; export it again.",
            )
    finally:
        os.close(fd)


def _looks_like_safetensors(head: bytes, size: int) -> bool:
    # 8-byte little-endian header length, then a JSON object. Checked first because a header
    # length such as 0x0280 starts with the same two bytes as a pickle.
    if len(head) < 9:
        return False
    n = int.from_bytes(head[:8], "little")
    return 2 <= n <= size - 8 and head[8:9] == b"{"


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


def _external_field(tensor: Any, key: str) -> str | None:
    for kv in tensor.external_data:
        if kv.key == key:
            return str(kv.value)
    return None


def check_onnx_external_data(
    onnx_path: str | os.PathLike[str], root: str | os.PathLike[str] | None = None
) -> list[str]:
    """Check that every external-data location of an ONNX file stays inside ``root`` (the
    pack folder, default: the file's folder). Returns the locations, relative to the ONNX
    file's folder. Raises UnsafeModelError for absolute paths, ``..``, links out of the
    folder (the ONNX file itself, a folder on the way or the data file), ONNX Runtime's
    in-memory marker ``*/_ORT_MEM_ADDR_/*``, data that is not a regular file, offsets and
    lengths past the end of the data file, and ONNX files over protobuf's 2 GB."""
    import onnx

    onnx_path = Path(onnx_path)
    base = onnx_path.parent
    root_dir = Path(root or base).resolve()
    _check_no_escape(onnx_path, root_dir)
    fd, st = _open_regular(onnx_path)
    os.close(fd)
    if st.st_size > MAX_ONNX_BYTES:
        raise UnsafeModelError(
            f"{onnx_path.name}: refused, it has {st.st_size} bytes; an ONNX file holds at most "
            "2 GB (bigger models keep their weights in external data files).",
            hint="The file is damaged or is not an ONNX model; export it again.",
        )
    try:
        model = onnx.load(str(onnx_path), load_external_data=False)
    except Exception as e:  # protobuf DecodeError, a recursion limit and friends
        why = str(e).strip()[:200] or type(e).__name__
        raise ModelPackError(
            f"{onnx_path.name} is not a valid ONNX file: {why}",
            hint="The file is damaged or incomplete; export or download it again.",
        ) from e
    if not model.HasField("graph") or not len(model.graph.output):
        raise ModelPackError(
            f"{onnx_path.name} is not a valid ONNX model: it has no graph outputs.",
            hint="The file is damaged or incomplete; export or download it again.",
        )
    tensors: list[Any] = list(_iter_tensors(model.graph))
    for fn in model.functions:
        for node in fn.node:
            tensors.extend(_iter_node_tensors(node))
    locations: list[str] = []
    outside = "External data must be a file inside the pack folder."
    for t in tensors:
        loc = _external_location(t)
        if loc is None:
            continue
        where = f"{onnx_path.name}: tensor {t.name[:80]!r}"
        if not loc:
            raise UnsafeModelError(
                f"{where} has external data without a location.",
                hint="The file is damaged; export it again.",
            )
        if "_ORT_MEM_ADDR_" in loc:
            raise UnsafeModelError(
                f"{where} has the external-data location {loc[:100]!r}, ONNX Runtime's marker "
                "for weights at a memory address: refused.",
                hint="A model file must keep its weights in itself or in files of its folder; "
                "export it again.",
            )
        pure = PurePosixPath(loc.replace("\\", "/"))
        if "\0" in loc:
            raise UnsafeModelError(
                f"{where} has a NUL byte in its external-data location {loc[:100]!r}.",
                hint="The file is damaged or was made to attack a loader; export it again.",
            )
        if (
            pure.is_absolute()
            or os.path.isabs(loc)
            or re.match(r"^[A-Za-z]:", loc)
            or ".." in pure.parts
        ):
            raise UnsafeModelError(
                f"{where} points outside the model pack ({loc[:100]!r}).", hint=outside
            )
        path = base / pure
        try:
            target = path.resolve()  # follows links (lstat/readlink only)
        except (OSError, RuntimeError) as e:
            raise UnsafeModelError(
                f"{where}: its external data {loc[:100]!r} is a link that cannot be followed.",
                hint=outside,
            ) from e
        if not _is_inside(target, root_dir):
            raise UnsafeModelError(
                f"{where} points outside the model pack ({loc[:100]!r} -> {target}).",
                hint="External data must be a file inside the pack folder, not a link out of it.",
            )
        try:
            dst = os.stat(target)
        except OSError as e:
            raise ModelPackError(
                f"{where}: external data file {loc[:100]!r} is missing.",
                hint="Copy the whole model folder, its data files included.",
            ) from e
        if not stat.S_ISREG(dst.st_mode):
            raise UnsafeModelError(
                f"{where}: external data {loc[:100]!r} is not a regular file: refused.",
                hint=outside,
            )
        fields = {k: _external_field(t, k) for k in ("offset", "length")}
        numbers: dict[str, int] = {}
        for k, v in fields.items():
            if v is None:
                continue
            if not re.fullmatch(r"[0-9]{1,20}", v.strip()):
                raise UnsafeModelError(
                    f"{where}: external-data {k} {v[:40]!r} is not a whole number.",
                    hint="The file is damaged; export it again.",
                )
            numbers[k] = int(v)
        offset = numbers.get("offset", 0)
        end = offset + numbers["length"] if "length" in numbers else offset
        if offset > dst.st_size or end > dst.st_size:
            raise UnsafeModelError(
                f"{where}: its external data ({offset} + {numbers.get('length', 0)} bytes) runs "
                f"past the end of {loc[:100]!r} ({dst.st_size} bytes).",
                hint="The file is damaged or incomplete; export or download it again.",
            )
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
            f"{root / PACK_FILE}: file name {name[:200]!r} is not a plain path inside the pack.",
            hint="model.json may only list files of the pack folder (no '..', no absolute "
            "paths); reinstall the pack.",
        )


def _parse(root: Path, raw: Any) -> ModelPack:
    if not isinstance(raw, dict):
        raise ModelPackError(
            f"{root / PACK_FILE} must hold a JSON object.",
            hint="Fix model.json, or rebuild the pack with write_pack().",
        )
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


def _sha256_fd(fd: int) -> str:
    h = hashlib.sha256()
    offset = 0
    while chunk := os.pread(fd, _CHUNK, offset):
        h.update(chunk)
        offset += len(chunk)
    return h.hexdigest()


def _sha256_file(path: Path) -> str:
    fd, _ = _open_regular(path)
    try:
        return _sha256_fd(fd)
    finally:
        os.close(fd)


def _fine_tuning_only(pack: ModelPack, name: str) -> bool:
    """Is ``name`` a pack's fine-tuning weights (safetensors, the pack having ONNX files)?"""
    return name.lower().endswith(".safetensors") and any(
        n.lower().endswith(".onnx") for n in pack.files
    )


def verify_pack(pack: ModelPack) -> None:
    """Check every listed file's size and SHA-256 (UnsafeModelError naming the file), each
    read from a regular file inside the pack that no link leads out of. Fine-tuning weights
    (``*.safetensors`` beside the pack's ONNX files) may be absent - the studio bundle leaves
    them to the training add-on and inference never reads them - but one that is there must
    match."""
    for name in pack.files:
        _check_relative_name(pack.root, name)
    for name, info in pack.files.items():
        path = pack.root / name
        if not os.path.lexists(path) and _fine_tuning_only(pack, name):
            continue
        if not os.path.lexists(path):
            raise ModelPackError(
                f"Model pack {pack.id!r}: file {name} is listed in model.json but missing.",
                hint="Reinstall the pack.",
            )
        _check_no_escape(path, pack.root)
        fd, st = _open_regular(path)
        try:
            if st.st_size != info["size"]:
                raise UnsafeModelError(
                    f"Model pack {pack.id!r}: {name} has {st.st_size} bytes, model.json says "
                    f"{info['size']}.",
                    hint="The file was changed or damaged; reinstall the pack.",
                )
            if _sha256_fd(fd) != info["sha256"]:
                raise UnsafeModelError(
                    f"Model pack {pack.id!r}: {name} does not match its SHA-256 in model.json.",
                    hint="The file was changed or damaged; reinstall the pack.",
                )
        finally:
            os.close(fd)
    pack.verified = True


def check_session_file(
    pack_root: str | os.PathLike[str], onnx_path: str | os.PathLike[str]
) -> None:
    """The load-time check before an ONNX file of a pack or model folder goes to ONNX Runtime:
    the file is a regular file inside ``pack_root`` with no link out of it, and so are all of
    its external-data files (which must stay inside and not be ``_ORT_MEM_ADDR_``).
    Cheap: the graph is parsed without its weights."""
    root = Path(pack_root)
    path = check_inside(onnx_path, root)
    check_model_file(path, root=root)
    check_onnx_external_data(path, root)


def load_pack(root: str | os.PathLike[str], *, verify: bool = True) -> ModelPack:
    """Read and check the pack in folder ``root``.

    Always, before model.json's files are parsed: every file in the folder (dot files and
    dot folders included) is a regular file or a link that stays inside, and none is a pickle
    (by name or content), a zip checkpoint or a malformed safetensors file; model.json's
    shape; listed files present and inside the folder; ONNX external data confined (and
    listed, so its hash is checked). With ``verify`` (default): sizes and SHA-256 of every
    listed file.
    """
    root = Path(root)
    if not root.is_dir():
        exists = os.path.lexists(root)
        raise ModelPackError(
            f"{root} is not a folder." if exists else f"Model pack folder {root} does not exist.",
            hint="Check the path: a model pack is a folder with a model.json.",
        )
    root_dir = root.resolve()
    files = walk_pack(root)  # refuses links out of the folder before anything is opened
    desc = root / PACK_FILE
    for path in files:  # nothing that can run code, anywhere in the folder
        if path != desc:
            check_model_file(path, root=root_dir)
    if not os.path.lexists(desc):
        raise ModelPackError(
            f"{desc} does not exist, so {root.name} is not a GenStudio model pack.",
            hint="Choose a model pack folder; import a Stable Diffusion ONNX folder with "
            "`genstudio models import`.",
        )
    check_inside(desc, root_dir)
    try:
        raw = read_json(desc, what="model pack description")
    except ModelPackError:
        raise
    except GenStudioError as e:
        raise ModelPackError(
            e.message, hint=e.hint or "Fix model.json, or reinstall the pack."
        ) from e
    pack = _parse(root, raw)
    for name in pack.files:
        path = root / name
        if not os.path.lexists(path) and _fine_tuning_only(pack, name):
            continue  # left to the training add-on (see verify_pack)
        if not os.path.lexists(path):
            raise ModelPackError(
                f"Model pack {pack.id!r}: file {name} is listed in model.json but missing.",
                hint="Reinstall the pack.",
            )
        if not _is_inside(path.resolve(), root_dir):
            raise UnsafeModelError(
                f"Model pack {pack.id!r}: {name} links outside the pack folder.",
                hint="A model pack may only use its own files; reinstall the pack.",
            )
        check_model_file(path, root=root_dir)
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
                        "in model.json, so its hash cannot be checked.",
                        hint="Rebuild the pack so that model.json lists every file.",
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
        # lexists: a model.json that is a link out of the folder or a FIFO is reported, not
        # silently skipped
        candidates = (
            [r]
            if os.path.lexists(r / PACK_FILE)
            else sorted(
                p
                for p in r.iterdir()
                # a dot folder is a pack being written (.<name>.partial) or a kept old one
                if not p.name.startswith(".") and p.is_dir() and os.path.lexists(p / PACK_FILE)
            )
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
                raise ModelPackError(
                    f"{p} is not inside the pack folder {root}.",
                    hint="A pack may only list files inside its folder.",
                )
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
            raise ModelPackError(
                f"Cannot describe {name}: no such file in {root}.", hint="Check the file names."
            )
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
