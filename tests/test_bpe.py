"""Byte-level BPE: the textbook algorithm, made fast, with the same answers.

The fast trainer is checked against a slow reference written here the obvious way
(recount every pair before each merge), on real and random text, for every pre-split
pattern; the encoder against the reference's own segmentation of the text it trained on.
"""

from __future__ import annotations

import json
import logging
import random
import re
from collections import Counter
from collections.abc import Iterable
from itertools import pairwise
from pathlib import Path
from pydoc_data.topics import topics

import numpy as np
import pytest
import regex
from hypothesis import given, settings
from hypothesis import strategies as st

from nanoforge.errors import DataError
from nanoforge.tokenizers import bpe
from nanoforge.tokenizers.base import EOT, FILE_NAME
from nanoforge.tokenizers.bpe import BpeTokenizer
from nanoforge.tokenizers.load import load_tokenizer
from nanoforge.tokenizers.patterns import ASCII_TWINS, PATTERNS

SHAKESPEARE_FILE = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "tinyshakespeare" / "input.txt"
)
PATTERN_NAMES = ("gpt4", "gpt2", "none")


@pytest.fixture(scope="module")
def shakespeare() -> str:
    if not SHAKESPEARE_FILE.is_file():
        pytest.skip(f"{SHAKESPEARE_FILE} not found: clone the project beside its shared/ folder")
    return SHAKESPEARE_FILE.read_text(encoding="utf-8")


def python_docs(chars: int) -> str:
    """The first `chars` characters of the pydoc topics, in a fixed order."""
    return "\n\n".join(topics[name] for name in sorted(topics))[:chars]


# ---------------------------------------------------------------- the reference


def merge_word(word: tuple[int, ...], pair: tuple[int, int], new: int) -> tuple[int, ...]:
    """Replace each occurrence of `pair`, left to right, by `new`."""
    out: list[int] = []
    i = 0
    while i < len(word):
        if word[i : i + 2] == pair:
            out.append(new)
            i += 2
        else:
            out.append(word[i])
            i += 1
    return tuple(out)


def chunks_of(text: str, pattern: str) -> list[str]:
    if not pattern:
        return [text] if text else []
    return regex.findall(pattern, text)


def reference_train(
    texts: Iterable[str], n_merges: int, pattern: str
) -> tuple[list[tuple[int, int]], dict[str, tuple[int, ...]]]:
    """Textbook BPE: before each merge, count every pair of every chunk again.

    Each distinct chunk is kept once with its frequency (the counts are the same as
    when every occurrence is kept, and it runs in seconds here). The best pair has the
    highest count, then the smallest (left, right). Returns the merges and each chunk's
    final tokens: the trainer's own segmentation of its corpus.
    """
    freq: Counter[str] = Counter()
    for text in texts:
        freq.update(chunks_of(text, pattern))
    chunks = list(freq)
    words = [tuple(chunk.encode("utf-8")) for chunk in chunks]
    merges: list[tuple[int, int]] = []
    for new in range(256, 256 + n_merges):
        counts: Counter[tuple[int, int]] = Counter()
        for chunk, word in zip(chunks, words, strict=True):
            for pair in pairwise(word):
                counts[pair] += freq[chunk]
        if not counts:
            break
        best = max(counts, key=lambda pair: (counts[pair], -pair[0], -pair[1]))
        merges.append(best)
        words = [merge_word(word, best, new) for word in words]
    return merges, dict(zip(chunks, words, strict=True))


def replay(merges: list[tuple[int, int]], text: str, pattern: str) -> list[int]:
    """Ids of `text`: every merge, in training order, applied to each chunk."""
    ids: list[int] = []
    for chunk in chunks_of(text, pattern):
        word = tuple(chunk.encode("utf-8"))
        for i, pair in enumerate(merges):
            word = merge_word(word, pair, 256 + i)
        ids += word
    return ids


def assert_same_as_reference(texts: list[str], n_merges: int, pattern: str) -> None:
    merges, segmentation = reference_train(texts, n_merges, pattern)
    tok = BpeTokenizer.train(texts, 256 + n_merges, pattern, [])
    assert list(tok.merges) == merges
    for text in texts:
        expected = [i for chunk in chunks_of(text, pattern) for i in segmentation[chunk]]
        assert tok.encode(text) == expected


