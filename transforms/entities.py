"""Entity names: one canonical name per person within an article.

News prose names a person in full once ("Deputy Prime Minister Iryna Vereshchuk") and then by
surname or with a title ("Mrs Vereshchuk", "Colonel-General Mizintsev"). ``canonical_names``
maps each such mention to the full name used in the same article, so that counting people
counts people, not spellings. Cross-article identity is a later step (issue 5).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rapidfuzz import fuzz

# Titles and roles that precede a name; removed before comparing mentions.
_TITLE_WORDS = {
    "mr", "mrs", "ms", "miss", "dr", "prof", "professor", "sir", "dame", "lord", "lady",
    "president", "vice", "prime", "minister", "deputy", "chancellor", "secretary", "general",
    "colonel", "colonel-general", "lieutenant", "lieutenant-general", "major", "major-general",
    "captain", "commander", "admiral", "sergeant", "mayor", "governor", "senator", "rep",
    "representative", "gov", "sen", "pope", "king", "queen", "prince", "princess", "judge",
    "spokesman", "spokeswoman", "spokesperson", "ambassador", "chief", "gen", "col", "lt", "capt",
    "adviser", "advisor", "foreign", "defence", "defense", "interior", "kremlin", "russian",
    "ukrainian", "ukraine", "aide", "presidential",
}  # fmt: skip
_POSSESSIVE = re.compile(r"(?:['’]s|['’])$")
_LEADING_ARTICLE = re.compile(r"^(?:the)\s+", re.IGNORECASE)
# A typo of one or two letters in a surname ("Mizintsez" for "Mizintsev") still matches.
_SURNAME_SIMILARITY = 85.0


def strip_name(text: str) -> str:
    """A mention without possessive, leading article, and leading titles/roles."""
    name = _POSSESSIVE.sub("", text.strip())
    name = _LEADING_ARTICLE.sub("", name)
    words = name.split()
    while len(words) > 1 and words[0].rstrip(".").lower() in _TITLE_WORDS:
        words.pop(0)
    return " ".join(words)


def canonical_names(mentions: Sequence[tuple[str, str]]) -> list[str]:
    """Canonical name for each ``(text, label)`` mention of one article, in order.

    A PERSON mention with one word (after titles are removed) maps to the one full name of
    the article whose surname matches it (exactly or as a close typo); when no full name, or
    more than one, matches, the mention stays as it is: a guess would merge two people.
    Other labels are only stripped of possessives and a leading "the".
    """
    stripped = [strip_name(text) if label == "PERSON" else _other_name(text) for text, label in mentions]
    full_names = sorted(
        {name for name, (_text, label) in zip(stripped, mentions) if label == "PERSON" and len(name.split()) >= 2}
    )
    by_surname: dict[str, set[str]] = {}
    for name in full_names:
        by_surname.setdefault(name.split()[-1].lower(), set()).add(name)

    result = []
    for name, (_text, label) in zip(stripped, mentions):
        if label != "PERSON":
            result.append(name)
            continue
        words = name.split()
        surname = words[-1].lower() if words else ""
        candidates = by_surname.get(surname, set())
        if not candidates:
            candidates = {
                full
                for key, names in by_surname.items()
                if fuzz.ratio(surname, key) >= _SURNAME_SIMILARITY
                for full in names
            }
        if len(words) == 1 and len(candidates) == 1:
            result.append(next(iter(candidates)))
        elif len(words) >= 2 and len(candidates) == 1 and name not in candidates and _same_given_name(name, candidates):
            result.append(next(iter(candidates)))
        else:
            result.append(name)
    return result


def _same_given_name(name: str, candidates: set[str]) -> bool:
    full = next(iter(candidates))
    return name.split()[0].lower() == full.split()[0].lower()


def _other_name(text: str) -> str:
    return _LEADING_ARTICLE.sub("", _POSSESSIVE.sub("", text.strip()))
