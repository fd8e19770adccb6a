"""Text cleaning, step by step, on hand-made strings and on the real CSV fixtures."""

from __future__ import annotations

import re
import sys
import unicodedata
from pathlib import Path

import pandas as pd
import pytest

from nanoforge.data.textclean import (
    UNICODE_SPACES,
    clean_lyrics,
    clean_text,
    clean_title,
    clean_verbatim,
    decode_entities,
    fix_mojibake,
    normalize_newlines,
    normalize_spaces,
    normalize_unicode,
    unwrap_prose,
)

SONGDATA = "csv/lyrics_songdata55k_head_akash20x_wholerows.csv"
TAYLOR = "csv/lyrics_genius_scraped_taylorswift_tuotadiwang.csv"
ACATLIN = "csv/lyrics_flattened_blackeyedpeas_acatlin.csv"
GECHHAI = "csv/arxiv_kaggle_cornell_metadata_2000rows_gechhai.csv"


def column(fixtures: Path, name: str, col: str) -> list[str]:
    frame = pd.read_csv(fixtures / name, dtype=str, keep_default_na=False)
    return frame[col].tolist()


# ----------------------------------------------------------------- line ends


def test_crlf_and_cr_become_lf() -> None:
    assert normalize_newlines("a\r\nb\rc\nd\r\n") == "a\nb\nc\nd\n"


def test_crlf_becomes_lf_for_every_kind() -> None:
    assert clean_text("x = 1\r\ny = 2\r\n", "verbatim") == "x = 1\ny = 2"
    assert clean_text("one\r\ntwo", "lyrics") == "one\ntwo"
    assert clean_text("one\r\ntwo", "prose") == "one two"


# ------------------------------------------------------------------- mojibake


@pytest.mark.parametrize(
    ("broken", "fixed"),
    [
        ("CafÃ©", "Café"),
        ("Itâ€™s â€œquotedâ€\x9d", "It’s “quoted”"),  # cp1252 plus an undefined byte
        ("naÃ¯ve coÃ¶peration", "naïve coöperation"),
        ("CafÃƒÂ©", "Café"),  # misread twice
    ],
)
def test_mojibake_is_repaired_when_the_whole_string_round_trips(broken: str, fixed: str) -> None:
    assert fix_mojibake(broken) == fixed
    assert fix_mojibake(fixed) == fixed


@pytest.mark.parametrize(
    "text",
    [
        "â??Cuz we gon' get it",  # bytes lost to `?`: nothing to decode back
        "Café and CafÃ©",  # a genuine é next to mojibake: not a clean round trip
        "Café, naïve, Ångström, 東京",
        "plain ASCII",
        "Ã",  # a lone lead character is not mojibake
    ],
)
def test_ambiguous_or_clean_text_is_left_alone(text: str) -> None:
    assert fix_mojibake(text) == text


def test_acatlin_mojibake_line_stays_as_it_is(fixtures: Path) -> None:
    song = next(t for t in column(fixtures, ACATLIN, "song_lyrics") if "â??Cuz" in t)
    assert "â??Cuz" in clean_text(song, "lyrics")


# ------------------------------------------------------------------- entities


@pytest.mark.parametrize(
    ("text", "decoded"),
    [
        ("p &gt;= 3 &amp; q &lt; 2", "p >= 3 & q < 2"),
        ("a &#8722; b", "a − b"),
        ("it&#x27;s &quot;it&quot;", 'it\'s "it"'),
        ("Promises &amp; Perils", "Promises & Perils"),
        ("&amp;amp;", "&"),  # escaped twice: decoded to a fixed point
        ("AT&T, R&D, a&notb, &copy 2020", "AT&T, R&D, a&notb, &copy 2020"),  # no `;`: text
        ("&nosuchentity;", "&nosuchentity;"),
    ],
)
def test_entities_are_decoded(text: str, decoded: str) -> None:
    assert decode_entities(text) == decoded
    assert decode_entities(decoded) == decoded


