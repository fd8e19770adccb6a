"""Load a tokenizer file of any kind, checking its format and version first."""

from __future__ import annotations

import json
from pathlib import Path

from nanoforge.errors import DataError
from nanoforge.tokenizers.base import FILE_NAME, FORMAT, VERSION, Tokenizer
from nanoforge.tokenizers.bpe import BpeTokenizer
from nanoforge.tokenizers.char import CharTokenizer

KINDS: dict[str, type[Tokenizer]] = {"bpe": BpeTokenizer, "char": CharTokenizer}


def load_tokenizer(path: str | Path) -> Tokenizer:
    """Load a tokenizer file (or the `tokenizer.json` in a folder) of any kind."""
    path = Path(path)
    if path.is_dir():
        path = path / FILE_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: no tokenizer file; run `dvc repro train_bpe`") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(f"{path}: not a tokenizer file (not valid JSON: {err})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise DataError(f'{path}: not a nanoforge tokenizer file (no "format": "{FORMAT}")')
    version = data.get("version")
    if version != VERSION:
        raise DataError(
            f"{path}: tokenizer format version {version!r}, this nanoforge reads version "
            f"{VERSION}; retrain it (`dvc repro train_bpe`) or upgrade nanoforge"
        )
    kind = data.get("kind")
    if kind not in KINDS:
        raise DataError(f"{path}: unknown tokenizer kind {kind!r} (expected bpe or char)")
    fields = {k: v for k, v in data.items() if k not in ("format", "version", "kind")}
    return KINDS[kind].from_dict(fields, path)
