"""Byte-level BPE, written from scratch: training, encoding, decoding, file format.

Ids 0..255 are the 256 bytes, merge `i` makes id `256 + i` (the concatenation of its
two parts' bytes), and the special tokens take the ids after the merges. Every
text is representable (it is bytes underneath), so there is no unknown token.

Text is first cut into chunks by a pre-split regex (`patterns.PATTERNS`: GPT-4's by
default), so merges never cross a chunk boundary; the empty pattern means no cut (each
text is one chunk and merges may cross words).

Training (`BpeTokenizer.train`) is the textbook algorithm, made fast by never redoing
work. Each distinct chunk is counted once (with its frequency) while streaming over the
corpus; pair counts are then kept up to date instead of recounted: an index maps each
pair to the chunks that contain it, so a merge rewrites only those chunks and adjusts
only the counts of the pairs beside each merged occurrence. The best pair comes from a
heap with lazy invalidation: a pair's count only falls after it is pushed (pairs that
rise are new pairs, containing the new id, and are pushed once a merge is done), so
an entry popped with an out-of-date count is pushed back with its current count. A
chunk's tokens are kept as a byte string of fixed-width codes, so that finding and
replacing a pair runs in C (`bytes.find`, `bytes.replace`; see `_learn`).

The tie rule makes training deterministic: the pair with the highest count wins, and
among equal counts the smallest `(left_id, right_id)`. Counts are sums over the
corpus, so the same documents in any order give the same merges.

Encoding applies the merges to a chunk by rank (the earliest-learnt pair present first,
each pass merging its occurrences left to right), which gives the same ids as replaying
the training merges in order. Chunks repeat a lot in real text, so their ids are
cached: encoding a typical text is one regex pass and one dict lookup per chunk (and
ASCII text is cut by an equivalent pattern for the faster `re` engine when it can be).

File fields: `pattern` (the regex, "" for none), `specials` (in id order) and `merges`
(`[left_id, right_id, readable]` in order; `readable` is the merged bytes for people,
with undecodable bytes as `\\xNN`). The vocabulary is derived from the merges on load.
"""

from __future__ import annotations

import heapq
import logging
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import chain, islice, pairwise
from pathlib import Path
from typing import Any, ClassVar

import regex
from tqdm import tqdm

from nanoforge.errors import DataError
from nanoforge.tokenizers.base import (
    POLICIES,
    Errors,
    SpecialPolicy,
    Tokenizer,
    check_fields,
    special_ids,
    special_regex,
)
from nanoforge.tokenizers.patterns import ASCII_TWINS

log = logging.getLogger(__name__)

_FIELDS = ("pattern", "specials", "merges")
_ERRORS = ("replace", "strict")

# Chunks this long or longer are merged with a heap over a linked list (n log n)
# instead of repeated scans (quadratic); around this length the two cost the same.
_LONG_CHUNK = 28
# Chunks longer than this are not cached: a chunk that long (a whole text with the
# empty pattern, a run of spaces) rarely repeats and would pin a lot of memory.
_MAX_CACHED_CHARS = 256
# The chunk cache is emptied when it reaches this many entries, which bounds its
# memory (a few tens of MB) while a corpus's frequent chunks come back within seconds.
_CACHE_ENTRIES = 200_000
# Larger than any id: "no merge" in rank lookups.
_NO_MERGE = 1 << 62
_SURROGATE = regex.compile(r"[\ud800-\udfff]")


def _merged_text(data: bytes) -> str:
    """The readable form of a token's bytes in the file (undecodable bytes as \\xNN)."""
    return data.decode("utf-8", errors="backslashreplace")


def _shift_for(n_ids: int) -> int:
    """Bits that hold any id below `n_ids`: a pair is the int `left << shift | right`."""
    return max(8, (n_ids - 1).bit_length())


def _compile(pattern: str) -> regex.Pattern[str] | None:
    """The compiled pre-split regex, or None for the empty pattern (no pre-split)."""
    return regex.compile(pattern) if pattern else None