def test_entities_are_decoded_in_prose_and_lyrics_but_not_verbatim() -> None:
    assert clean_text("x &amp; y", "prose") == "x & y"
    assert clean_text("x &amp; y", "lyrics") == "x & y"
    assert clean_text('s = "&amp;"', "verbatim") == 's = "&amp;"'


# ------------------------------------------------------------- unicode, spaces


def test_nfc_composes_accents() -> None:
    assert normalize_unicode("Cafe\u0301") == "Café"
    assert clean_text("Cafe\u0301 au lait", "prose") == "Café au lait"


def test_every_unicode_space_separator_is_covered() -> None:
    spaces = {
        chr(c)
        for c in range(sys.maxunicode + 1)
        if unicodedata.category(chr(c)) == "Zs" and c != 0x20
    }
    assert spaces == set(UNICODE_SPACES)


@pytest.mark.parametrize("space", ["\u00a0", "\u2005", "\u205f", "\u2009", "\u3000", "\u202f"])
def test_unicode_spaces_become_plain_spaces(space: str) -> None:
    assert normalize_spaces(f"I{space}saw{space}you") == "I saw you"


def test_zero_width_and_control_characters_go_but_joiners_stay() -> None:
    assert normalize_spaces("\ufeffzero\u200bwidth\u2060join\u00adt") == "zerowidthjoint"
    assert normalize_spaces("bell\x07 del\x7f c1\x85!") == "bell del c1!"
    assert normalize_spaces("tab\tand\nnewline") == "tab\tand\nnewline"
    emoji = "\U0001f469\u200d\U0001f4bb"  # woman technologist: a ZWJ sequence
    assert normalize_spaces(emoji) == emoji


def test_taylor_swift_genius_spaces_are_gone(fixtures: Path) -> None:
    lyrics = column(fixtures, TAYLOR, "lyrics")
    assert sum(t.count("\u2005") for t in lyrics) == 108
    assert sum(t.count("\u205f") for t in lyrics) == 35
    cleaned = [clean_text(t, "lyrics") for t in lyrics]
    assert not any("\u2005" in t or "\u205f" in t for t in cleaned)
    assert "I thought I saw you at the bus stop, I didn't though" in cleaned[0].split("\n")
    assert "I hit the Sunday matinée" in cleaned[0].split("\n")


# ---------------------------------------------------------------------- prose


def test_prose_unwraps_hard_wraps_into_paragraphs() -> None:
    text = "We propose a novel\napproach  for\timage\nsegmentation.\n\n\nSecond\nparagraph.\n"
    assert (
        unwrap_prose(text)
        == "We propose a novel approach for image segmentation.\n\nSecond paragraph."
    )


def test_prose_drops_legacy_arxiv_indent_and_keeps_its_paragraphs() -> None:
    legacy = "  A fully differential calculation\nis presented.\n  The operations of\nproducts.\n"
    assert (
        unwrap_prose(legacy)
        == "A fully differential calculation is presented.\n\nThe operations of products."
    )


def test_gechhai_abstracts_are_unwrapped(fixtures: Path) -> None:
    abstracts = column(fixtures, GECHHAI, "abstract")
    cleaned = [clean_text(a, "prose") for a in abstracts[:200]]
    assert abstracts[0].startswith("  A fully differential calculation in perturbative quantum")
    assert cleaned[0].startswith(
        "A fully differential calculation in perturbative quantum chromodynamics is presented"
    )
    for text in cleaned:
        assert "\n  " not in text and "  " not in text and text == text.strip()
        assert all(p == " ".join(p.split()) for p in text.split("\n\n"))


# --------------------------------------------------------------------- lyrics


def test_lyrics_lines_are_stripped_and_blank_runs_collapse() -> None:
    songdata = (
        "Look at her face, it's a wonderful face  \nAnd it means something  \n  \nShe's just  \n\n"
    )
    assert clean_lyrics(songdata) == (
        "Look at her face, it's a wonderful face\nAnd it means something\n\nShe's just"
    )
    assert clean_lyrics("a\n\n\n\n\nb") == "a\n\nb"


