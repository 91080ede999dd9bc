"""Text cleaning for utterances read from dialogue tables: mojibake repair, Unicode NFC, typographic
punctuation → ASCII, whitespace runs → one space (:func:`normalize_text`)."""

from __future__ import annotations

import re
import unicodedata

__all__ = ["normalize_text"]

# Typographic characters → ASCII (what MELD's transcripts are full of).
_TYPOGRAPHIC = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u2033": '"',
        "\u2013": "-",
        "\u2014": " - ",
        "\u2026": "...",
        "\u00a0": " ",
        "\u200b": "",
        "\ufeff": "",
    }
)
# UTF-8 read as cp1252/latin-1 (e.g. "â€™" for "’"): older MELD copies carry these.
_CP1252_HIGH = (
    "\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc"
    "\u2013\u2014\u2018-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122"
)
_MOJIBAKE = re.compile(f"[\u00c2\u00c3\u00e2][{_CP1252_HIGH}]+")
_SPACES = re.compile(r"\s+")


def _repair_mojibake(text: str) -> str:
    def fix(match: re.Match[str]) -> str:
        chunk = match.group(0)
        for codec in ("cp1252", "latin-1"):
            try:
                return chunk.encode(codec).decode("utf-8")
            except (UnicodeEncodeError, UnicodeDecodeError):
                continue
        return chunk

    return _MOJIBAKE.sub(fix, text)


def normalize_text(text: str) -> str:
    """Clean one utterance: repair UTF-8-read-as-cp1252 mojibake (``"â€™"`` → ``"’"``), Unicode NFC,
    typographic quotes/dashes/ellipses → ASCII, whitespace runs → one space, trimmed."""
    text = unicodedata.normalize("NFC", _repair_mojibake(text)).translate(_TYPOGRAPHIC)
    return _SPACES.sub(" ", text).strip()
