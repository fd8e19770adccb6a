"""The character tokenizer: one id per character seen in training.

The vocabulary is the `vocab_size - len(specials)` most frequent characters of the
training corpus (ties by code point), sorted by code point so that ids are stable and
readable; special tokens take the ids after them. A character outside the vocabulary
is never dropped: with `unknown: unk` it becomes the `<unk>` special token (added after
the configured specials), with `unknown: error` encoding fails naming the character
and its position.

Every token stands for its character's UTF-8 bytes; special tokens for b"", except
`<unk>`, which stands for U+FFFD's bytes so that decoded text shows a replacement
character where an unknown one was. `<unk>` is a special token like the others: its
text inside ordinary text follows the `specials` policy of `encode`. Lone surrogates
(U+D800..U+DFFF, which have no UTF-8 form) are never in the vocabulary.

File fields: `chars` (the characters in id order), `specials` (in id order, `<unk>`
included when `unknown` is `unk`) and `unknown`.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from itertools import repeat
from pathlib import Path
from typing import Any, ClassVar, Literal

from nanoforge.errors import DataError
from nanoforge.tokenizers.base import Errors, Tokenizer, check_fields, special_ids, special_regex

log = logging.getLogger(__name__)

UNK = "<unk>"
Unknown = Literal["unk", "error"]
_UNKNOWN_POLICIES = ("unk", "error")
_FIELDS = ("chars", "specials", "unknown")


def _is_surrogate(char: str) -> bool:
    return 0xD800 <= ord(char) <= 0xDFFF


def _describe(char: str) -> str:
    return f"{char!r} (U+{ord(char):04X})"


def _problem(chars: Sequence[str], specials: Sequence[str], unknown: str) -> str | None:
    """What is wrong with these fields, or None (types already checked)."""
    if not chars:
        return "field 'chars' is empty (a char tokenizer needs at least one character)"
    for i, char in enumerate(chars):
        if len(char) != 1:
            return f"field 'chars' item {i} is {char!r}, not a single character"
        if _is_surrogate(char):
            return f"field 'chars' item {i} is a lone surrogate {_describe(char)}"
        if i and char <= chars[i - 1]:
            return (
                f"field 'chars' is not sorted by code point without repeats "
                f"(item {i} {_describe(char)} after {_describe(chars[i - 1])})"
            )
    for i, text in enumerate(specials):
        if not text:
            return f"field 'specials' item {i} is empty"
    if len(set(specials)) != len(specials):
        return f"field 'specials' has repeats: {list(specials)}"
    if unknown not in _UNKNOWN_POLICIES:
        return f"field 'unknown' is {unknown!r}, expected 'unk' or 'error'"
    if (UNK in specials) != (unknown == "unk"):
        if unknown == "unk":
            return f"field 'unknown' is 'unk' but {UNK} is not among the specials"
        return f"{UNK} is among the specials but field 'unknown' is 'error'"
    return None


class CharTokenizer(Tokenizer):
    """One token per character; see the module docstring."""

    kind: ClassVar[str] = "char"

    def __init__(self, chars: Sequence[str], specials: Sequence[str], unknown: Unknown) -> None:
        """`chars` sorted by code point; `specials` in id order, `<unk>` iff `unknown` is unk."""
        problem = _problem(chars, specials, unknown)
        if problem:
            raise ValueError(f"CharTokenizer: {problem}")
        self.chars: tuple[str, ...] = tuple(chars)
        self.unknown: Unknown = unknown
        self.specials = special_ids(specials, len(self.chars))
        self._ids = {char: i for i, char in enumerate(self.chars)}
        # Id -> the text it decodes to (bytes: `_bytes`), specials included.
        texts = [*self.chars, *("" for _ in specials)]
        self.unk_id: int | None = self.specials.get(UNK)
        if self.unk_id is not None:
            texts[self.unk_id] = "\ufffd"
        self._texts = dict(enumerate(texts))
        self._bytes = [text.encode("utf-8") for text in texts]
        self._special_re = special_regex(specials)

    # ----------------------------------------------------------------- training

    @classmethod
    def train(
        cls,
        texts: Iterable[str],
        vocab_size: int,
        specials: Sequence[str],
        unknown: Unknown = "unk",
    ) -> CharTokenizer:
        """The `vocab_size` ids (specials included) that cover the most of `texts`."""
        if unknown not in _UNKNOWN_POLICIES:
            raise ValueError(f"unknown must be 'unk' or 'error', got {unknown!r}")
        specials = list(specials)
        if unknown == "unk" and UNK not in specials:
            specials.append(UNK)
        elif unknown == "error" and UNK in specials:
            raise DataError(
                f"tokenizer.specials: {UNK} is reserved for unknown characters; "
                "remove it or set tokenizer.unknown: unk"
            )
        budget = vocab_size - len(specials)
        if budget < 1:
            raise ValueError(
                f"vocab_size {vocab_size} leaves no id for characters "
                f"after {len(specials)} special tokens"
            )
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(text)
        for char in [c for c in counts if _is_surrogate(c)]:
            del counts[char]
        if not counts:
            raise DataError(
                "char tokenizer: the training corpus has no characters; "
                "check the clean corpus (data/clean/general.parquet)"
            )
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        kept = ranked[:budget]
        if len(ranked) > budget:
            total = sum(counts.values())
            covered = sum(n for _, n in kept)
            log.info(
                "char tokenizer: kept %d of %d distinct characters (%.4f%% of the corpus)",
                budget,
                len(ranked),
                100 * covered / total,
            )
        return cls(sorted(char for char, _ in kept), specials, unknown)

    # ------------------------------------------------------------------ encoding

    @property
    def vocab_size(self) -> int:
        return len(self._texts)

    def _encode_ordinary(self, text: str, offset: int) -> list[int]:
        """Ids of characters; `offset` is where `text` starts in the caller's text."""
        table = self._ids
        try:
            return list(map(table.__getitem__, text))
        except KeyError:
            pass
        if self.unk_id is not None:
            return list(map(table.get, text, repeat(self.unk_id)))  # type: ignore[arg-type]
        for i, char in enumerate(text):
            if char not in table:
                raise DataError(
                    f"character {_describe(char)} at position {offset + i} is not in the "
                    "char tokenizer's vocabulary; retrain with it or set tokenizer.unknown: unk"
                )
        raise AssertionError("unreachable")  # pragma: no cover

    # ------------------------------------------------------------------ decoding

    def _bad_id(self, token_id: object) -> DataError:
        return DataError(
            f"token id {token_id!r} is out of range for this char tokenizer "
            f"(ids 0..{self.vocab_size - 1}); the ids come from another tokenizer"
        )

    def token_bytes(self, token_id: int) -> bytes:
        """The character's UTF-8; b"" for a special token, U+FFFD's UTF-8 for `<unk>`."""
        if not 0 <= token_id < len(self._bytes):
            raise self._bad_id(token_id)
        return self._bytes[token_id]

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        return self.decode(ids).encode("utf-8")

    def decode(self, ids: Iterable[int], errors: Errors = "replace") -> str:
        """Text of `ids` (every token is whole characters, so `errors` never matters)."""
        ids = ids if isinstance(ids, list | tuple) else list(ids)
        texts = self._texts
        try:
            return "".join(map(texts.__getitem__, ids))
        except (KeyError, TypeError):
            pass
        for token_id in ids:
            try:
                if token_id in texts:
                    continue
            except TypeError:  # unhashable
                pass
            raise self._bad_id(token_id) from None
        raise AssertionError("unreachable")  # pragma: no cover

    # ---------------------------------------------------------------------- file

    def to_dict(self) -> dict[str, Any]:
        return {
            "chars": list(self.chars),
            "specials": list(self.specials),
            "unknown": self.unknown,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], path: Path) -> CharTokenizer:
        """Rebuild from the file's fields; `DataError` naming `path` and the problem."""
        check_fields(data, _FIELDS, path, cls.kind)
        chars, specials, unknown = data["chars"], data["specials"], data["unknown"]
        for name, value in (("chars", chars), ("specials", specials)):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise DataError(f"{path}: field {name!r} must be a list of strings")
        if not isinstance(unknown, str):
            raise DataError(f"{path}: field 'unknown' must be 'unk' or 'error'")
        problem = _problem(chars, specials, unknown)
        if problem:
            raise DataError(f"{path}: {problem}")
        return cls(chars, specials, unknown)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return (
            f"CharTokenizer({len(self.chars)} chars, specials={list(self.specials)}, "
            f"unknown={self.unknown!r})"
        )