def test_songdata_lines_lose_their_two_trailing_spaces(fixtures: Path) -> None:
    raw = column(fixtures, SONGDATA, "text")[0]
    assert raw.startswith("Look at her face, it's a wonderful face  \nAnd it means")
    cleaned = clean_text(raw, "lyrics")
    assert cleaned.startswith(
        "Look at her face, it's a wonderful face\nAnd it means something special to me\n"
    )
    assert "How lucky can one fellow be?\n\nShe's just my kind of girl" in cleaned
    assert all(line == line.strip() for line in cleaned.split("\n"))
    assert "\n\n\n" not in cleaned and not cleaned.endswith("\n")


# Each marker written as the fixtures write it, alone on a line between two lyrics:
# (marker line, what `normalize` makes of it; None = a repeat mark, removed by both).
MARKERS = [
    ("[Chorus]", "[Chorus]"),
    ("[Chorus:]", "[Chorus]"),
    ("[CHORUS]", "[Chorus]"),
    ("[CHORUS:]", "[Chorus]"),
    ("[Chorus x2]", "[Chorus]"),
    ("[Chorus: x2]", "[Chorus]"),
    ("[Chorus: x 4]", "[Chorus]"),
    ("[Chorus 2x]", "[Chorus]"),
    ("[Chorus]:", "[Chorus]"),
    ("[CHORUS:", "[Chorus]"),  # never closed
    ("CHORUS", "[Chorus]"),
    ("Chorus:", "[Chorus]"),
    ("(chorus)", "[Chorus]"),
    ("(CHORUS)", "[Chorus]"),
    ("REPEAT CHORUS", "[Chorus]"),
    ("Repeat chorus", "[Chorus]"),
    ("[Repeat chorus]", "[Chorus]"),
    ("(repeat chorus twice)", "[Chorus]"),
    ("(repeat chorus again)", "[Chorus]"),
    ("repeat(chorus)", "[Chorus]"),
    ("(Final Chorus)", "[Chorus]"),
    ("CHORUS - REPEAT", "[Chorus]"),
    ("Chorus repeats 3x", "[Chorus]"),
    ("CHORUS (x2)", "[Chorus]"),
    ("(Chorus)(Twice)", "[Chorus]"),
    ("[Chorus 2:]", "[Chorus 2]"),
    ("[Chorus 3 -Final]", "[Chorus 3]"),
    ("[Verse 1]", "[Verse 1]"),
    ("[Verse 1: Kendrick Lamar]", "[Verse 1]"),
    ("[Verse:]", "[Verse]"),
    ("VERSE 2", "[Verse 2]"),
    ("Verse 3:", "[Verse 3]"),
    ("Repeat first verse", "[Verse]"),
    ("[Pre-Chorus]", "[Pre-Chorus]"),
    ("[Pre-Chorus 2]", "[Pre-Chorus 2]"),
    ("[Bridge]", "[Bridge]"),
    ("[Bridge x2]", "[Bridge]"),
    ("[Hook]", "[Hook]"),
    ("Intro:", "[Intro]"),
    ("[Outro]", "[Outro]"),
    ("[Refrain 3]", "[Refrain 3]"),
    ("REFRAIN", "[Refrain]"),
    ("[Refrain/Intro]", "[Refrain/Intro]"),
    ("[Break]", "[Break]"),
    ("(instrumental interlude)", "[Instrumental]"),
    ("(Instrumental break)", "[Instrumental]"),
    ("[instrumental]", "[Instrumental]"),
    ("[GUITAR SOLO]", "[Guitar Solo]"),
    ("(Guitar solo)", "[Guitar Solo]"),
    ("[solo]", "[Solo]"),
    ("Solo (Two times)", "[Solo]"),
    ("(2x)", None),
    ("(4x)", None),
    ("(x2)", None),
    ("[x7]", None),
    ("(Twice)", None),
    ("(Repeat)", None),
    ("REPEAT", None),
    ("(Repeat x2)", None),
    ("[Repeat: x4]", None),
    ("(Repeat and fade)", None),
    ("[Repeat to fade]", None),
    ("Repeat and fade", None),
    ("(fade)", None),
    ("[fade]", None),
    ("[?]", None),  # Genius's placeholder for unknown lyrics
]