Findall = Callable[[str], list[str]]


def _splitters(pattern: str) -> tuple[Findall | None, Findall | None]:
    """`findall` of the pre-split pattern for any text and for ASCII text (None: no split)."""
    split = _compile(pattern)
    if split is None:
        return None, None
    twin = ASCII_TWINS.get(pattern)
    return split.findall, re.compile(twin).findall if twin else split.findall


def _merges_problem(merges: Sequence[Any]) -> str | None:
    """What is wrong with a merge list (pairs of ints), or None."""
    seen: dict[tuple[int, int], int] = {}
    for i, merge in enumerate(merges):
        if not (isinstance(merge, tuple | list) and len(merge) == 2):
            return f"merge {i} is {merge!r}, not a pair of ids"
        for part in merge:
            if not isinstance(part, int) or isinstance(part, bool):
                return f"merge {i} has a part {part!r} that is not an integer id"
            if part < 0 or part >= 256 + len(merges):
                return (
                    f"merge {i} refers to id {part}, out of range (ids 0..{256 + len(merges) - 1})"
                )
            if part >= 256 + i:
                return (
                    f"merge {i} refers to id {part}, which a later merge makes "
                    f"(merge {i} may use ids below {256 + i})"
                )
        pair = (merge[0], merge[1])
        if pair in seen:
            return f"merge {i} repeats merge {seen[pair]} {list(pair)}"
        seen[pair] = i
    return None


def _specials_problem(specials: Sequence[Any]) -> str | None:
    for i, text in enumerate(specials):
        if not isinstance(text, str) or not text:
            return f"special token {i} is {text!r}, not a non-empty string"
    if len(set(specials)) != len(specials):
        return f"special tokens repeat: {list(specials)}"
    return None


def _surrogate_error(text: str, offset: int) -> DataError:
    """The error for text that cannot be UTF-8 (`offset`: where it starts in the caller's)."""
    found = _SURROGATE.search(text)
    where = f" U+{ord(found.group()):04X} at position {offset + found.start()}" if found else ""
    return DataError(
        f"the text has a lone surrogate{where}, which has no UTF-8 form "
        "(the text was decoded wrongly upstream)"
    )


class _ChunkCache(dict[str, tuple[int, ...]]):
    """Chunk -> ids; a miss encodes the chunk (`__missing__`), so hits stay in C."""

    __slots__ = ("_encode",)

    def __init__(self, encode: Callable[[str], tuple[int, ...]]) -> None:
        super().__init__()
        self._encode = encode

    def __missing__(self, chunk: str) -> tuple[int, ...]:
        ids = self._encode(chunk)
        if len(chunk) <= _MAX_CACHED_CHARS:
            if len(self) >= _CACHE_ENTRIES:
                self.clear()
            self[chunk] = ids
        return ids


