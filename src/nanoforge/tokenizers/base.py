"""The interface every tokenizer shares, and its JSON file format.

A tokenizer maps text to ids and back. Every token stands for a byte string (a byte,
a merged run of bytes, or a character's UTF-8), so generated ids can be decoded
incrementally (`utf8.py`) whatever the tokenizer. Special tokens (`<|endoftext|>`
between documents) come after the ordinary vocabulary.

Files are one readable JSON object: `format`, `version`, `kind` and the kind's own
fields. The content hash (`Tokenizer.hash`) is taken over that object in canonical
form; token arrays record it so that they are never read with another tokenizer.
"""

from __future__ import annotations

import hashlib
import json
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

from nanoforge.atomic import write_text
from nanoforge.errors import DataError

FORMAT = "nanoforge-tokenizer"
VERSION = 1
FILE_NAME = "tokenizer.json"
EOT = "<|endoftext|>"

# What `encode` does with special-token text (`<|endoftext|>`) inside ordinary text:
# - "ordinary": encode it as the plain text it is (the default: text from the web
#   cannot inject a document boundary);
# - "allow": turn it into the special token's id;
# - "raise": refuse the text with an error naming the token and its position.
SpecialPolicy = Literal["ordinary", "allow", "raise"]
POLICIES = ("ordinary", "allow", "raise")
Errors = Literal["replace", "strict"]


class Tokenizer(ABC):
    """Text <-> ids. Subclasses: `BpeTokenizer` (bpe.py), `CharTokenizer` (char.py)."""

    kind: ClassVar[str]
    specials: dict[str, int]
    """Special token text -> id; ids follow the ordinary vocabulary."""
    _special_re: re.Pattern[str] | None
    """Matches special-token text (`special_regex`); set by subclasses."""

    @property
    @abstractmethod
    def vocab_size(self) -> int:
        """Number of ids, special tokens included."""

    def encode(self, text: str, specials: SpecialPolicy = "ordinary") -> list[int]:
        """Ids of `text`; special-token text inside it is handled as `specials` says."""
        if specials not in POLICIES:
            raise ValueError(f"specials must be ordinary, allow or raise, got {specials!r}")
        if specials == "ordinary" or self._special_re is None:
            return self._encode_ordinary(text, 0)
        if specials == "raise":
            if found := self._special_re.search(text):
                raise DataError(
                    f"special token {found.group()!r} at position {found.start()} of the "
                    "text (special tokens are refused here)"
                )
            return self._encode_ordinary(text, 0)
        ids: list[int] = []
        start = 0
        for found in self._special_re.finditer(text):
            ids += self._encode_ordinary(text[start : found.start()], start)
            ids.append(self.specials[found.group()])
            start = found.end()
        ids += self._encode_ordinary(text[start:], start)
        return ids

    @abstractmethod
    def _encode_ordinary(self, text: str, offset: int) -> list[int]:
        """Ids of text holding no special tokens; `offset`: where it starts in the caller's
        text (for error messages)."""

    def encode_iter(
        self, texts: Iterable[str], specials: SpecialPolicy = "ordinary"
    ) -> Iterator[list[int]]:
        """Ids of each text of a stream, one list per text (caches warm across texts)."""
        for text in texts:
            yield self.encode(text, specials)

    @abstractmethod
    def token_bytes(self, token_id: int) -> bytes:
        """The bytes a token stands for (b"" for a special token)."""

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        """The bytes of `ids`, special tokens left out."""
        return b"".join(self.token_bytes(i) for i in ids)

    def decode(self, ids: Iterable[int], errors: Errors = "replace") -> str:
        """Text of `ids`; invalid UTF-8 becomes U+FFFD where it is invalid, or raises."""
        return self.decode_bytes(ids).decode("utf-8", errors=errors)

    @property
    def eot_id(self) -> int:
        """The id of `<|endoftext|>`, which separates documents."""
        try:
            return self.specials[EOT]
        except KeyError:
            raise DataError(f"the tokenizer has no {EOT} special token") from None

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """The kind's fields of the JSON file (without format, version and kind)."""

    @classmethod
    @abstractmethod
    def from_dict(cls, data: dict[str, Any], path: Path) -> Tokenizer:
        """Rebuild from `to_dict`'s fields; `DataError` naming `path` if they are wrong."""

    def document(self) -> dict[str, Any]:
        """The whole JSON object of the file."""
        return {"format": FORMAT, "version": VERSION, "kind": self.kind, **self.to_dict()}

    @property
    def hash(self) -> str:
        """Content hash of the tokenizer: equal hashes encode text identically."""
        canonical = json.dumps(self.document(), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]

    def save(self, folder: str | Path) -> Path:
        """Write `folder/tokenizer.json` atomically; return its path."""
        path = Path(folder) / FILE_NAME
        write_text(path, json.dumps(self.document(), indent=1, ensure_ascii=False) + "\n")
        return path


def check_fields(data: dict[str, Any], fields: Sequence[str], path: Path, kind: str) -> None:
    """A file of `kind` has exactly `fields` (besides format, version, kind), else DataError."""
    missing = [f for f in fields if f not in data]
    if missing:
        raise DataError(f"{path}: {kind} tokenizer file has no field {missing[0]!r}")
    extra = sorted(set(data) - set(fields))
    if extra:
        raise DataError(f"{path}: {kind} tokenizer file has an unknown field {extra[0]!r}")


def special_regex(specials: Sequence[str]) -> re.Pattern[str] | None:
    """A regex for special-token text, longest first (`<|a|>b` is not cut at `<|a|>`)."""
    ordered = sorted(specials, key=len, reverse=True)
    return re.compile("|".join(map(re.escape, ordered))) if ordered else None


def special_ids(specials: Sequence[str], first_id: int) -> dict[str, int]:
    """Ids for special tokens, in order, starting at `first_id`."""
    return {text: first_id + i for i, text in enumerate(specials)}