@pytest.mark.parametrize(("marker", "normalized"), MARKERS)
def test_marker_lines_are_removed_normalized_or_kept(marker: str, normalized: str | None) -> None:
    song = f"First line\n{marker}\nLast line"
    assert clean_lyrics(song, "remove") == "First line\nLast line"
    expected = f"First line\n{normalized}\nLast line" if normalized else "First line\nLast line"
    assert clean_lyrics(song, "normalize") == expected
    assert clean_lyrics(song, "keep") == song
    for mode in ("remove", "normalize", "keep"):
        once = clean_lyrics(song, mode)
        assert clean_lyrics(once, mode) == once


@pytest.mark.parametrize(
    ("line", "removed", "normalized"),
    [
        ("Hey hey (2x)", "Hey hey", "Hey hey"),
        ("You dig it deeper, we take it higher x2", "You dig it deeper, we take it higher", None),
        ("Get 'em up  Get 'em [x7]    We gone", "Get 'em up  Get 'em    We gone", None),
        ("la la la (chorus)", "la la la", "la la la [Chorus]"),
        ("[Hook]  Hands up  Coming with rhythms", "Hands up  Coming with rhythms", None),
        ("CHORUS: I'm all alone, so are we all", "I'm all alone, so are we all", None),
    ],
)
def test_markers_inside_a_line(line: str, removed: str, normalized: str | None) -> None:
    assert clean_lyrics(line, "remove") == removed
    if normalized is not None:
        assert clean_lyrics(line, "normalize") == normalized


def test_a_prefix_marker_goes_on_its_own_line_when_normalized() -> None:
    assert (
        clean_lyrics("REFRAIN: I'm through doctor", "normalize") == "[Refrain]\nI'm through doctor"
    )


@pytest.mark.parametrize(
    "line",
    [
        "(Hallelujah)",
        "(take me to the other side)",
        "[thud]",
        '[or "kept"]',
        "(?)",
        "Breaking her way",
        "Hookah",
        "Break it down",
        "Finally the stars align",
        "Soon I'll be flying solo",
        "Will never fade away",
        "Let's Get It Started [*]",
    ],
)
def test_lyrics_that_look_like_markers_are_kept(line: str) -> None:
    for mode in ("remove", "normalize"):
        assert clean_lyrics(f"a\n{line}\nb", mode) == f"a\n{line}\nb"


def test_placeholder_only_lyrics_become_empty() -> None:
    assert clean_text("[?]\n", "lyrics") == ""
    assert clean_text("[?]\n", "lyrics", "normalize") == ""
    assert clean_text("[?]\n", "lyrics", "keep") == "[?]"


def test_flattened_acatlin_lyrics_stay_one_line_with_markers_handled(fixtures: Path) -> None:
    songs = column(fixtures, ACATLIN, "song_lyrics")
    hands_up = clean_text(songs[0], "lyrics")
    assert hands_up.startswith("Hands up  Coming with rhythms to make you head jerk")
    assert "get 'em up  Get 'em    We gone make you move" in hands_up
    for song in songs:
        assert "\n" not in song
        removed = clean_text(song, "lyrics", "remove")
        normalized = clean_text(song, "lyrics", "normalize")
        assert "\n" not in removed and "\n" not in normalized
        assert "[" not in removed
        canonical = {"[Hook]", "[Chorus]", "[Break]", "[Bridge]"}
        assert set(re.findall(r"\[[^\]]*\]", normalized)) <= canonical
        assert "[x7]" not in normalized and "[Chorus:]" not in normalized