class BpeTokenizer(Tokenizer):
    """Byte-level BPE; see the module docstring."""

    kind: ClassVar[str] = "bpe"

    def __init__(
        self, merges: Sequence[tuple[int, int]], pattern: str, specials: Sequence[str]
    ) -> None:
        """`merges[i]` makes id `256 + i`; `pattern` "" means no pre-split."""
        problem = _merges_problem(merges) or _specials_problem(specials)
        if problem:
            raise ValueError(f"BpeTokenizer: {problem}")
        try:
            self._findall, self._findall_ascii = _splitters(pattern)
        except regex.error as err:
            raise ValueError(f"BpeTokenizer: pattern is not a valid regex ({err})") from None
        self.pattern = pattern
        self.merges: tuple[tuple[int, int], ...] = tuple((int(a), int(b)) for a, b in merges)
        n_ordinary = 256 + len(self.merges)
        self.specials = special_ids(specials, n_ordinary)
        # Id -> bytes, derived from the merges (never stored in the file).
        vocab = [bytes([i]) for i in range(256)]
        for a, b in self.merges:
            vocab.append(vocab[a] + vocab[b])
        self._vocab: tuple[bytes, ...] = tuple(vocab)
        # A dict, not a list: a negative id must be an error, not the last token.
        self._bytes: dict[int, bytes] = dict(enumerate(vocab))
        self._bytes.update((i, b"") for i in self.specials.values())
        # Pair `left << shift | right` -> the id its merge makes (a lower id is an
        # earlier merge); an int key hashes faster than a tuple.
        self._shift = _shift_for(n_ordinary)
        self._ranks: dict[int, int] = {
            a << self._shift | b: 256 + i for i, (a, b) in enumerate(self.merges)
        }
        self._cache = _ChunkCache(self._encode_chunk)
        self._special_re = special_regex(specials)

    # ----------------------------------------------------------------- training

    @classmethod
    def train(
        cls,
        texts: Iterable[str],
        vocab_size: int,
        pattern: str,
        specials: Sequence[str],
    ) -> BpeTokenizer:
        """Learn `vocab_size - 256 - len(specials)` merges from `texts` (streamed once).

        Tie rule: the most frequent pair wins; among equal counts, the pair with the
        smallest `(left_id, right_id)`. Fewer merges are made only when no pair is left
        (a warning says so). `DataError` if the corpus has nothing to learn from.
        """
        specials = list(specials)
        problem = _specials_problem(specials)
        if problem:
            raise ValueError(f"BpeTokenizer.train: {problem}")
        n_merges = vocab_size - 256 - len(specials)
        if n_merges < 0:
            raise ValueError(
                f"vocab_size must be at least {256 + len(specials)} for bpe (256 bytes + "
                f"{len(specials)} special tokens; got {vocab_size})"
            )
        try:
            findall, findall_ascii = _splitters(pattern)
        except regex.error as err:
            raise ValueError(f"pattern is not a valid regex ({err})") from None

        # 1. Distinct chunks and their frequencies, in one streaming pass.
        chunk_counts: Counter[str] = Counter()
        if findall is not None and findall_ascii is not None:
            update = chunk_counts.update
            for text in texts:
                update(findall_ascii(text) if text.isascii() else findall(text))
        else:
            for text in texts:
                if text:
                    chunk_counts[text] += 1
        if not chunk_counts:
            raise DataError(
                "the training corpus is empty (no text at all); "
                "check the clean corpus (data/clean/general.parquet)"
            )
        words: list[bytes] = []
        freqs: list[int] = []
        for chunk, freq in chunk_counts.items():
            try:
                data = chunk.encode("utf-8")
            except UnicodeEncodeError:
                found = _SURROGATE.search(chunk)
                code = f" U+{ord(found.group()):04X}" if found else ""
                raise DataError(
                    f"a training text has a lone surrogate{code} (in {chunk[:40]!r}), which "
                    "has no UTF-8 form (the text was decoded wrongly upstream)"
                ) from None
            if len(data) > 1:  # a single byte has no pair to merge
                words.append(data)
                freqs.append(freq)
        del chunk_counts
        if not words and n_merges:
            raise DataError(
                "the training corpus is empty of pairs (no chunk of two or more bytes "
                "to merge); check the clean corpus (data/clean/general.parquet)"
            )
        log.info(
            "bpe: %d distinct chunks (%d in all) to learn %d merges from",
            len(words),
            sum(freqs),
            n_merges,
        )
        merges = _learn(words, freqs, n_merges)
        if len(merges) < n_merges:
            log.warning(
                "bpe: the corpus ran out of pairs after %d of %d merges; the vocabulary has "
                "%d ids instead of %d",
                len(merges),
                n_merges,
                256 + len(merges) + len(specials),
                vocab_size,
            )
        return cls(merges, pattern, specials)

    # ------------------------------------------------------------------ encoding

    @property
    def vocab_size(self) -> int:
        return len(self._bytes)

    def encode_iter(
        self, texts: Iterable[str], specials: SpecialPolicy = "ordinary"
    ) -> Iterator[list[int]]:
        """Ids of each text of a stream, one list per text; the chunk cache stays warm."""
        if specials != "ordinary" and self._special_re is not None:
            for text in texts:
                yield self.encode(text, specials)
            return
        if specials not in POLICIES:
            raise ValueError(f"specials must be ordinary, allow or raise, got {specials!r}")
        encode = self._encode_ordinary
        for text in texts:
            yield encode(text, 0)

    def _encode_ordinary(self, text: str, offset: int) -> list[int]:
        """Ids of text without special tokens; `offset`: where it starts in the caller's."""
        try:
            if self._findall is None:  # no pre-split: the text is one chunk
                return list(self._cache[text]) if text else []
            chunks = self._findall_ascii(text) if text.isascii() else self._findall(text)
            # The hot path: C-level cache lookups and concatenation.
            return list(chain.from_iterable(map(self._cache.__getitem__, chunks)))
        except UnicodeEncodeError:
            raise _surrogate_error(text, offset) from None

    def _encode_chunk(self, chunk: str) -> tuple[int, ...]:
        """Ids of one chunk: merges applied by rank (earliest learnt first).

        Merging the leftmost occurrence of the earliest merge, one at a time, is the
        textbook pass (all occurrences of a merge, left to right) in small steps: a merge
        makes only pairs of later merges, so the earliest merge stays the earliest
        until all its occurrences are gone.
        """
        ids = list(chunk.encode("utf-8"))
        if len(ids) >= _LONG_CHUNK:
            return self._encode_long(ids)
        get, shift = self._ranks.get, self._shift
        # ranks[i]: the id that merging ids[i] and ids[i+1] makes (_NO_MERGE if none).
        ranks = [get(a << shift | b, _NO_MERGE) for a, b in pairwise(ids)]
        while ranks:
            best = min(ranks)
            if best == _NO_MERGE:
                break
            i = ranks.index(best)
            ids[i : i + 2] = (best,)
            # Only the pairs beside the merge change.
            del ranks[i]
            if i < len(ranks):
                ranks[i] = get(best << shift | ids[i + 1], _NO_MERGE)
            if i:
                ranks[i - 1] = get(ids[i - 1] << shift | best, _NO_MERGE)
        return tuple(ids)

    def _encode_long(self, ids: list[int]) -> tuple[int, ...]:
        """Like `_encode_chunk` for a long chunk: a heap of pairs over a linked list.

        Heap entries are (merged id, position); the smallest merged id is the earliest
        merge, and equal ids pop left to right, as the textbook passes merge them. An
        entry is stale when its position was merged away or its right neighbour
        changed; it is then skipped.
        """
        get, shift = self._ranks.get, self._shift
        n = len(ids)
        nxt = list(range(1, n + 1))
        prv = list(range(-1, n - 1))
        heap = [
            (rank, i)
            for i, (a, b) in enumerate(pairwise(ids))
            if (rank := get(a << shift | b)) is not None
        ]
        heapq.heapify(heap)
        heappop, heappush = heapq.heappop, heapq.heappush
        while heap:
            rank, i = heappop(heap)
            j = nxt[i]
            if j >= n or ids[i] < 0 or get(ids[i] << shift | ids[j]) != rank:
                continue
            # Merge i and j into i; j leaves the list.
            ids[i] = rank
            ids[j] = -1
            k = nxt[i] = nxt[j]
            if k < n:
                prv[k] = i
                right = get(rank << shift | ids[k])
                if right is not None:
                    heappush(heap, (right, i))
            p = prv[i]
            if p >= 0:
                left = get(ids[p] << shift | rank)
                if left is not None:
                    heappush(heap, (left, p))
        return tuple(x for x in ids if x >= 0)

    # ------------------------------------------------------------------ decoding

    def _bad_id(self, token_id: object) -> DataError:
        return DataError(
            f"token id {token_id!r} is out of range for this bpe tokenizer "
            f"(ids 0..{self.vocab_size - 1}); the ids come from another tokenizer"
        )

    def token_bytes(self, token_id: int) -> bytes:
        """The bytes the token stands for; b"" for a special token."""
        try:
            return self._bytes[token_id]
        except (KeyError, TypeError):
            raise self._bad_id(token_id) from None

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        """The bytes of `ids`, special tokens left out."""
        ids = ids if isinstance(ids, list | tuple) else list(ids)
        try:
            return b"".join(map(self._bytes.__getitem__, ids))
        except (KeyError, TypeError):
            pass
        for token_id in ids:
            self.token_bytes(token_id)  # raises for the first bad id
        raise AssertionError("unreachable")  # pragma: no cover

    def decode(self, ids: Iterable[int], errors: Errors = "replace") -> str:
        """Text of `ids`: invalid UTF-8 becomes U+FFFD ("replace") or raises ("strict")."""
        if errors not in _ERRORS:
            raise ValueError(f"errors must be replace or strict, got {errors!r}")
        return self.decode_bytes(ids).decode("utf-8", errors=errors)

    # ---------------------------------------------------------------------- file

    def to_dict(self) -> dict[str, Any]:
        vocab = self._vocab
        return {
            "pattern": self.pattern,
            "specials": list(self.specials),
            "merges": [
                [a, b, _merged_text(vocab[256 + i])] for i, (a, b) in enumerate(self.merges)
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], path: Path) -> BpeTokenizer:
        """Rebuild from the file's fields; `DataError` naming `path` and the problem."""
        check_fields(data, _FIELDS, path, cls.kind)
        pattern, specials, merges = data["pattern"], data["specials"], data["merges"]
        if not isinstance(pattern, str):
            raise DataError(f"{path}: field 'pattern' must be a string (a regex, or \"\")")
        try:
            _compile(pattern)
        except regex.error as err:
            raise DataError(f"{path}: field 'pattern' is not a valid regex ({err})") from None
        if not isinstance(specials, list):
            raise DataError(f"{path}: field 'specials' must be a list of strings")
        problem = _specials_problem(specials)
        if problem:
            raise DataError(f"{path}: field 'specials': {problem}")
        if not isinstance(merges, list):
            raise DataError(
                f"{path}: field 'merges' must be a list of [left_id, right_id, text] items"
            )
        for i, item in enumerate(merges):
            if not (isinstance(item, list) and len(item) == 3 and isinstance(item[2], str)):
                raise DataError(
                    f"{path}: merge {i} is {item!r}, expected [left_id, right_id, text]"
                )
        pairs = [(item[0], item[1]) for item in merges]
        problem = _merges_problem(pairs)
        if problem:
            raise DataError(f"{path}: {problem}")
        tokenizer = cls(pairs, pattern, list(specials))
        # The readable text is for people, but a mismatch means the file was edited
        # by hand or damaged: refuse it rather than guess which side is right.
        for i, item in enumerate(merges):
            made = _merged_text(tokenizer._vocab[256 + i])
            if item[2] != made:
                raise DataError(
                    f"{path}: merge {i} says {item[2]!r} but ids {item[0]} and {item[1]} "
                    f"make {made!r}; the file is damaged, retrain the tokenizer"
                )
        return tokenizer

    def __repr__(self) -> str:
        return (
            f"BpeTokenizer({len(self.merges)} merges, pattern={self.pattern!r}, "
            f"specials={list(self.specials)})"
        )


