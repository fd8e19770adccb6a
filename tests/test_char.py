"""The character tokenizer: training, exact ids, round trips, unknowns, specials, files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nanoforge.errors import DataError
from nanoforge.tokenizers.base import EOT, FILE_NAME
from nanoforge.tokenizers.char import UNK, CharTokenizer
from nanoforge.tokenizers.load import load_tokenizer
from nanoforge.tokenizers.utf8 import TokenTextStream

SPECIALS = [EOT]

HARD_TEXTS = [
    "",
    "👩\u200d👩\u200d👧\u200d👦 family, 🏳️\u200d🌈 flag, 🇺🇳 regional indicators, 👍🏽 skin tone",
    "漢字とかな、한국어, 中文标点。",
    "e\u0301 a\u0308 combining marks; Z\u0351\u0334\u0310a\u0337lgo",
    "שלום עולם, مرحبا بالعالم, \u202eright-to-left override\u202c",
    "control \x00\x01\x1b[31m\x7f\x85 chars\r\n",
    "   \t\t\n\n\n   whitespace runs \u00a0\u2028\u2029\u3000",
    "\ufeffBOM, \ufffd replacement, \U0010ffff last, \U0001d54f math",
    "<|endoftext|> as plain text <|endoftext",
]


def train(texts: list[str], vocab_size: int = 10_000, unknown: str = "unk") -> CharTokenizer:
    return CharTokenizer.train(texts, vocab_size, SPECIALS, unknown)  # type: ignore[arg-type]


# ------------------------------------------------------------------- training


def test_small_example_exact_ids() -> None:
    tok = train(["hello world", "held"])
    assert tok.chars == (" ", "d", "e", "h", "l", "o", "r", "w")
    assert tok.specials == {EOT: 8, UNK: 9}
    assert tok.vocab_size == 10
    assert tok.unk_id == 9
    assert tok.eot_id == 8
    assert tok.encode("hello") == [3, 2, 4, 4, 5]
    assert tok.encode("old world") == [5, 4, 1, 0, 7, 5, 6, 4, 1]
    assert tok.decode([3, 2, 4, 4, 5, 8, 7]) == "hellow"
    assert tok.to_dict() == {
        "chars": [" ", "d", "e", "h", "l", "o", "r", "w"],
        "specials": [EOT, UNK],
        "unknown": "unk",
    }


def test_vocabulary_is_sorted_by_code_point_not_frequency() -> None:
    tok = train(["zzzzzyyyyx€€€€€€€"])
    assert tok.chars == ("x", "y", "z", "€")
    assert tok.encode("€zyx") == [3, 2, 1, 0]


def test_unknown_error_adds_no_unk_token() -> None:
    tok = train(["ba"], unknown="error")
    assert tok.chars == ("a", "b")
    assert tok.specials == {EOT: 2}
    assert tok.unk_id is None
    assert tok.vocab_size == 3


def test_the_cap_keeps_the_most_frequent_ties_by_code_point() -> None:
    corpus = ["aaaa", "bbb", "cc", "dd", "e"]  # a 4, b 3, c 2, d 2, e 1
    # 2 specials (eot, unk) + 3 characters.
    assert train(corpus, vocab_size=5).chars == ("a", "b", "c")
    assert train(corpus, vocab_size=6).chars == ("a", "b", "c", "d")
    assert train(corpus, vocab_size=6).vocab_size == 6
    # unknown: error has one special less, so one character more.
    assert train(corpus, vocab_size=5, unknown="error").chars == ("a", "b", "c", "d")
    # Ties go to the lower code point, whatever the order they were seen in.
    assert train(["ba"], vocab_size=3).chars == ("a",)
    assert train(["dcdcb"], vocab_size=3).chars == ("c",)
    # A cap above the characters seen is not filled.
    assert train(corpus, vocab_size=100).vocab_size == 5 + 2


def test_training_streams_any_iterable() -> None:
    texts = (t for t in ["ab", "bc"])
    assert CharTokenizer.train(texts, 100, SPECIALS, "unk").chars == ("a", "b", "c")


@pytest.mark.parametrize("corpus", [[], [""], ["", "", ""]])
def test_empty_corpus_is_one_clear_error(corpus: list[str]) -> None:
    with pytest.raises(DataError, match="no characters") as info:
        train(corpus)
    assert "\n" not in str(info.value)


def test_unk_among_the_configured_specials() -> None:
    tok = CharTokenizer.train(["ab"], 100, [EOT, UNK], "unk")
    assert tok.specials == {EOT: 2, UNK: 3}  # not added twice
    with pytest.raises(DataError, match="reserved"):
        CharTokenizer.train(["ab"], 100, [EOT, UNK], "error")


def test_vocab_size_too_small_for_the_specials() -> None:
    with pytest.raises(ValueError, match="no id for characters"):
        train(["ab"], vocab_size=2)


def test_lone_surrogates_never_enter_the_vocabulary() -> None:
    tok = train(["a\ud800b"])
    assert tok.chars == ("a", "b")
    assert tok.encode("\ud800") == [tok.unk_id]
    with pytest.raises(DataError, match="no characters"):
        train(["\udc80"])


# ---------------------------------------------------------------- round trips


@given(st.text())
def test_round_trip_of_arbitrary_text(text: str) -> None:
    tok = train([text, "x"])
    ids = tok.encode(text)
    assert len(ids) == len(text)
    assert all(0 <= i < len(tok.chars) for i in ids)
    assert tok.decode(ids) == text
    assert tok.decode_bytes(ids) == text.encode("utf-8")
    assert b"".join(tok.token_bytes(i) for i in ids) == text.encode("utf-8")


@pytest.mark.parametrize("text", HARD_TEXTS)
def test_round_trip_of_hard_text(text: str) -> None:
    tok = train(HARD_TEXTS)
    ids = tok.encode(text)
    assert len(ids) == len(text)
    assert tok.decode(ids) == text
    assert tok.decode(ids, errors="strict") == text
    assert tok.decode_bytes(ids) == text.encode("utf-8")


def test_encode_iter_and_decode_of_any_iterable() -> None:
    tok = train(["abc"])
    assert list(tok.encode_iter(["ab", "", "c"])) == [[0, 1], [], [2]]
    assert tok.decode(iter([0, 1, 2])) == "abc"
    assert tok.decode((2, 1)) == "cb"


# ------------------------------------------------------------------- unknowns


def test_unseen_character_becomes_unk() -> None:
    tok = train(["abc"])
    assert tok.encode("abé!c") == [0, 1, tok.unk_id, tok.unk_id, 2]
    # <unk> stands for U+FFFD's bytes, so decoded text shows where it was.
    assert tok.token_bytes(tok.unk_id) == "\ufffd".encode()
    assert tok.decode(tok.encode("abé!c")) == "ab\ufffd\ufffdc"


def test_unseen_character_is_an_error_naming_it_and_its_position() -> None:
    tok = train(["abc"], unknown="error")
    with pytest.raises(DataError) as info:
        tok.encode("abcaé!")
    message = str(info.value)
    assert "'é'" in message and "U+00E9" in message and "position 4" in message
    assert "\n" not in message
    with pytest.raises(DataError, match=r"U\+1F600.*position 0"):
        tok.encode("😀")
    # The position is in the whole text, also between special tokens.
    with pytest.raises(DataError, match="position 15"):
        tok.encode(f"ab{EOT}é", specials="allow")


# ------------------------------------------------------------- special tokens


def test_special_policies() -> None:
    tok = train([EOT + " ab c"])  # every character of the special text is known too
    text = f"a{EOT}b"
    plain = tok.encode(text, specials="ordinary")
    assert len(plain) == len(text)
    assert tok.eot_id not in plain
    assert tok.decode(plain) == text
    assert tok.encode(text) == plain  # ordinary is the default

    allowed = tok.encode(text, specials="allow")
    assert allowed == [*tok.encode("a"), tok.eot_id, *tok.encode("b")]
    assert tok.decode(allowed) == "ab"  # special tokens decode to nothing
    assert tok.encode(f"{EOT}{EOT}", specials="allow") == [tok.eot_id, tok.eot_id]
    assert tok.encode(EOT[:-1], specials="allow") == tok.encode(EOT[:-1])

    with pytest.raises(DataError, match=r"'<\|endoftext\|>' at position 1"):
        tok.encode(text, specials="raise")
    assert tok.encode("abc", specials="raise") == tok.encode("abc")


def test_unk_text_is_a_special_token_too() -> None:
    tok = train(["<unk> x"])
    assert tok.encode(UNK, specials="allow") == [tok.unk_id]
    assert len(tok.encode(UNK)) == len(UNK)
    with pytest.raises(DataError, match="position 0"):
        tok.encode(UNK, specials="raise")


def test_the_longest_special_wins() -> None:
    tok = CharTokenizer.train(["<ab>"], 100, ["<a", "<ab>", EOT], "error")
    assert tok.encode("<ab><a", specials="allow") == [tok.specials["<ab>"], tok.specials["<a"]]


def test_special_token_bytes_are_empty() -> None:
    tok = train(["a"])
    assert tok.token_bytes(tok.eot_id) == b""
    assert tok.decode_bytes([0, tok.eot_id, 0]) == b"aa"


def test_ids_out_of_range_are_clear_errors() -> None:
    tok = train(["ab"])
    for bad in (tok.vocab_size, -1, 10**9):
        with pytest.raises(DataError, match=f"token id {bad} is out of range"):
            tok.token_bytes(bad)
        with pytest.raises(DataError, match=f"token id {bad} is out of range"):
            tok.decode([0, bad])


# ---------------------------------------------------------------------- files


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    tok = train(HARD_TEXTS)
    path = tok.save(tmp_path)
    assert path == tmp_path / FILE_NAME
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["kind"] == "char"
    assert "👩" in path.read_text(encoding="utf-8")  # readable, not \u-escaped
    for where in (tmp_path, path):
        loaded = load_tokenizer(where)
        assert isinstance(loaded, CharTokenizer)
        assert loaded.hash == tok.hash
        assert loaded.to_dict() == tok.to_dict()
        assert loaded.specials == tok.specials
        for text in HARD_TEXTS:
            assert loaded.encode(text) == tok.encode(text)


def test_from_dict_round_trip(tmp_path: Path) -> None:
    for unknown in ("unk", "error"):
        tok = train(["hello"], unknown=unknown)
        again = CharTokenizer.from_dict(tok.to_dict(), tmp_path / FILE_NAME)
        assert again.to_dict() == tok.to_dict()
        assert again.hash == tok.hash


def test_hash_depends_on_vocabulary_and_policy() -> None:
    base = train(["abc"])
    assert train(["cab"]).hash == base.hash  # same vocabulary, same hash
    assert train(["abd"]).hash != base.hash
    assert train(["abc"], unknown="error").hash != base.hash
    assert CharTokenizer.train(["abc"], 100, [EOT, "<pad>"], "unk").hash != base.hash


GOOD = {"chars": ["a", "b"], "specials": [EOT, UNK], "unknown": "unk"}


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"chars": None}, "no field 'chars'"),
        ({"surprise": 1}, "unknown field 'surprise'"),
        ({"chars": "ab"}, "'chars' must be a list of strings"),
        ({"chars": ["a", 1]}, "'chars' must be a list of strings"),
        ({"chars": []}, "'chars' is empty"),
        ({"chars": ["a", "bc"]}, "item 1 is 'bc', not a single character"),
        ({"chars": ["a", ""]}, "not a single character"),
        ({"chars": ["b", "a"]}, "not sorted"),
        ({"chars": ["a", "a"]}, "without repeats"),
        ({"chars": ["a", "\ud800"]}, "surrogate"),
        ({"specials": {EOT: 2}}, "'specials' must be a list of strings"),
        ({"specials": [EOT, UNK, ""]}, "item 2 is empty"),
        ({"specials": [EOT, UNK, EOT]}, "repeats"),
        ({"specials": [EOT]}, f"{UNK} is not among the specials"),
        ({"unknown": "error"}, f"{UNK} is among the specials"),
        ({"unknown": "skip"}, "expected 'unk' or 'error'"),
        ({"unknown": None}, "no field 'unknown'"),
        ({"unknown": 3}, "'unknown' must be"),
    ],
)
def test_corrupt_fields_name_the_file_and_problem(
    tmp_path: Path, change: dict, problem: str
) -> None:
    data = {**GOOD, **change}
    data = {k: v for k, v in data.items() if v is not None}
    path = tmp_path / FILE_NAME
    with pytest.raises(DataError) as info:
        CharTokenizer.from_dict(data, path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert problem in message
    assert "\n" not in message


def test_corrupt_file_through_load_tokenizer(tmp_path: Path) -> None:
    path = train(["abc"]).save(tmp_path)
    document = json.loads(path.read_text(encoding="utf-8"))
    document["chars"] = ["c", "b", "a"]
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(DataError, match=f"{path}: .*not sorted"):
        load_tokenizer(tmp_path)


def test_constructor_checks_its_arguments() -> None:
    with pytest.raises(ValueError, match="not sorted"):
        CharTokenizer(["b", "a"], [EOT], "error")
    assert CharTokenizer(["a", "b"], [EOT], "error").encode("ba") == [1, 0]


# ----------------------------------------------------------- streamed decoding


def test_token_text_stream_yields_each_character_once_complete() -> None:
    tok = train(HARD_TEXTS)
    for text in HARD_TEXTS:
        stream = TokenTextStream(tok)
        # Every char token is a whole character: it comes out with its own token.
        assert [stream.push(i) for i in tok.encode(text)] == list(text)
        assert stream.close() == ""
    stream = TokenTextStream(tok)
    assert stream.push(tok.eot_id) == ""
    assert stream.push(tok.unk_id) == "\ufffd"
    assert stream.close() == ""