def test_songdata_has_no_markers_left_after_remove(fixtures: Path) -> None:
    texts = column(fixtures, SONGDATA, "text")
    cleaned = "\n".join(clean_text(t, "lyrics", "remove") for t in texts).lower()
    markers = ["[chorus", "(chorus", "[verse", "[pre-chorus", "[bridge", "[refrain", "[outro"]
    markers += ["[hook", "[instrumental", "[solo", "[repeat ", "[repeat:", "(repeat", "(2x)"]
    markers += ["(fade)", "(twice)"]
    for marker in markers:
        assert marker not in cleaned
    assert '[repeata y "fade"]' in cleaned  # not a marker we know: left alone
    lines = set(cleaned.split("\n"))
    for bare in ("chorus", "chorus:", "verse 2", "repeat chorus", "repeat", "refrain", "intro:"):
        assert bare not in lines
    normalized = "\n".join(clean_text(t, "lyrics", "normalize") for t in texts)
    assert normalized.count("[Chorus]") == 327
    assert "[CHORUS" not in normalized and "(chorus)" not in normalized.lower()


# ------------------------------------------------------------------- verbatim


def test_verbatim_keeps_code_byte_for_byte_except_trailing_spaces() -> None:
    code = (
        "\n\ndef f(x):   \r\n"
        "\tif x:\n"
        "        return '&amp; Cafe\u0301\u00a0'  \n"
        "\n\n\n\n\n"
        "    # indented comment\t\n"
        "class C:\n"
        "    pass\n\n\n"
    )
    assert clean_verbatim(code) == (
        "def f(x):\n"
        "\tif x:\n"
        "        return '&amp; Cafe\u0301\u00a0'\n"
        "\n\n"
        "    # indented comment\n"
        "class C:\n"
        "    pass"
    )
    assert clean_text(code, "verbatim") == clean_verbatim(code)


def test_verbatim_keeps_leading_indentation_of_the_first_line() -> None:
    assert clean_verbatim("    x = 1\n    y = 2\n") == "    x = 1\n    y = 2"


# ---------------------------------------------------------------- titles, kinds


@pytest.mark.parametrize(
    ("title", "cleaned"),
    [
        ('"The 1" ', "The 1"),
        (
            "Calculation of prompt diphoton production at Tevatron and\n  LHC energies",
            "Calculation of prompt diphoton production at Tevatron and LHC energies",
        ),
        ("Promises &amp; Perils", "Promises & Perils"),
        ("Let's Get It Started [*]", "Let's Get It Started [*]"),
        ('He said "no" today', 'He said "no" today'),
        ("\u2005spaced\u00a0out ", "spaced out"),
    ],
)
def test_titles_are_one_clean_line(title: str, cleaned: str) -> None:
    assert clean_title(title) == cleaned
    assert clean_title(cleaned) == cleaned


def test_unknown_kind_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown text kind 'poetry'"):
        clean_text("text", "poetry")


# ---------------------------------------------------------------- idempotence


@pytest.mark.parametrize("mode", ["remove", "normalize", "keep"])
def test_cleaning_real_lyrics_twice_is_cleaning_once(fixtures: Path, mode: str) -> None:
    texts = column(fixtures, SONGDATA, "text") + column(fixtures, ACATLIN, "song_lyrics")
    texts += column(fixtures, TAYLOR, "lyrics")
    for text in texts:
        once = clean_text(text, "lyrics", mode)
        assert clean_text(once, "lyrics", mode) == once


@pytest.mark.parametrize("kind", ["prose", "verbatim"])
def test_cleaning_real_prose_twice_is_cleaning_once(fixtures: Path, kind: str) -> None:
    for text in column(fixtures, GECHHAI, "abstract")[:500]:
        once = clean_text(text, kind)
        assert clean_text(once, kind) == once