def _token_code(token_id: int, width: int) -> bytes:
    """`token_id` as `width` bytes, 7 bits each; only the first byte has its top bit set."""
    parts = [(token_id >> (7 * k)) & 0x7F for k in range(width - 1, -1, -1)]
    parts[0] |= 0x80
    return bytes(parts)


def _learn(chunks: list[bytes], freqs: list[int], n_merges: int) -> list[tuple[int, int]]:
    """Up to `n_merges` merges of `chunks` (distinct, of 2 bytes or more) weighted by `freqs`.

    A pair (left, right) is the int `left << shift | right` here: ints hash and compare
    faster than tuples, and their order is the tuple order. A heap entry is the int
    `-count << 2 * shift | pair`, so the smallest entry is the highest count and, among
    equal counts, the smallest pair: the tie rule, with single-int comparisons.

    A chunk's tokens are held as one `bytes` string, each token a fixed-width code whose
    first byte alone has its top bit set. The code of a pair then matches only at a
    token boundary, so `bytes.find` finds the pair's occurrences and `bytes.replace`
    merges them, both in C and left to right without overlap, as BPE merges; Python
    runs only for each occurrence, to move the counts of its neighbours' pairs.
    """
    n_ids = 256 + n_merges
    shift = _shift_for(n_ids)
    low = (1 << shift) - 1
    shift2 = 2 * shift
    pair_mask = (1 << shift2) - 1
    width = 1
    while n_ids > 1 << (7 * width):
        width += 1
    code = [_token_code(i, width) for i in range(256)]  # id -> code, grows with merges
    decode = {c: i for i, c in enumerate(code)}  # code -> id

    # Pair counts, and for each pair the chunks that contain (or once contained) it.
    counts: dict[int, int] = {}
    where: dict[int, set[int]] = {}
    words: list[bytes] = []
    for idx, chunk in enumerate(chunks):
        freq = freqs[idx]
        left = chunk[0]
        for right in islice(chunk, 1, None):
            key = left << shift | right
            if key in counts:
                counts[key] += freq
                where[key].add(idx)
            else:
                counts[key] = freq
                where[key] = {idx}
            left = right
        words.append(b"".join(map(code.__getitem__, chunk)))
    heap = [-count << shift2 | key for key, count in counts.items()]
    heapq.heapify(heap)
    heappop, heappush = heapq.heappop, heapq.heappush

    merges: list[tuple[int, int]] = []
    pair_width = 2 * width
    with tqdm(total=n_merges, desc="bpe merges", unit="merge", disable=None, leave=False) as bar:
        for new in range(256, n_ids):
            # The best pair: pop until an entry's count is current (counts only fall
            # after a push, so a stale entry is pushed back with its current count).
            while heap:
                entry = heappop(heap)
                key = entry & pair_mask
                count = -(entry >> shift2)
                current = counts[key]
                if current == count:
                    break
                if current > 0:
                    heappush(heap, -current << shift2 | key)
            else:
                break  # no pair left
            a = key >> shift
            b = key & low
            merges.append((a, b))
            pair = code[a] + code[b]
            new_code = _token_code(new, width)
            code.append(new_code)
            decode[new_code] = new
            # Counts of the pairs that contain `new`: all new, only ever increased here.
            new_counts: dict[int, int] = {}
            new_where: dict[int, set[int]] = {}
            for idx in where.pop(key):
                word = words[idx]
                i = word.find(pair)
                if i < 0:
                    continue  # a stale index: the pair left this chunk in an earlier merge
                freq = freqs[idx]
                size = len(word)
                end = -1  # where the previous occurrence ended
                while i >= 0:
                    if i:
                        # (left, a) becomes (left, new), or (new, new) when the previous
                        # occurrence ends right here (left is then its b).
                        left = decode[word[i - width : i]]
                        counts[left << shift | a] -= freq
                        k = (new if i == end else left) << shift | new
                        if k in new_counts:
                            new_counts[k] += freq
                            new_where[k].add(idx)
                        else:
                            new_counts[k] = freq
                            new_where[k] = {idx}
                    end = i + pair_width
                    # (b, right) becomes (new, right), unless another occurrence starts
                    # right here: that one counts the pair between them as its left.
                    if end < size and not word.startswith(pair, end):
                        right = decode[word[end : end + width]]
                        counts[b << shift | right] -= freq
                        k = new << shift | right
                        if k in new_counts:
                            new_counts[k] += freq
                            new_where[k].add(idx)
                        else:
                            new_counts[k] = freq
                            new_where[k] = {idx}
                    i = word.find(pair, end)
                words[idx] = word.replace(pair, new_code)
            counts[key] = 0  # every occurrence was merged
            counts.update(new_counts)
            where.update(new_where)
            for k, count in new_counts.items():
                heappush(heap, -count << shift2 | k)
            bar.update()
    return merges
