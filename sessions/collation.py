"""Vietnamese alphabetical order, for every list a person reads (endpoints above all).

The Vietnamese alphabet is a ă â b c d đ e ê g h i k l m n o ô ơ p q r s t u ư v x y: ă, â, đ, ê,
ô, ơ and ư are letters of their own, and the five tone marks only order words that are otherwise
the same (no mark, huyền, sắc, hỏi, ngã, nặng). Code-point order gets both wrong ("Vũ Lễ" before
"Vạn Linh"). This key follows the alphabet first and the tones second, case-insensitively, as
Vietnamese dictionaries and ICU's ``vi`` collation do (without needing ICU on the machine).
"""

from __future__ import annotations

import unicodedata

_ALPHABET = "aăâbcdđeêfghijklmnoôơpqrstuưvwxyz"
_RANK = {letter: i for i, letter in enumerate(_ALPHABET)}
# Marks that make a letter of its own (they stay with the base letter).
_LETTER_MARKS = {"\u0306", "\u0302", "\u031b"}  # breve, circumflex, horn
# Tones, in their order: huyền, sắc, hỏi, ngã, nặng.
_TONES = {"\u0300": 1, "\u0301": 2, "\u0309": 3, "\u0303": 4, "\u0323": 5}


def vietnamese_key(text: str) -> tuple[tuple[int, ...], tuple[int, ...], str]:
    """Sort key: letters in alphabet order, then tones, then the text itself (a stable tie)."""
    primary: list[int] = []
    tones: list[int] = []
    for cluster in _clusters(unicodedata.normalize("NFD", text.casefold())):
        base, marks = cluster[0], cluster[1:]
        letter = unicodedata.normalize(
            "NFC", base + "".join(m for m in marks if m in _LETTER_MARKS)
        )
        tone = next((_TONES[m] for m in marks if m in _TONES), 0)
        if letter in _RANK:
            primary.append(100 + _RANK[letter])
        elif letter.isdigit():
            primary.append(ord(letter) - ord("0"))  # digits before letters
        elif letter.isspace():
            primary.append(10)
        else:
            primary.append(1000 + ord(letter))
        tones.append(tone)
    return tuple(primary), tuple(tones), text


def _clusters(decomposed: str) -> list[str]:
    out: list[str] = []
    for ch in decomposed:
        if out and unicodedata.combining(ch):
            out[-1] += ch
        else:
            out.append(ch)
    return out


def fold(text: str) -> str:
    """Text as search compares it: no tone or letter marks, lower case, đ as d (đ does not
    decompose under NFD, so it is folded on its own): "Đối thoại" → "doi thoai". Of a text
    already in ``shown`` form, each character folds to one: positions carry over."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return "".join(ch.lower() if len(ch.lower()) == 1 else ch for ch in plain)


def shown(text: str) -> str:
    """Text as search keeps it to show: NFC, runs of white space as one space."""
    return " ".join(unicodedata.normalize("NFC", text).split())
