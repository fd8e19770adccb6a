"""Pure text cleaning: one string in, one string out, no I/O.

`clean_text(text, kind)` is the whole pipeline for a document, `clean_title` the one for
a title; the small steps they chain are public so each can be tested on its own.

The kind says how much may change:
- prose (abstracts): hard wraps unwrapped into paragraphs, whitespace collapsed.
- lyrics: lines kept (they are the verse structure), each stripped; section markers
  removed, normalized or kept.
- verbatim (source code, documentation): bytes kept except line ends, trailing
  whitespace and long runs of blank lines. No entity decoding, no Unicode rewriting:
  `&amp;` or a decomposed `é` inside a string literal is the code's business.

Every function is idempotent: cleaning clean text changes nothing.
"""

from __future__ import annotations

import html
import re
import unicodedata
from typing import Literal

MarkerMode = Literal["remove", "normalize", "keep"]

# ------------------------------------------------------------------ line ends


def normalize_newlines(text: str) -> str:
    """CRLF and lone CR become LF (CSV rows often end in CRLF while fields use LF)."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


# ------------------------------------------------------------------- mojibake

# What a UTF-8 byte turns into when the bytes are wrongly read as cp1252 (or, for the
# five bytes cp1252 leaves undefined, as latin-1): the reverse map lets us get the
# bytes back from the wrongly decoded text.
_CP1252_BYTE: dict[str, int] = {}
for _b in range(0x80, 0x100):
    try:
        _CP1252_BYTE[bytes([_b]).decode("cp1252")] = _b
    except UnicodeDecodeError:
        _CP1252_BYTE[chr(_b)] = _b
_CONTINUATION = "".join(sorted(ch for ch, b in _CP1252_BYTE.items() if 0x80 <= b <= 0xBF))
# A mojibake marker: the stand-in of a UTF-8 lead byte (0xC2..0xF4: Â Ã â ...) followed
# by the stand-in of a continuation byte (0x80..0xBF: © € ™ ...).
_MOJIBAKE = re.compile(f"[\u00c2-\u00f4][{re.escape(_CONTINUATION)}]")


def _as_cp1252_bytes(text: str) -> bytes | None:
    """The bytes `text` would come from if it was UTF-8 misread as cp1252, else None."""
    out = bytearray()
    for ch in text:
        code = ord(ch)
        if code < 0x80:
            out.append(code)
        elif ch in _CP1252_BYTE:
            out.append(_CP1252_BYTE[ch])
        else:
            return None  # a character no single-byte misreading produces: not mojibake
    return bytes(out)


def fix_mojibake(text: str) -> str:
    """Undo UTF-8 text misread as cp1252/latin-1 (`CafÃ©` -> `Café`), only when unambiguous.

    The whole string must re-encode and decode as valid UTF-8, and the result must have
    fewer mojibake markers; otherwise the text is returned unchanged. A string mixing
    mojibake with genuine accents, or whose bytes were lost (`â??Cuz`), stays as it is.
    Repeated while it helps, so doubly misread text is fixed and a second call is a no-op.
    """
    for _ in range(3):
        markers = len(_MOJIBAKE.findall(text))
        if not markers:
            break
        raw = _as_cp1252_bytes(text)
        if raw is None:
            break
        try:
            fixed = raw.decode("utf-8")
        except UnicodeDecodeError:
            break
        if len(_MOJIBAKE.findall(fixed)) >= markers:
            break
        text = fixed
    return text


# ------------------------------------------------------------------- entities

# Only complete references ending in `;`: html.unescape alone would also turn the
# legacy semicolon-less `&not` of `a&notb` or `&copy` into symbols.
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")


def decode_entities(text: str) -> str:
    """Decode HTML character references (`&amp;`, `&#8722;`, `&#x27;`), to a fixed point.

    Scraped text is sometimes escaped twice (`&amp;amp;`); decoding until nothing
    changes makes the function idempotent.
    """
    for _ in range(3):
        decoded = _ENTITY.sub(lambda m: html.unescape(m.group(0)), text)
        if decoded == text:
            break
        text = decoded
    return text


# ------------------------------------------------------------ unicode, spaces


def normalize_unicode(text: str) -> str:
    """NFC: one code point per accented letter, so `é` is always the same token."""
    return unicodedata.normalize("NFC", text)


# Every Unicode space separator (category Zs) except the plain space: Genius puts
# U+2005 and U+205F between words, web pages U+00A0.
UNICODE_SPACES = "\u00a0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u202f\u205f\u3000"
# Invisible characters that carry no text: zero-width space, word joiner, BOM, soft
# hyphen. ZWJ/ZWNJ stay: emoji sequences and some scripts need them.
ZERO_WIDTH = "\u200b\u2060\ufeff\u00ad"
# Control characters other than tab and newline (after mojibake repair, which needs
# the C1 range as evidence).
_CONTROLS = [c for c in range(0x20) if chr(c) not in "\t\n"] + list(range(0x7F, 0xA0))

_SPACE_TABLE = str.maketrans(
    {
        **{ch: " " for ch in UNICODE_SPACES},
        **{ch: None for ch in ZERO_WIDTH},
        **{chr(c): None for c in _CONTROLS},
        "\u2028": "\n",  # line separator
        "\u2029": "\n\n",  # paragraph separator
    }
)


def normalize_spaces(text: str) -> str:
    """Unicode spaces become a plain space; zero-width and control characters go."""
    return text.translate(_SPACE_TABLE)


def _clean_characters(text: str) -> str:
    """The character-level steps shared by prose, lyrics and titles, in a safe order."""
    text = normalize_newlines(text)
    text = fix_mojibake(text)  # before anything rewrites the characters it relies on
    text = decode_entities(text)
    text = normalize_unicode(text)  # after the steps that can produce decomposed text
    return normalize_spaces(text)


# ---------------------------------------------------------------------- prose


def unwrap_prose(text: str) -> str:
    """Join hard-wrapped lines into paragraphs separated by one blank line.

    A blank line ends a paragraph; so does an indented line, the arXiv convention for a
    new paragraph inside an abstract (`...given.\\n  The operations...`). Whitespace
    runs collapse to one space; leading indentation goes.
    """
    paragraphs: list[str] = []
    current: list[str] = []

    def flush() -> None:
        joined = " ".join(" ".join(current).split())
        if joined:
            paragraphs.append(joined)
        current.clear()

    for line in text.split("\n"):
        if not line.strip():
            flush()
            continue
        if line[0].isspace():
            flush()
        current.append(line)
    flush()
    return "\n\n".join(paragraphs)


# --------------------------------------------------------------------- lyrics

_SECTION = (
    r"(?:pre|post)[- ]?chorus|chorus|verse|bridge|hook|intro|outro|refrain|interlude"
    r"|instrumental(?:\s+(?:break|interlude|solo))?|guitar\s+solo|solo|break"
)
# How often to repeat: x2, 2x, x 4, *3, twice, two times, 3 times.
_COUNT = r"(?:x\s*\d+|\d+\s*x|\*\s*\d+|twice|thrice|(?:\d+|two|three|four)\s+times)"
# A section marker: `Chorus`, `Verse 2`, `Repeat Chorus`, `Chorus: x2`, `Final Chorus`,
# `Refrain/Intro`, `CHORUS - REPEAT`, `repeat chorus twice`, `Chorus repeats 3x`.
_SECTION_MARK = (
    rf"(?:(?:repeat|final|last|first)\s+)*"
    rf"(?P<name>(?:{_SECTION})(?:\s*/\s*(?:{_SECTION}))*)"
    rf"(?:\s+(?P<num>\d+))?"
    rf"(?:\s*[:\-]?\s*(?:{_COUNT}|repeats?|again))*"
)
# A pure repeat mark, which says nothing about the song's structure: (2x), [x7],
# (Twice), (Repeat), [Repeat: x4], (Repeat and fade), [Repeat to fade], (fade), (to end).
_REPEAT_MARK = (
    rf"(?:repeat|{_COUNT})(?:\s*[:\-]?\s*{_COUNT})*"
    r"(?:\s+(?:and|to|till|until)\s+(?:the\s+)?(?:fade|end)(?:\s+out)?)?"
    r"|(?:(?:to|till|until)\s+(?:the\s+)?(?:end|fade)|fade)(?:\s+out)?"
)
_SECTION_RE = re.compile(rf"{_SECTION_MARK}\s*:?", re.IGNORECASE)
# In square brackets Genius adds credits after a colon or dash: [Verse 1: Artist].
_SECTION_CREDITS_RE = re.compile(rf"{_SECTION_MARK}(?:\s*[:\-–—].*)?", re.IGNORECASE)
_REPEAT_RE = re.compile(rf"(?:{_REPEAT_MARK})\s*:?", re.IGNORECASE)
# A bracketed candidate anywhere in a line, with the spaces before it (removed along
# with it), an optional `repeat` before the bracket (`repeat(chorus)`), an optional
# colon after it (`[Chorus]:`). An unclosed bracket at the end of a line counts.
_BRACKETED = re.compile(
    r"(?P<space>[ \t]*)(?:\brepeat\s*)?"
    r"(?P<open>[\[(])(?P<inner>[^\[\]()\n]{0,80})(?:[\])]|$)(?:\s*:)?",
    re.IGNORECASE,
)
# A marker written bare at the start of a line, alone (`CHORUS`, `Verse 2:`) or as a
# prefix before a colon (`REFRAIN: I'm through doctor`).
_BARE_PREFIX = re.compile(rf"(?:{_SECTION_MARK})\s*:\s*(?P<rest>\S.*)", re.IGNORECASE)
# A repeat count written bare at the end of a lyric line: `...we take it higher x2`.
_TRAILING_COUNT = re.compile(r"[ \t]+(?:x\d{1,2}|\d{1,2}x)$", re.IGNORECASE)
_CANONICAL = {
    "prechorus": "Pre-Chorus",
    "pre chorus": "Pre-Chorus",
    "pre-chorus": "Pre-Chorus",
    "postchorus": "Post-Chorus",
    "post chorus": "Post-Chorus",
    "post-chorus": "Post-Chorus",
    "instrumental break": "Instrumental",
    "instrumental interlude": "Instrumental",
    "instrumental solo": "Instrumental",
}


def _canonical(match: re.Match[str]) -> str:
    """`[Name N]` for a section-marker match: `(chorus)` -> `[Chorus]`, `VERSE 2` -> `[Verse 2]`."""
    parts = []
    for part in match.group("name").split("/"):
        key = " ".join(part.lower().split())
        parts.append(_CANONICAL.get(key, key.title()))
    num = match.group("num")
    return "[" + "/".join(parts) + (f" {num}" if num else "") + "]"


def _marker(content: str, square: bool) -> str | None:
    """What a marker becomes when normalized: `[Name]`, or "" for a repeat mark; None if not one.

    `content` is the text inside the brackets, or a whole bare line.
    """
    content = content.strip()
    if square and content == "?":
        return ""  # Genius placeholder for "lyrics unknown"
    section = (_SECTION_CREDITS_RE if square else _SECTION_RE).fullmatch(content)
    if section:
        return _canonical(section)
    if _REPEAT_RE.fullmatch(content):
        return ""
    return None


def _line_markers(line: str, mode: MarkerMode) -> str:
    """Remove or normalize the markers in one (already stripped) line."""

    def bracketed(m: re.Match[str]) -> str:
        new = _marker(m.group("inner"), square=m.group("open") == "[")
        if new is None:
            return m.group(0)
        if mode == "remove" or not new:
            return ""
        return m.group("space") + new

    line = _TRAILING_COUNT.sub("", _BRACKETED.sub(bracketed, line)).strip()
    bare = _marker(line, square=False) if line and not line.startswith("[") else None
    if bare is not None:
        return "" if mode == "remove" else bare
    prefix = _BARE_PREFIX.fullmatch(line)
    if prefix:
        rest = prefix.group("rest")
        return rest if mode == "remove" else f"{_canonical(prefix)}\n{rest}"
    return line


def clean_lyrics(text: str, markers: MarkerMode = "remove") -> str:
    """Lyrics: lines kept and stripped, at most one blank line in a row, markers handled.

    markers: `remove` drops section markers and repeat marks (a line that held only a
    marker goes with it); `normalize` rewrites section markers as `[Chorus]`,
    `[Verse 2]` ... and drops repeat marks; `keep` leaves them.
    Lyrics flattened to one line (newlines replaced by double spaces) stay one line:
    the double spaces cannot be told from real ones, but markers inside are handled.
    """
    lines = []
    for raw in text.split("\n"):
        line = raw.strip()
        if line and markers != "keep":
            line = _line_markers(line, markers)
            if not line:
                continue  # the line was only a marker: drop it, do not leave a blank
        lines.append(line)
    joined = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", joined).strip("\n")


# ------------------------------------------------------------------- verbatim


def clean_verbatim(text: str) -> str:
    """Code and docs: LF line ends, no trailing whitespace, at most two blank lines in a row.

    Indentation and every other character are kept exactly.
    """
    lines = [line.rstrip(" \t") for line in normalize_newlines(text).split("\n")]
    joined = re.sub(r"\n{4,}", "\n\n\n", "\n".join(lines))
    return joined.lstrip("\n").rstrip()


# ------------------------------------------------------------------ documents


def clean_text(text: str, kind: str, markers: MarkerMode = "remove") -> str:
    """Clean one document's text according to its kind (prose, lyrics or verbatim)."""
    if kind == "verbatim":
        return clean_verbatim(text)
    text = _clean_characters(text)
    if kind == "prose":
        return unwrap_prose(text)
    if kind == "lyrics":
        return clean_lyrics(text, markers)
    raise ValueError(f"unknown text kind {kind!r} (expected prose, lyrics or verbatim)")


def clean_title(title: str) -> str:
    """One line, whitespace collapsed; quotes wrapped around the whole title go (`"The 1" `)."""
    title = " ".join(_clean_characters(title).split())
    if len(title) > 2 and title[0] == title[-1] == '"' and '"' not in title[1:-1]:
        title = title[1:-1].strip()
    return title
