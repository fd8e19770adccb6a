"""The incremental UTF-8 decoder against Python's own decoder, and its validity state."""

from __future__ import annotations

import codecs
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nanoforge.tokenizers.utf8 import TokenTextStream, Utf8Decoder

# Byte strings that stress the decoder: overlongs, surrogates, above U+10FFFF, bytes
# that never start a character, truncated sequences and lone continuation bytes.
NASTY = [
    b"\xc0\x80",  # overlong NUL
    b"\xc1\xbf",  # overlong
    b"\xe0\x80\x80",  # overlong
    b"\xe0\x9f\xbf",  # overlong
    b"\xf0\x80\x80\x80",  # overlong
    b"\xf0\x8f\xbf\xbf",  # overlong
    b"\xed\xa0\x80",  # surrogate U+D800
    b"\xed\xbf\xbf",  # surrogate U+DFFF
    b"\xed\x9f\xbf",  # U+D7FF, valid
    b"\xf4\x8f\xbf\xbf",  # U+10FFFF, valid
    b"\xf4\x90\x80\x80",  # U+110000
    b"\xf5\x80\x80\x80",
    b"\xf8\x88\x80\x80\x80",  # old 5-byte form
    b"\xfc\x84\x80\x80\x80\x80",  # old 6-byte form
    b"\xfe",
    b"\xff",
    b"\x80",
    b"\xbf",
    b"\x80\x80\x80",
    b"\xc2",  # truncated
    b"\xe2\x82",  # truncated euro sign
    b"\xf0\x9f\x98",  # truncated emoji
    b"\xf0\x9f",
    b"\xe2\x82\xac",  # euro sign
    b"\xf0\x9f\x98\x80",  # emoji
    "é".encode(),
    b"A",
    b"\x00",
]

pieces = st.one_of(
    st.sampled_from(NASTY),
    st.text(max_size=3).map(str.encode),
    st.binary(max_size=4),
)
mixed = st.lists(pieces, max_size=12).map(b"".join)


def decode_in_pieces(data: bytes, cuts: list[int]) -> str:
    """Feed `data` cut at `cuts`, then flush."""
    decoder = Utf8Decoder()
    out = []
    start = 0
    for cut in [*sorted(cuts), len(data)]:
        out.append(decoder.feed(data[start:cut]))
        start = cut
    return "".join(out) + decoder.flush()


