"""CLIP's tokenizer for Stable Diffusion prompts (the ``tokenizers`` library, imported inside
functions only), built from an export's ``tokenizer/`` folder."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from genstudio.core.errors import GenStudioError
from genstudio.generators.images.sd.folder import _err, _pad_token


@dataclass(frozen=True)
class TokenizedPrompt:
    ids: np.ndarray  # (1, max_length) int64: bos, tokens, eos, padding
    n_tokens: int  # tokens of the text itself (without bos/eos)
    truncated: bool  # the text had more tokens than fit; the rest was dropped
    dropped_text: str  # what was dropped (decoded), for the warning


class ClipTokenizer:
    """CLIP's byte-level BPE tokenizer on the ``tokenizers`` library, as transformers'
    ``CLIPTokenizer`` builds it: NFC, whitespace runs -> one space, lowercase; CLIP's split
    pattern; byte-level symbols; ``</w>`` ends each word. Prompts become ``bos + tokens + eos``
    padded to ``max_length`` (77) with the model's pad token (SD 1.x: ``<|endoftext|>``, SD 2.x:
    ``!``); longer prompts keep their first ``max_length - 2`` tokens and say so."""

    BOS = "<|startoftext|>"
    EOS = "<|endoftext|>"
    MAX_MERGES = 49152 - 256 - 2  # the merges CLIP's own tokenizer reads

    def __init__(self, tokenizer: Any, *, pad_token: str, max_length: int = 77) -> None:
        self._tok = tokenizer
        self.max_length = int(max_length)
        ids = [tokenizer.token_to_id(t) for t in (self.BOS, self.EOS, pad_token)]
        if any(i is None for i in ids):
            raise _err(
                f"The tokenizer's vocabulary lacks {self.BOS}, {self.EOS} or the pad token "
                f"{pad_token!r}: it is not CLIP's.",
                "Copy the tokenizer folder from the original model into the export.",
            )
        self.bos_id, self.eos_id, self.pad_id = (int(i) for i in ids)

    @classmethod
    def from_folder(
        cls, folder: str | os.PathLike[str], *, pad_token: str | None = None, max_length: int = 77
    ) -> ClipTokenizer:
        from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers
        from tokenizers.models import BPE

        folder = Path(folder)
        if pad_token is None:
            pad_token, max_length = _pad_token(folder)
        try:
            if (folder / "tokenizer.json").is_file():
                tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
                tok.no_padding()
                tok.no_truncation()
            else:
                vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
                lines = (folder / "merges.txt").read_text(encoding="utf-8").strip().split("\n")
                merges = [
                    tuple(line.split()) for line in lines[1 : cls.MAX_MERGES + 1] if line.strip()
                ]
                if not isinstance(vocab, dict) or any(len(m) != 2 for m in merges):
                    raise ValueError("vocab.json or merges.txt is not CLIP's format")
                tok = Tokenizer(
                    BPE(
                        vocab=vocab,
                        merges=[(m[0], m[1]) for m in merges],
                        dropout=None,
                        continuing_subword_prefix="",
                        end_of_word_suffix="</w>",
                        fuse_unk=False,
                        unk_token=cls.EOS,
                    )
                )
                tok.normalizer = normalizers.Sequence(
                    [
                        normalizers.NFC(),
                        normalizers.Replace(Regex(r"\s+"), " "),
                        normalizers.Lowercase(),
                    ]
                )
                tok.pre_tokenizer = pre_tokenizers.Sequence(
                    [
                        pre_tokenizers.Split(
                            Regex(
                                r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d"
                                r"|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"
                            ),
                            behavior="removed",
                            invert=True,
                        ),
                        pre_tokenizers.ByteLevel(add_prefix_space=False),
                    ]
                )
                tok.decoder = decoders.ByteLevel()
                # transformers registers bos, eos, unk and pad as special tokens: they are
                # matched in the raw text before anything else (SD 2's pad is "!").
                specials = dict.fromkeys([cls.BOS, cls.EOS, pad_token])
                tok.add_special_tokens(
                    [AddedToken(t, special=True, normalized=False) for t in specials]
                )
        except GenStudioError:
            raise
        except Exception as e:
            raise _err(
                f"The tokenizer files in {folder.name}/ cannot be read ({str(e)[:200]}).",
                "Copy the tokenizer folder from the original model into the export.",
            ) from e
        return cls(tok, pad_token=pad_token, max_length=max_length)

    def encode(self, text: str) -> TokenizedPrompt:
        ids = self._tok.encode(text, add_special_tokens=False).ids
        room = self.max_length - 2
        kept, dropped = ids[:room], ids[room:]
        row = [self.bos_id, *kept, self.eos_id]
        row += [self.pad_id] * (self.max_length - len(row))
        dropped_text = ""
        if dropped:
            dropped_text = self._tok.decode(dropped).replace("</w>", " ").strip()
        return TokenizedPrompt(
            ids=np.asarray([row], dtype=np.int64),
            n_tokens=len(ids),
            truncated=bool(dropped),
            dropped_text=dropped_text,
        )