# ---------------------------------------------------------------- training


def test_the_worked_example_aaabdaaabac() -> None:
    # Pairs of a a a b d a a a b a c: (a,a) 4 times, (a,b) 2, the rest once: "aa" first.
    # Then 256 a b d 256 a b a c: (256,a) and (a,b) both 2 times; the tie goes to the
    # smallest (left, right), so (97, 98) "ab" beats (256, 97) "aaa" (a rule that kept
    # the first pair seen would pick "aaa" instead). Then 256 257 d 256 257 a c: (256, 257)
    # twice makes "aaab". The text ends up as aaab d aaab a c either way.
    tok = BpeTokenizer.train(["aaabdaaabac"], 256 + 3, "", [])
    assert tok.merges == ((97, 97), (97, 98), (256, 257))
    assert [tok.token_bytes(i) for i in (256, 257, 258)] == [b"aa", b"ab", b"aaab"]
    assert tok.encode("aaabdaaabac") == [258, 100, 258, 97, 99]
    assert tok.vocab_size == 259
    assert tok.specials == {}


def test_vocab_size_counts_the_bytes_the_merges_and_the_specials() -> None:
    tok = BpeTokenizer.train(["abcabcabd abd"], 256 + 2 + 1, "", [EOT])
    assert len(tok.merges) == 2
    assert tok.vocab_size == 259
    assert tok.specials == {EOT: 258}
    assert tok.eot_id == 258
    assert tok.token_bytes(258) == b""


@pytest.mark.parametrize("name", PATTERN_NAMES)
def test_real_text_merges_are_the_reference_merges(name: str, shakespeare: str) -> None:
    # Plain bytes (no pre-split) makes one long chunk per text: less text, same check.
    size, n_merges = (12_000, 80) if name == "none" else (50_000, 150)
    texts = [doc for doc in shakespeare[:size].split("\n\n") if doc]
    assert_same_as_reference(texts, n_merges, PATTERNS[name])


@pytest.mark.parametrize("name", PATTERN_NAMES)
def test_python_docs_merges_are_the_reference_merges(name: str) -> None:
    size, n_merges = (12_000, 80) if name == "none" else (40_000, 150)
    assert_same_as_reference([python_docs(size)], n_merges, PATTERNS[name])