def reference(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def cut_points(data: bytes) -> st.SearchStrategy[list[int]]:
    return st.lists(st.integers(0, len(data)), max_size=8)


# --------------------------------------------------------------- against Python


@given(st.data())
def test_random_bytes_any_split_match_python(data: st.DataObject) -> None:
    raw = data.draw(st.binary(max_size=64))
    assert decode_in_pieces(raw, data.draw(cut_points(raw))) == reference(raw)


@given(st.data())
def test_valid_text_any_split_round_trips(data: st.DataObject) -> None:
    text = data.draw(st.text(max_size=40))
    raw = text.encode("utf-8")
    assert decode_in_pieces(raw, data.draw(cut_points(raw))) == text


@given(st.data())
def test_mixtures_of_valid_and_invalid_match_python(data: st.DataObject) -> None:
    raw = data.draw(mixed)
    assert decode_in_pieces(raw, data.draw(cut_points(raw))) == reference(raw)


@pytest.mark.parametrize("raw", NASTY)
def test_each_nasty_sequence_alone_and_in_context(raw: bytes) -> None:
    for data in (raw, b"x" + raw + b"y", raw + raw, raw + b"\xe2\x82\xac"):
        for cut in range(len(data) + 1):
            assert decode_in_pieces(data, [cut]) == reference(data), (data, cut)


def test_all_two_byte_strings_match_python() -> None:
    for a, b in itertools.product(range(256), repeat=2):
        raw = bytes((a, b))
        assert decode_in_pieces(raw, []) == reference(raw), raw
        assert decode_in_pieces(raw, [1]) == reference(raw), raw


# Bytes at the edges of every range in the table of well-formed sequences.
EDGES = [0x00, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC2, 0xE0, 0xF0, 0xFF]


def test_three_and_four_byte_edges_match_python() -> None:
    for lead in range(0xC0, 0x100):
        for rest in itertools.product(EDGES, repeat=2):
            raw = bytes((lead, *rest))
            assert decode_in_pieces(raw, [1, 2]) == reference(raw), raw
    for lead in range(0xF0, 0xF6):
        for rest in itertools.product(EDGES, repeat=3):
            raw = bytes((lead, *rest))
            assert decode_in_pieces(raw, []) == reference(raw), raw
            assert decode_in_pieces(raw, [2]) == reference(raw), raw


def test_replacement_counts_of_python_hand_cases() -> None:
    cases = {
        b"\xe2\x82A": "\ufffdA",
        b"\xc0\xaf": "\ufffd\ufffd",
        b"\xe0\x80\xaf": "\ufffd\ufffd\ufffd",
        b"\xed\xa0\x80": "\ufffd\ufffd\ufffd",
        b"\xf4\x90\x80\x80": "\ufffd" * 4,
        b"\xf0\x9f\x98": "\ufffd",
        b"\xf0\x9f\x98A": "\ufffdA",
        b"\xff\xfe": "\ufffd\ufffd",
    }
    for raw, expected in cases.items():
        assert reference(raw) == expected  # the premise: this is what Python does
        assert decode_in_pieces(raw, list(range(len(raw)))) == expected


# ---------------------------------------------------- streaming: never half a char


@given(mixed)
def test_byte_at_a_time_returns_each_character_once_complete(raw: bytes) -> None:
    decoder = Utf8Decoder()
    out = ""
    for i in range(len(raw)):
        piece = decoder.feed(raw[i : i + 1])
        out += piece
        # What is out so far is exactly Python's decoding of the bytes so far, but for
        # an unfinished character, which Python would end with one U+FFFD.
        tail = "\ufffd" if decoder.pending else ""
        assert out + tail == reference(raw[: i + 1])
    assert out + decoder.flush() == reference(raw)
    assert decoder.pending == 0


def test_a_four_byte_character_comes_out_with_its_last_byte() -> None:
    decoder = Utf8Decoder()
    emoji = "😀".encode()
    assert [decoder.feed(emoji[i : i + 1]) for i in range(4)] == ["", "", "", "😀"]
    assert decoder.flush() == ""


def test_flush_ends_an_unfinished_character_and_resets() -> None:
    decoder = Utf8Decoder()
    assert decoder.feed(b"ab\xe2\x82") == "ab"
    assert decoder.pending == 1
    assert decoder.flush() == "\ufffd"
    assert decoder.pending == 0
    assert decoder.next_byte_range is None
    assert decoder.feed(b"\xac") == "\ufffd"  # a lone continuation now
    assert decoder.feed("€".encode()) == "€"
    assert decoder.flush() == ""


# ------------------------------------------------------------------ the state


@pytest.mark.parametrize(
    ("prefix", "pending", "byte_range"),
    [
        (b"", 0, None),
        (b"A", 0, None),
        (b"\xc2", 1, (0x80, 0xBF)),
        (b"\xe2", 2, (0x80, 0xBF)),
        (b"\xe2\x82", 1, (0x80, 0xBF)),
        (b"\xe2\x82\xac", 0, None),
        (b"\xe0", 2, (0xA0, 0xBF)),
        (b"\xe0\xa0", 1, (0x80, 0xBF)),
        (b"\xed", 2, (0x80, 0x9F)),
        (b"\xee", 2, (0x80, 0xBF)),
        (b"\xf0", 3, (0x90, 0xBF)),
        (b"\xf0\x90", 2, (0x80, 0xBF)),
        (b"\xf1", 3, (0x80, 0xBF)),
        (b"\xf4", 3, (0x80, 0x8F)),
        (b"\xf4\x8f\xbf", 1, (0x80, 0xBF)),
        (b"\xf5", 0, None),
        (b"\xc0", 0, None),
        (b"\x80", 0, None),
        (b"\xe2\x41", 0, None),
        (b"\xe2\xe2", 2, (0x80, 0xBF)),  # the second E2 starts afresh
    ],
)
def test_pending_and_next_byte_range(
    prefix: bytes, pending: int, byte_range: tuple[int, int] | None
) -> None:
    decoder = Utf8Decoder()
    decoder.feed(prefix)
    assert decoder.pending == pending
    assert decoder.next_byte_range == byte_range


@given(mixed)
def test_next_byte_range_is_exactly_the_accepted_next_bytes(raw: bytes) -> None:
    decoder = Utf8Decoder()
    decoder.feed(raw)
    accepted = [b for b in range(256) if decoder.accepts(bytes([b]))]
    byte_range = decoder.next_byte_range
    if byte_range is None:
        # At a boundary: exactly the bytes that can start a character.
        assert accepted == [*range(0x80), *range(0xC2, 0xF5)]
    else:
        assert accepted == list(range(byte_range[0], byte_range[1] + 1))


def test_state_takes_eight_values() -> None:
    states = set()
    for a, b in itertools.product(range(256), repeat=2):
        decoder = Utf8Decoder()
        decoder.feed(bytes((a, b)))
        states.add(decoder.state)
    assert len(states) == 8  # a boundary, 1 + 3 + 3 mid-character ranges


def strict_ok(data: bytes) -> tuple[bool, bool]:
    """(valid with an incomplete tail allowed, valid and complete) by Python's decoder."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as err:
        return err.reason == "unexpected end of data", False
    return True, True


@given(st.text(max_size=10), st.integers(0, 40), mixed)
def test_accepts_after_a_valid_prefix_matches_strict_decoding(
    text: str, cut: int, data: bytes
) -> None:
    prefix = text.encode("utf-8")[:cut]  # valid so far, maybe mid-character
    decoder = Utf8Decoder()
    decoder.feed(prefix)
    before = decoder.state
    ok, complete = strict_ok(prefix + data)
    assert decoder.accepts(data) == ok
    assert decoder.accepts_complete(data) == complete
    assert decoder.state == before  # asking changes nothing


def python_accepts(prefix: bytes, data: bytes) -> tuple[bool, bool]:
    """Whether `data` after any `prefix` adds an error, by Python's incremental decoder.

    With surrogateescape each invalid byte comes out as a lone surrogate, which valid
    UTF-8 never decodes to; an incomplete tail is held back, not an error.
    """
    reference_decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")
    reference_decoder.decode(prefix)
    out = reference_decoder.decode(data)
    ok = not any(0xDC80 <= ord(c) <= 0xDCFF for c in out)
    return ok, ok and reference_decoder.getstate()[0] == b""


@given(mixed, mixed)
def test_accepts_after_any_prefix_matches_python(prefix: bytes, data: bytes) -> None:
    decoder = Utf8Decoder()
    decoder.feed(prefix)
    ok, complete = python_accepts(prefix, data)
    assert decoder.accepts(data) == ok
    assert decoder.accepts_complete(data) == complete


def test_accepts_hand_cases() -> None:
    decoder = Utf8Decoder()
    assert decoder.accepts(b"") and decoder.accepts_complete(b"")
    assert decoder.accepts(b"\xf0\x9f") and not decoder.accepts_complete(b"\xf0\x9f")
    assert not decoder.accepts(b"\x80")
    assert not decoder.accepts(b"\xe0\x80")
    decoder.feed(b"\xf0\x9f")
    assert decoder.accepts(b"\x98") and not decoder.accepts_complete(b"\x98")
    assert decoder.accepts_complete(b"\x98\x80")
    assert decoder.accepts_complete(b"\x98\x80abc")
    assert not decoder.accepts(b"A")
    assert decoder.accepts(b"")  # still valid, mid-character
    assert not decoder.accepts_complete(b"")
    assert decoder.feed(b"\x98\x80") == "😀"


# ----------------------------------------------------------- token text stream


class ByteTokens:
    """A toy tokenizer: token i stands for `vocab[i]`."""

    def __init__(self, vocab: list[bytes]) -> None:
        self.vocab = vocab

    def token_bytes(self, token_id: int) -> bytes:
        return self.vocab[token_id]


def test_token_text_stream_yields_characters_when_complete() -> None:
    euro, emoji = "€".encode(), "😀".encode()
    tokens = ByteTokens([b"a", euro[:1], euro[1:], emoji[:3], emoji[3:] + b"b", b"", b"\xff"])
    stream = TokenTextStream(tokens)
    pieces = [stream.push(i) for i in [0, 1, 2, 3, 5, 4, 6]]
    assert pieces == ["a", "", "€", "", "", "😀b", "\ufffd"]
    assert stream.close() == ""
    assert stream.push(1) == ""
    assert stream.decoder.pending == 2
    assert stream.close() == "\ufffd"


@given(st.lists(st.binary(max_size=5), min_size=1, max_size=8), st.data())
def test_token_text_stream_equals_one_shot_decoding(
    vocab: list[bytes], data: st.DataObject
) -> None:
    ids = data.draw(st.lists(st.integers(0, len(vocab) - 1), max_size=20))
    stream = TokenTextStream(ByteTokens(vocab))
    text = "".join(stream.push(i) for i in ids) + stream.close()
    assert text == reference(b"".join(vocab[i] for i in ids))


@settings(max_examples=50)
@given(st.text(max_size=30))
def test_whole_valid_text_in_one_feed(text: str) -> None:
    decoder = Utf8Decoder()
    assert decoder.feed(text.encode()) == text
    assert decoder.pending == 0
