"""Pre-split patterns: how text is cut into chunks before BPE (merges never cross chunks)."""

from __future__ import annotations

_GPT4 = (
    # GPT-4's cl100k pattern: case-insensitive contractions, letters with one leading
    # non-letter, numbers in runs of at most three digits, punctuation, newlines, spaces.
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*"""
    r"""|\s*[\r\n]|\s+(?!\S)|\s+"""
)
# GPT-2's pattern: contractions, a space then letters / digits / other, whitespace.
_GPT2 = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""

PATTERNS = {"gpt4": _GPT4, "gpt2": _GPT2, "none": ""}  # none: plain bytes, merges cross words

# The standard library's `re` runs the built-in patterns about twice as fast as `regex`,
# but has no \p{..} classes. On ASCII text (`str.isascii` is O(1)) these twins, with the
# classes spelled out for ASCII, cut exactly the same chunks as the originals: \p{L} is
# A-Za-z, \p{N} is 0-9 and \s is tab, LF, VT, FF, CR and space there (tests check it).
_WS = r"\t\n\x0b\x0c\r "
ASCII_TWINS = {
    _GPT4: (
        r"""'(?i:[sdmt]|ll|ve|re)|[^\r\nA-Za-z0-9]?+[A-Za-z]+|[0-9]{1,3}"""
        rf"""| ?[^{_WS}A-Za-z0-9]++[\r\n]*|[{_WS}]*[\r\n]|[{_WS}]+(?![^{_WS}])|[{_WS}]+"""
    ),
    _GPT2: (
        r"""'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+"""
        rf"""| ?[^{_WS}A-Za-z0-9]+|[{_WS}]+(?![^{_WS}])|[{_WS}]+"""
    ),
}