@pytest.mark.slow
@pytest.mark.parametrize("name", PATTERN_NAMES)
def test_more_real_text_and_more_merges_are_the_reference_merges(
    name: str, shakespeare: str
) -> None:
    size, n_merges = (40_000, 300) if name == "none" else (300_000, 700)
    texts = [doc for doc in shakespeare[-size:].split("\n\n") if doc]
    assert_same_as_reference([*texts, python_docs(size // 2)], n_merges, PATTERNS[name])


def test_first_merges_of_shakespeare_are_the_frequent_english_pairs(shakespeare: str) -> None:
    tok = BpeTokenizer.train([shakespeare[:50_000]], 256 + 9 + 1, PATTERNS["gpt4"], [EOT])
    readable = [merge[2] for merge in tok.to_dict()["merges"]]
    assert readable == [" t", "he", "ou", " a", " the", " w", " s", "re", "in"]
    assert tok.merges[4] == (256, 257)  # " t" + "he"
    plain = BpeTokenizer.train([shakespeare[:50_000]], 256 + 3, "", [])
    assert [merge[2] for merge in plain.to_dict()["merges"]] == ["e ", "th", "s "]


# A small alphabet makes pairs repeat and counts tie often, which is what the tie rule
# and the incremental counts must get right; a few multi-byte characters split their
# bytes across merges.
small_texts = st.lists(st.text(alphabet="aab ba\nxé中😀", max_size=60), min_size=1, max_size=6)


@pytest.mark.parametrize("name", PATTERN_NAMES)
@settings(max_examples=40, deadline=None)
@given(texts=small_texts, n_merges=st.integers(0, 40))
def test_random_text_merges_are_the_reference_merges(
    name: str, texts: list[str], n_merges: int
) -> None:
    pattern = PATTERNS[name]
    if not any(len(chunk.encode()) > 1 for t in texts for chunk in chunks_of(t, pattern)):
        return  # nothing to learn: the empty-corpus error has its own test
    assert_same_as_reference(texts, n_merges, pattern)


def test_seeded_random_unicode_documents_match_the_reference() -> None:
    rng = random.Random(1234)
    words = ["the", "cat", "naïve", "straße", "東京", "🙂", "x1", "42", "'s", "--", "  "]
    texts = [
        " ".join(rng.choice(words) for _ in range(rng.randrange(1, 40))) + rng.choice(".\n")
        for _ in range(60)
    ]
    for name in PATTERN_NAMES:
        assert_same_as_reference(texts, 60, PATTERNS[name])


def test_document_order_does_not_change_the_merges(shakespeare: str) -> None:
    docs = [doc for doc in shakespeare[:60_000].split("\n\n") if doc]
    shuffled = docs[:]
    random.Random(7).shuffle(shuffled)
    first = BpeTokenizer.train(docs, 600, PATTERNS["gpt4"], [EOT])
    second = BpeTokenizer.train(reversed(shuffled), 600, PATTERNS["gpt4"], [EOT])
    assert first.merges == second.merges
    assert first.hash == second.hash


def test_training_streams_its_texts_once() -> None:
    def once() -> Iterable[str]:
        yield "hello hello"
        yield "yellow hello"

    # Chunks: "hello", " hello" twice, "yellow". el, ll and lo are 4 each: "el" (101, 108)
    # is the smallest. Then (108, 111) "lo" and (256, 108) "el"+"l" tie at 4: "lo" wins.
    # Then "el"+"lo" (4), then "h"+"ello" (3, beating " "+"h" at 2).
    tok = BpeTokenizer.train(once(), 260, PATTERNS["gpt4"], [])
    assert [tok.token_bytes(256 + i) for i in range(4)] == [b"el", b"lo", b"ello", b"hello"]


def test_too_small_a_corpus_gives_fewer_merges_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        tok = BpeTokenizer.train(["abab"], 300, "", [EOT])
    # (a,b) twice, then 256 256 once; then no pair is left.
    assert tok.merges == ((97, 98), (256, 256))
    assert tok.vocab_size == 256 + 2 + 1
    assert tok.eot_id == 258
    assert "ran out of pairs after 2 of 43 merges" in caplog.text


def test_no_merges_at_all_is_a_byte_tokenizer() -> None:
    tok = BpeTokenizer.train(["hello"], 257, PATTERNS["gpt4"], [EOT])
    assert tok.merges == ()
    assert tok.encode("hé") == [104, 0xC3, 0xA9]


@pytest.mark.parametrize("texts", [[], [""], ["", ""], ["a"], ["a b\n"]])
def test_an_empty_corpus_is_refused(texts: list[str]) -> None:
    # ["a b\n"] under gpt4 is "a", " b", "\n": " b" has a pair, so it is not empty.
    if texts == ["a b\n"]:
        assert BpeTokenizer.train(texts, 257, PATTERNS["gpt4"], []).merges == ((32, 98),)
        return
    with pytest.raises(DataError, match="the training corpus is empty") as err:
        BpeTokenizer.train(texts, 300, PATTERNS["gpt4"], [EOT])
    assert "\n" not in str(err.value)


def test_a_vocabulary_smaller_than_bytes_and_specials_is_refused() -> None:
    with pytest.raises(ValueError, match=r"vocab_size must be at least 257 .*got 256"):
        BpeTokenizer.train(["hello"], 256, PATTERNS["gpt4"], [EOT])
    with pytest.raises(ValueError, match="not a valid regex"):
        BpeTokenizer.train(["hello"], 300, "(", [EOT])


# ---------------------------------------------------------------- encoding


@pytest.fixture(scope="module")
def trained(shakespeare: str) -> dict[str, BpeTokenizer]:
    """A tokenizer per pattern, trained on real text (some non-ASCII added)."""
    text = shakespeare[:100_000] + "\nnaïve café, 東京 🙂 — «quoted»\n"
    return {
        name: BpeTokenizer.train([text], 256 + 400 + 1, PATTERNS[name], [EOT])
        for name in PATTERN_NAMES
    }


HARD_TEXTS = [
    "",
    " ",
    "a",
    "\r\n",
    "line one\r\nline two\r\n\r\n",
    "   leading and trailing   ",
    "\t\t\n\n\n   \x0b\x0c  tabs, form feeds",
    "a" * 5_000,
    " " * 3_000 + "x",
    "ab" * 1_000,
    "👩‍👩‍👧‍👦 family, 👍🏽 thumbs, 🏳️‍🌈 flag",
    "中文测试：你好，世界。日本語のテキスト、한국어",
    "e\u0301 a\u0308 combining, \u0915\u094d\u0937 Devanagari",
    "العربية من اليمين إلى اليسار עברית",
    "\x00\x01\x1b[31m control \x7f\x85 characters\u2028\u2029",
    "don't I'LL we've THEY'RE",
    "12345678901234567890 3.14159 1e-10",
    "\ufeffBOM and \uffff and \U0010ffff",
    "mixed<|endoftext|>special",
]


@pytest.mark.parametrize("name", PATTERN_NAMES)
@pytest.mark.parametrize("text", HARD_TEXTS)
def test_hard_texts_round_trip(trained: dict[str, BpeTokenizer], name: str, text: str) -> None:
    tok = trained[name]
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    assert tok.decode(ids, errors="strict") == text
    assert tok.decode_bytes(ids) == text.encode("utf-8")
    assert all(0 <= i < tok.vocab_size - 1 for i in ids)  # never the special token


@pytest.mark.parametrize("name", PATTERN_NAMES)
@settings(max_examples=150, deadline=None)
@given(text=st.text())
def test_any_text_round_trips(trained: dict[str, BpeTokenizer], name: str, text: str) -> None:
    tok = trained[name]
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    assert tok.decode_bytes(ids) == text.encode("utf-8")


@pytest.mark.parametrize("name", PATTERN_NAMES)
@settings(max_examples=60, deadline=None)
@given(text=st.text(alphabet=st.sampled_from("the qu'ick\n ,brown fox é東🙂"), max_size=300))
def test_unseen_text_is_the_merges_replayed_in_order(
    trained: dict[str, BpeTokenizer], name: str, text: str
) -> None:
    # Long chunks (a whole text with no pre-split, long runs) take the heap path; short
    # ones the scan; both must equal the merges applied one after another.
    tok = trained[name]
    assert tok.encode(text) == replay(list(tok.merges), text, PATTERNS[name])


def test_a_text_encodes_the_same_on_a_cold_and_a_warm_cache(
    trained: dict[str, BpeTokenizer], shakespeare: str
) -> None:
    tok = trained["gpt4"]
    text = shakespeare[200_000:230_000]
    first = BpeTokenizer(tok.merges, tok.pattern, [EOT]).encode(text)
    assert tok.encode(text) == first
    assert tok.encode(text) == first


def test_the_chunk_cache_stays_bounded(
    trained: dict[str, BpeTokenizer], shakespeare: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bpe, "_CACHE_ENTRIES", 50)
    tok = trained["gpt4"]
    small = BpeTokenizer(tok.merges, tok.pattern, [EOT])
    text = shakespeare[300_000:320_000]
    assert small.encode(text) == tok.encode(text)
    assert len(small._cache) <= 50


def test_encode_iter_streams_one_list_per_text(trained: dict[str, BpeTokenizer]) -> None:
    tok = trained["gpt4"]
    texts = ["First Citizen:", "", "Speak, speak.", "a<|endoftext|>b"]
    stream = tok.encode_iter(iter(texts))
    assert next(stream) == tok.encode("First Citizen:")
    assert list(stream) == [tok.encode(t) for t in texts[1:]]
    assert list(tok.encode_iter(texts, specials="allow"))[3] == tok.encode(
        texts[3], specials="allow"
    )


@pytest.mark.parametrize("name", ["gpt4", "gpt2"])
@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=st.characters(max_codepoint=127)))
def test_the_ascii_fast_path_cuts_the_same_chunks(name: str, text: str) -> None:
    pattern = PATTERNS[name]
    assert re.findall(ASCII_TWINS[pattern], text) == regex.findall(pattern, text)


def test_the_ascii_fast_path_knows_the_built_in_patterns() -> None:
    assert set(ASCII_TWINS) == {PATTERNS["gpt4"], PATTERNS["gpt2"]}


def test_the_ascii_fast_path_cuts_real_text_the_same(shakespeare: str) -> None:
    text = shakespeare[:200_000] + python_docs(200_000).encode("ascii", "ignore").decode()
    for name in ("gpt4", "gpt2"):
        pattern = PATTERNS[name]
        assert re.findall(ASCII_TWINS[pattern], text) == regex.findall(pattern, text)


def test_a_lone_surrogate_is_refused_with_its_position(trained: dict[str, BpeTokenizer]) -> None:
    with pytest.raises(DataError, match=r"lone surrogate U\+D800 at position 4"):
        trained["gpt4"].encode("abc \ud800 def")
    with pytest.raises(DataError, match=r"lone surrogate U\+DFFF at position 15"):
        trained["gpt4"].encode("<|endoftext|>ab\udfff", specials="allow")
    with pytest.raises(DataError, match=r"a training text has a lone surrogate U\+D800"):
        BpeTokenizer.train(["fine", "not \ud800 fine"], 300, PATTERNS["gpt4"], [EOT])


# ------------------------------------------------------------ special tokens


def test_special_text_is_ordinary_text_by_default(trained: dict[str, BpeTokenizer]) -> None:
    tok = trained["gpt4"]
    text = "The end.<|endoftext|>A new story"
    ids = tok.encode(text)
    assert tok.eot_id not in ids
    assert ids == tok.encode(text, specials="ordinary")
    assert tok.decode(ids) == text


def test_allowed_special_text_becomes_the_special_id(trained: dict[str, BpeTokenizer]) -> None:
    tok = trained["gpt4"]
    ids = tok.encode("The end.<|endoftext|>A new story", specials="allow")
    assert ids == [*tok.encode("The end."), tok.eot_id, *tok.encode("A new story")]
    assert ids.count(tok.eot_id) == 1
    assert tok.decode(ids) == "The end.A new story"  # a special token stands for no bytes
    assert tok.encode("<|endoftext|><|endoftext|>", specials="allow") == [tok.eot_id] * 2


def test_refused_special_text_names_the_token_and_its_position(
    trained: dict[str, BpeTokenizer],
) -> None:
    tok = trained["gpt4"]
    with pytest.raises(DataError, match=r"special token '<\|endoftext\|>' at position 8"):
        tok.encode("The end.<|endoftext|>A new story", specials="raise")
    assert tok.encode("no special here", specials="raise") == tok.encode("no special here")


def test_the_longest_special_token_wins() -> None:
    tok = BpeTokenizer([], "", ["<|a|>", "<|a|><|b|>"])
    assert tok.specials == {"<|a|>": 256, "<|a|><|b|>": 257}
    assert tok.encode("x<|a|><|b|><|a|>", specials="allow") == [120, 257, 256]


def test_an_unknown_policy_is_an_error(trained: dict[str, BpeTokenizer]) -> None:
    with pytest.raises(ValueError, match="ordinary, allow or raise"):
        trained["gpt4"].encode("text", specials="sometimes")  # type: ignore[arg-type]


# ---------------------------------------------------------------- decoding


def test_a_lone_continuation_byte_decodes_lossy_or_strictly() -> None:
    tok = BpeTokenizer.train(["ééé éé"], 256 + 2, PATTERNS["gpt4"], [EOT])
    assert tok.token_bytes(256) == "é".encode()  # C3 A9
    assert tok.decode([0xA9]) == "\ufffd"
    assert tok.decode([104, 0xA9, 105]) == "h\ufffdi"
    assert tok.decode_bytes([0xA9]) == b"\xa9"
    with pytest.raises(UnicodeDecodeError):
        tok.decode([0xA9], errors="strict")
    assert tok.decode([0xC3]) == "\ufffd"  # a lead byte with nothing after it
    assert tok.decode([0xC3, 0xA9]) == "é"  # ...is fine when its continuation follows


def test_ids_from_a_token_array_decode(trained: dict[str, BpeTokenizer]) -> None:
    tok = trained["gpt4"]
    text = "Token arrays hold uint16 ids."
    ids = [*tok.encode(text), tok.eot_id]
    assert tok.decode(np.array(ids, dtype=np.uint16)) == text
    assert tok.decode_bytes(np.array(ids, dtype=np.uint32)) == text.encode()
    assert tok.token_bytes(np.uint16(ids[0])) == tok.token_bytes(ids[0])


def test_an_id_out_of_range_is_a_clear_error() -> None:
    tok = BpeTokenizer.train(["abab"], 256 + 1 + 1, "", [EOT])
    assert tok.decode([256, 257, 97]) == "aba"
    for bad in (258, -1, 10**9):
        with pytest.raises(DataError, match=rf"token id {bad} is out of range .*0\.\.257"):
            tok.decode([97, bad])
        with pytest.raises(DataError, match=rf"token id {bad}"):
            tok.token_bytes(bad)
    with pytest.raises(DataError, match="token id 'x'"):
        tok.decode_bytes(iter([97, "x"]))  # type: ignore[list-item]


# ---------------------------------------------------------------- the file


@pytest.fixture
def saved(tmp_path: Path, shakespeare: str) -> tuple[BpeTokenizer, Path]:
    tok = BpeTokenizer.train([shakespeare[:20_000]], 256 + 40 + 1, PATTERNS["gpt4"], [EOT])
    return tok, tok.save(tmp_path)


def test_save_and_load_give_the_same_tokenizer(
    saved: tuple[BpeTokenizer, Path], shakespeare: str
) -> None:
    tok, path = saved
    assert path.name == FILE_NAME
    loaded = load_tokenizer(path.parent)
    assert isinstance(loaded, BpeTokenizer)
    assert loaded.hash == tok.hash
    assert loaded.merges == tok.merges
    assert loaded.specials == tok.specials
    assert loaded.pattern == PATTERNS["gpt4"]
    text = shakespeare[50_000:52_000] + "<|endoftext|>🙂"
    assert loaded.encode(text, specials="allow") == tok.encode(text, specials="allow")


def test_the_file_is_readable_json_without_the_vocabulary(
    saved: tuple[BpeTokenizer, Path],
) -> None:
    _, path = saved
    data = json.loads(path.read_text(encoding="utf-8"))
    assert set(data) == {"format", "version", "kind", "pattern", "specials", "merges"}
    assert (data["format"], data["version"], data["kind"]) == ("nanoforge-tokenizer", 1, "bpe")
    assert data["specials"] == [EOT]
    assert data["merges"][:5] == [
        [32, 116, " t"],
        [104, 101, "he"],
        [111, 117, "ou"],
        [32, 97, " a"],
        [256, 257, " the"],
    ]
    assert len(data["merges"]) == 40
    assert '  [\n   32,\n   116,\n   " t"\n  ],' in path.read_text(encoding="utf-8")


def test_undecodable_merges_are_written_with_backslash_escapes(tmp_path: Path) -> None:
    tok = BpeTokenizer([(0xE6, 0x9D), (256, 0xB1)], "", [EOT])  # 東 is E6 9D B1
    path = tok.save(tmp_path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["merges"] == [[0xE6, 0x9D, "\\xe6\\x9d"], [256, 0xB1, "東"]]
    assert load_tokenizer(path).hash == tok.hash


def corrupt(path: Path, change: dict[str, object]) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    data.update(change)
    path.write_text(json.dumps(data), encoding="utf-8")


def merges_with(path: Path, index: int, item: object) -> list[object]:
    merges = json.loads(path.read_text(encoding="utf-8"))["merges"]
    merges[index] = item
    return merges


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"merges": [[97, 300, "a?"]]}, r"merge 0 refers to id 300, out of range \(ids 0\.\.256\)"),
        ({"merges": [[97, -1, "a"]]}, "merge 0 refers to id -1, out of range"),
        ({"merges": [[257, 97, "x"], [97, 98, "ab"]]}, "merge 0 refers to id 257, which a later"),
        ({"merges": [[97, 98, "ab"], [97, 98, "ab"]]}, r"merge 1 repeats merge 0 \[97, 98\]"),
        ({"merges": {"97 98": "ab"}}, "field 'merges' must be a list"),
        ({"merges": [[97, 98]]}, r"merge 0 is \[97, 98\], expected \[left_id, right_id, text\]"),
        ({"merges": [["97", 98, "ab"]]}, "merge 0 has a part '97' that is not an integer id"),
        ({"merges": [[97.0, 98, "ab"]]}, "merge 0 has a part 97.0 that is not an integer id"),
        ({"merges": [[97, 98, "xy"]]}, "merge 0 says 'xy' but ids 97 and 98 make 'ab'"),
        ({"pattern": "(unclosed"}, "field 'pattern' is not a valid regex"),
        ({"pattern": None}, "field 'pattern' must be a string"),
        ({"specials": "<|endoftext|>"}, "field 'specials' must be a list of strings"),
        ({"specials": [""]}, "special token 0 is '', not a non-empty string"),
        ({"specials": [EOT, EOT]}, "special tokens repeat"),
        ({"vocab": {}}, "unknown field 'vocab'"),
        ({"version": 2}, "tokenizer format version 2, this nanoforge reads version 1"),
        ({"kind": "wordpiece"}, "unknown tokenizer kind 'wordpiece'"),
    ],
)
def test_a_corrupt_file_is_one_clear_error(
    saved: tuple[BpeTokenizer, Path], change: dict[str, object], message: str
) -> None:
    _, path = saved
    corrupt(path, change)
    with pytest.raises(DataError, match=message) as err:
        load_tokenizer(path)
    assert str(err.value).startswith(str(path))
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("field", ["pattern", "specials", "merges"])
def test_a_missing_field_is_named(saved: tuple[BpeTokenizer, Path], field: str) -> None:
    _, path = saved
    data = json.loads(path.read_text(encoding="utf-8"))
    del data[field]
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(DataError, match=f"has no field '{field}'"):
        load_tokenizer(path)


