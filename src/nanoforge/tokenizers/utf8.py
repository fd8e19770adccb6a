"""Incremental UTF-8 decoding of token byte streams, written from scratch.

A token stands for a byte string that need not end on a character boundary (a BPE
token can hold half of an emoji), so generated text is decoded as a byte stream:
`Utf8Decoder.feed` returns only the characters completed so far and keeps a partial
character for the next call. Invalid bytes become U+FFFD exactly where
`bytes.decode("utf-8", errors="replace")` puts them: the Unicode "maximal subpart"
practice, where each maximal prefix of a well-formed sequence that is cut short (and
each byte that cannot start one) becomes one U+FFFD, and the byte that broke a
sequence is read again as the start of the next.

The decoder's state is exposed for generation (the "ghost-byte blocker",
`nanoforge.tokenizers.ghost_bytes`): `pending`, `next_byte_range`, `need_after`,
`accepts` and `accepts_complete` say which byte strings keep the stream valid, and
`state` is a small hashable key to cache such answers by.

The well-formed sequences (Unicode table 3-7), first byte and the range of the second;
later bytes are always 80..BF:

    00..7F                  (one byte)
    C2..DF  80..BF
    E0      A0..BF          (E0 80..9F would be overlong)
    E1..EC  80..BF
    ED      80..9F          (ED A0..BF would be a surrogate)
    EE..EF  80..BF
    F0      90..BF          (F0 80..8F would be overlong)
    F1..F3  80..BF
    F4      80..8F          (F4 90.. would be above U+10FFFF)

80..BF, C0, C1 and F5..FF never start a character.
"""

from __future__ import annotations

from typing import Protocol

REPLACEMENT = "\ufffd"

_CONT_LO, _CONT_HI = 0x80, 0xBF

# Per first byte: (continuation bytes needed, second byte's lo, hi, payload mask), or
# None for a byte that cannot start a character.
_Lead = tuple[int, int, int, int]


def _lead_table() -> list[_Lead | None]:
    table: list[_Lead | None] = [None] * 256
    for b in range(0x80):
        table[b] = (0, 0, 0, 0x7F)
    for b in range(0xC2, 0xE0):
        table[b] = (1, _CONT_LO, _CONT_HI, 0x1F)
    for b in range(0xE0, 0xF0):
        table[b] = (2, _CONT_LO, _CONT_HI, 0x0F)
    table[0xE0] = (2, 0xA0, _CONT_HI, 0x0F)
    table[0xED] = (2, _CONT_LO, 0x9F, 0x0F)
    for b in range(0xF0, 0xF5):
        table[b] = (3, _CONT_LO, _CONT_HI, 0x07)
    table[0xF0] = (3, 0x90, _CONT_HI, 0x07)
    table[0xF4] = (3, _CONT_LO, 0x8F, 0x07)
    return table


_LEAD = _lead_table()


class Utf8Decoder:
    """Bytes in, complete characters out; invalid bytes become U+FFFD as Python does."""

    __slots__ = ("_code", "_hi", "_lo", "_need")

    def __init__(self) -> None:
        self._need = 0  # continuation bytes the partial character still needs
        self._lo = 0  # inclusive range of the next byte while _need > 0
        self._hi = 0
        self._code = 0  # the partial character's code point bits so far

    @property
    def pending(self) -> int:
        """Continuation bytes the current partial character still needs (0 at a boundary)."""
        return self._need

    @property
    def next_byte_range(self) -> tuple[int, int] | None:
        """Inclusive (lo, hi) the next byte must lie in to continue validly; None at a boundary."""
        return (self._lo, self._hi) if self._need else None

    @property
    def state(self) -> tuple[int, int, int]:
        """A hashable key of everything `accepts` depends on (8 distinct values)."""
        return (self._need, self._lo, self._hi) if self._need else (0, 0, 0)

    def feed(self, data: bytes) -> str:
        """Decode more bytes; return the characters they complete (a partial one is kept)."""
        need = self._need
        if not need and data.isascii():
            return data.decode("ascii")
        lo, hi, code = self._lo, self._hi, self._code
        out: list[str] = []
        append = out.append
        lead_table = _LEAD
        i, n = 0, len(data)
        while i < n:
            b = data[i]
            if need:
                if lo <= b <= hi:
                    code = (code << 6) | (b & 0x3F)
                    need -= 1
                    if not need:
                        append(chr(code))
                    lo, hi = _CONT_LO, _CONT_HI
                    i += 1
                else:
                    # The maximal subpart so far is one U+FFFD; `b` starts afresh.
                    append(REPLACEMENT)
                    need = 0
                continue
            i += 1
            if b < 0x80:
                append(chr(b))
                continue
            lead = lead_table[b]
            if lead is None:
                append(REPLACEMENT)
            else:
                need, lo, hi, mask = lead
                code = b & mask
        self._need, self._lo, self._hi, self._code = need, lo, hi, code
        return "".join(out)

    def flush(self) -> str:
        """End the stream: an unfinished character becomes one U+FFFD. The decoder is reset."""
        unfinished = self._need > 0
        self._need = self._lo = self._hi = self._code = 0
        return REPLACEMENT if unfinished else ""

    def need_after(self, data: bytes) -> int:
        """Bytes still needed after `data` (state unchanged), or -1 if `data` is invalid here."""
        need, lo, hi = self._need, self._lo, self._hi
        if not need and data.isascii():
            return 0
        lead_table = _LEAD
        for b in data:
            if need:
                if b < lo or b > hi:
                    return -1
                need -= 1
                lo, hi = _CONT_LO, _CONT_HI
            else:
                lead = lead_table[b]
                if lead is None:
                    return -1
                need, lo, hi = lead[0], lead[1], lead[2]
        return need

    def accepts(self, data: bytes) -> bool:
        """Whether appending `data` keeps the stream valid UTF-8 (it may end mid-character)."""
        return self.need_after(data) >= 0

    def accepts_complete(self, data: bytes) -> bool:
        """Whether appending `data` keeps the stream valid and ends it on a character boundary."""
        return self.need_after(data) == 0


class HasTokenBytes(Protocol):
    """Anything that says which bytes a token id stands for (every `Tokenizer`)."""

    def token_bytes(self, token_id: int) -> bytes: ...


class TokenTextStream:
    """Token ids in, text out as soon as its characters are complete.

    For any ids, `"".join(map(stream.push, ids)) + stream.close()` equals
    `tokenizer.decode(ids)`; `decoder` tells which next tokens keep the text valid.
    """

    __slots__ = ("decoder", "tokenizer")

    def __init__(self, tokenizer: HasTokenBytes) -> None:
        self.tokenizer = tokenizer
        self.decoder = Utf8Decoder()

    def push(self, token_id: int) -> str:
        """Add one token; return the text it completes (often "", mid-character)."""
        return self.decoder.feed(self.tokenizer.token_bytes(token_id))

    def close(self) -> str:
        """End the stream: an unfinished character becomes one U+FFFD."""
        return self.decoder.flush()