def test_a_merge_of_a_later_id_deep_in_the_file_is_found(
    saved: tuple[BpeTokenizer, Path],
) -> None:
    _, path = saved
    corrupt(path, {"merges": merges_with(path, 10, [32, 270, " ?"])})
    with pytest.raises(DataError, match="merge 10 refers to id 270, which a later merge makes"):
        load_tokenizer(path)


def test_the_constructor_refuses_bad_merges() -> None:
    with pytest.raises(ValueError, match="merge 1 refers to id 258"):
        BpeTokenizer([(97, 98), (258, 97), (97, 97)], "", [])
    with pytest.raises(ValueError, match="not a valid regex"):
        BpeTokenizer([], "[", [])
    with pytest.raises(ValueError, match="special tokens repeat"):
        BpeTokenizer([], "", [EOT, EOT])


# ---------------------------------------------------------------- the hash


def test_the_hash_follows_the_content() -> None:
    base = BpeTokenizer([(97, 98), (256, 99)], PATTERNS["gpt4"], [EOT])
    same = BpeTokenizer([(97, 98), (256, 99)], PATTERNS["gpt4"], [EOT])
    assert base.hash == same.hash
    assert len(base.hash) == 16
    others = [
        BpeTokenizer([(97, 98), (256, 100)], PATTERNS["gpt4"], [EOT]),  # a merge changed
        BpeTokenizer([(97, 98)], PATTERNS["gpt4"], [EOT]),  # a merge fewer
        BpeTokenizer([(97, 98), (256, 99)], PATTERNS["gpt2"], [EOT]),  # another pattern
        BpeTokenizer([(97, 98), (256, 99)], PATTERNS["gpt4"], [EOT, "<|pad|>"]),
    ]
    assert len({base.hash, *(o.hash for o in others)}) == 5


def test_the_hash_survives_save_and_load(saved: tuple[BpeTokenizer, Path]) -> None:
    tok, path = saved
    assert load_tokenizer(path).hash == tok.hash
    assert load_tokenizer(load_tokenizer(path).save(path.parent)).hash == tok.hash
