"""Numbers in English news text: counts, money, percentages, quantities, dates, times, ordinals.

Pure logic, no Beam: ``transforms.enrich`` wraps it. Enrich runs spaCy in two passes, and this
module serves both:

1. The whole article goes through NER and the ``senter`` component only (about half the cost
   of the full pipeline). :func:`sentences_with_numbers` picks the sentences worth parsing,
   and :func:`date_mentions` turns the date mentions without a number ("on Monday",
   "yesterday", "this week") into rows, which needs no parse.
2. Each of those sentences goes through the full pipeline on its own, and
   :func:`extract_numbers` turns the parsed sentence into rows of the ``numbers`` table
   (every column but ``doc_id`` and ``date``).

:func:`parse_number` turns a number phrase ("7,000", "2.5 million", "a thousand",
"twenty-one", "36th") into its value. It and the extractor share one small grammar
(:func:`_segment`), which also splits runs such as "twenty five and thirty six" into two
numbers. :func:`resolve_date` turns a date mention into a day, given the publication date.

Decisions a reader of the table needs to know:

- ``text`` is the number itself, without qualifier or unit: "7,000" in "over 7,000 people",
  "a thousand" in "more than a thousand", "2.5bn" in "$2.5bn". Dates and clock times are
  the exception, because the number alone means nothing there: "March 9", "5am", "5 a.m.".
  A range is one row whose text runs from its first number to its last: "20,000 and 50,000",
  "3 to 4 million", "10-15", "10am to 12pm".
- ``value`` / ``value_max``: a range ("between 20,000 and 50,000", "3 to 4 million", "10-15",
  "from 10am to 12pm") is one row with its lower end in ``value`` and its upper end in
  ``value_max``; ``value_max`` is None for everything else. A scale written once applies to
  both ends ("3 to 4 million" is 3,000,000 to 4,000,000). "From X to Y" under a verb of change
  ("rose from 5% to 10%") is a change, two rows; "two or three" is two rows.
- ``qualifier`` is one of ``schemas.tables.QUALIFIERS``. "nearly"/"almost" count as
  ``approx`` (news uses them for estimates, and ``less_than`` is kept for explicit bounds).
  A range's qualifier is the one written before it ("about 10-15" is ``approx``); the range
  itself is the bound, so "between 10 and 20" is ``exact``.
- Vague amounts are lower bounds, loosely meant: ``value`` is the smallest amount the phrase
  can mean and ``qualifier`` is ``approx`` unless an explicit one is written. A plural scale
  is at least two of it ("thousands" 2,000, "dozens" 24, "tens of thousands" 20,000,
  "hundreds of thousands" 200,000); "several" is at least three ("several thousand" 3,000),
  "a few" and "many" at least two ("a few hundred" 200). "More than half" keeps its explicit
  ``more_than`` (a percent, 50).
- ``kind``: durations in days/weeks/months/years/decades/centuries are ``date`` and in
  hours/minutes/seconds are ``time`` (as spaCy's DATE/TIME labels do), with the unit in
  ``counted`` ("50 days ago" -> 50, date, counted "day"). A time's ``value`` is the hour
  of day on a 24-hour clock ("5pm" -> 17, "noon" -> 12, "10:30" -> 10.5); a date's is the
  number as written (the day of month, the year), and None for a date mention without a
  number ("on Monday", from :func:`date_mentions`). Proportions written as words ("more
  than half") are ``percent`` with the value in percent (50).
- ``resolved_date`` (``datetime.date`` or None): on rows of kind ``date`` when the article's
  publication date is given, the day the mention names ("March 9", "50 days ago", "on
  Monday", "yesterday", "this week"); see :func:`resolve_date` for the rules. None for
  years, months, durations and every other kind.
- ``counted`` is the lower-cased lemma of the counted noun ("residents" -> "resident",
  "servicemen" -> "serviceman", "people" stays "people"); ``verb`` is the lemma of the
  governing verb, only for count/money/percent/quantity. Neither is guessed across a
  noun: "the death of 20,000 residents" has counted "resident" and no verb, rather than
  the verb of the clause around "death". A copula is no verb ("20 are dead").
- ``event`` (one of :data:`EVENTS` or None), on count and percent rows: what happened to
  what is counted, from a small table (``_VERB_EVENTS`` and the tables after it): the verb
  ("killed", "died" -> kill; "injured" -> wound; "fled" -> displace; "took shelter" ->
  shelter; "laid down their arms" -> surrender; "forced ... to leave" -> displace), a state
  after "be"/"remain" ("are dead", "remain missing", "trapped"), the counted noun ("deaths",
  "casualties" -> casualty, "evacuees", "refugees", "protesters"), or a noun the count is the
  object of ("the death of 20,000", "the evacuation of 7,000"); "the death toll rose to
  300" is kill. None when the count is the whole a part is taken from ("many of the
  400,000 residents remain trapped").
- ``is_people`` (bool): the counted object is people, on count and percent rows: a noun in
  the people lexicon (``_PEOPLE``: people, civilians, residents, soldiers, servicemen,
  children, refugees, fighters, ...; not groups such as families or units), a noun spaCy
  tags NORP or PERSON ("three Ukrainians"), or no noun at all under an event ("thousands
  have died"). False for other kinds.
- ``unit``: "%" for every percent ("pp" for "percentage points"); currency symbols as written
  ("$", "£", "US$"), codes in upper case ("USD"), currency words as a symbol or code
  ("dollars" -> "$", "roubles" -> "RUB", "cents" -> "¢", "Australian dollars" -> "AUD");
  short unit names for quantities ("kilometres" -> "km", "megawatts" -> "MW", "GHz").
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # spaCy is only needed by the caller; this module reads Doc/Token attributes
    from spacy.tokens import Doc, Span, Token

# --- the number-word grammar ------------------------------------------------------------

_UNITS = {
    word: value
    for value, word in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen".split()
    )
}
_TENS = {word: 10 * (i + 2) for i, word in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split())}
# Multipliers of the sub-thousand group ("seventy two hundred" = 7200, "two dozen" = 24).
_MULTIPLIERS = {"hundred": 100, "dozen": 12}
_SCALES = {"thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12}
# Written as a separate token after digits ("£3 m", "$5 bn"); in text only trusted for money.
_SCALE_ABBREVIATIONS = {
    "k": 1e3, "m": 1e6, "mn": 1e6, "mln": 1e6, "bn": 1e9, "bln": 1e9, "b": 1e9, "t": 1e12, "tn": 1e12, "trn": 1e12,
}  # fmt: skip
# ... of which these mean a scale after any number ("10 bn people", "5 k"); "m", "b", "t", "tn"
# may be metres, tonnes, ... and are read as a scale only in an amount of money.
_UNAMBIGUOUS_SCALE_ABBREVIATIONS = {"k", "mn", "mln", "bn", "bln", "trn"}
# Vague plurals: their value is the scale, and they are lower bounds ("thousands" > 1000).
_PLURALS = {
    "dozens": 12.0,
    "scores": 20.0,
    "hundreds": 100.0,
    "thousands": 1e3,
    "millions": 1e6,
    "billions": 1e9,
    "trillions": 1e12,
    "tens": 10.0,  # only in "tens of thousands"
}
_ORDINAL_WORDS = {
    **{
        word: value + 1
        for value, word in enumerate(
            "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth "
            "fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth".split()
        )
    },
    **{
        word: 10 * (i + 2)
        for i, word in enumerate(
            "twentieth thirtieth fortieth fiftieth sixtieth seventieth eightieth ninetieth".split()
        )
    },
    "hundredth": 100,
    "thousandth": 1000,
    "millionth": 1e6,
    "billionth": 1e9,
}
# Denominators after a count: "a third", "two-thirds", "three quarters".
_FRACTIONS = {
    "half": 2, "halves": 2, "third": 3, "thirds": 3, "quarter": 4, "quarters": 4, "fourth": 4, "fourths": 4,
    "fifth": 5, "fifths": 5, "sixth": 6, "sixths": 6, "seventh": 7, "sevenths": 7, "eighth": 8, "eighths": 8,
    "ninth": 9, "ninths": 9, "tenth": 10, "tenths": 10,
}  # fmt: skip
_VULGAR_FRACTIONS = {
    "½": 1 / 2, "⅓": 1 / 3, "⅔": 2 / 3, "¼": 1 / 4, "¾": 3 / 4, "⅕": 1 / 5, "⅖": 2 / 5, "⅗": 3 / 5, "⅘": 4 / 5,
    "⅙": 1 / 6, "⅚": 5 / 6, "⅐": 1 / 7, "⅛": 1 / 8, "⅜": 3 / 8, "⅝": 5 / 8, "⅞": 7 / 8, "⅑": 1 / 9, "⅒": 1 / 10,
}  # fmt: skip
# Vague quantifiers before a scale, with the smallest amount each can mean: "several" is more
# than two, "a few" and "many" at least two ("several thousand" >= 3000, "a few hundred" >= 200).
_VAGUE = {"several": 3.0, "few": 2.0, "many": 2.0}
# A bare plural scale is at least two of it: "thousands" >= 2000, "dozens" >= 24,
# "hundreds of thousands" >= 200,000, "tens of thousands" >= 20,000.
_PLURAL_LOWER_BOUND = 2.0
_SIGNS = {"minus", "negative"}

_NUMBER = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
_DIGITS = re.compile(rf"^[+-]?(?:{_NUMBER}|\.\d+)$")
_DIGITS_SCALED = re.compile(rf"^(?P<num>{_NUMBER})(?P<scale>k|m|mn|mln|bn|bln|b|t|tn|trn)$")
_DIGITS_RANGE = re.compile(rf"^(?P<low>{_NUMBER})[-–—](?P<high>{_NUMBER})$")  # "3.5–4.0" as one token
_DIGITS_ORDINAL = re.compile(r"^(\d+)(?:st|nd|rd|th)$")
_DIGITS_FRACTION = re.compile(r"^([+-]?\d+)/(\d+)$")
_DIGITS_VULGAR = re.compile(rf"^(\d*)([{''.join(_VULGAR_FRACTIONS)}])$")
_DECADE = re.compile(r"^(1[5-9]\d0|20[0-9]0)s$")
_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_CLOCK_AM_PM = re.compile(r"^(1[0-2]|0?\d)(?:[.:]([0-5]\d))?([ap])\.?m\.?$")  # "4.30pm" stays one token

# Word classes that can begin a number (a sign only counts when one of these follows).
_STARTS = {"num", "numfraction", "numscale", "unit", "tens", "mult", "scale", "a", "half", "plural", "vague"}


# Cached: every word of every parsed sentence is classified, most are the same few thousand,
# and a miss tries up to ten patterns (a tenth of the number rows' time, measured).
@lru_cache(maxsize=1 << 16)
def _classify(word: str) -> tuple[str, float]:
    """The grammar class of one lower-cased word, with its value; ("", 0) for a non-number word."""
    if _DIGITS.match(word):
        return "num", float(word.replace(",", ""))
    if word in _UNITS:
        return "unit", _UNITS[word]
    if word in _TENS:
        return "tens", _TENS[word]
    if word in _MULTIPLIERS:
        return "mult", _MULTIPLIERS[word]
    if word in _SCALES:
        return "scale", _SCALES[word]
    if word in ("a", "an"):
        return "a", 1
    if word == "and":
        return "and", 0
    if word in ("-", "–"):
        return "hyphen", 0
    if word == "of":
        return "of", 0
    if word in ("half", "halves"):
        return "half", 2
    if word in _PLURALS:
        return "plural", _PLURALS[word]
    if word in _ORDINAL_WORDS:
        return "ordword", _ORDINAL_WORDS[word]
    if word in _FRACTIONS:
        return "fraction", _FRACTIONS[word]
    if word in _VAGUE:
        return "vague", 0
    if word in _SIGNS:
        return "sign", -1
    if word in _SCALE_ABBREVIATIONS:
        return "abbrev", _SCALE_ABBREVIATIONS[word]
    if match := _DIGITS_SCALED.match(word):
        return "numscale", float(match["num"].replace(",", "")) * _SCALE_ABBREVIATIONS[match["scale"]]
    if match := _DIGITS_ORDINAL.match(word):
        return "ordnum", float(match[1])
    if match := _DIGITS_FRACTION.match(word):
        if int(match[2]):
            return "numfraction", int(match[1]) / int(match[2])
    if match := _DIGITS_VULGAR.match(word):  # "½", "2½"
        return "num", int(match[1] or 0) + _VULGAR_FRACTIONS[match[2]]
    if match := _DIGITS_RANGE.match(word):
        return "numrange", float(match["low"].replace(",", ""))
    if match := _DECADE.match(word):
        return "decade", float(match[1])
    if match := _CLOCK.match(word):
        return "clock", int(match[1]) + int(match[2]) / 60
    if match := _CLOCK_AM_PM.match(word):
        return "clock", _clock_hour(int(match[1]) + int(match[2] or 0) / 60, match[3])
    return "", 0


@dataclass
class _Found:
    """One number found in a run of words: words[start:end], its value and how to read it."""

    start: int
    end: int
    value: float
    ordinal: bool = False
    vague: bool = False  # value is a lower bound: "thousands" (2000), "several hundred" (300)
    decade: bool = False
    clock: bool = False
    value_max: float | None = None  # the upper end of a one-token range ("3.5–4.0")


class _Builder:
    """The number being read: ``total`` holds finished thousand-groups, ``group`` the current one."""

    def __init__(self, start: int):
        self.start = start
        self.end = start
        self.total = 0.0
        self.group: float | None = None
        self.group_start = start
        self.has_multiplier = False  # the group already has "hundred"/"dozen"
        self.big: float | None = None  # last thousand/million/... applied
        self.last = ""  # class of the last word read
        self.sign = 1
        self.vague = False
        self.ordinal = False
        self.has_value = False

    def value(self) -> float:
        return self.sign * (self.total + (self.group or 0.0))


def _continues_after_multiplier(current: _Builder | None, last: str, value: float) -> bool:
    """Whether digits extend the number before them: "3 hundred and 21", "4 thousand 300"."""
    if current is None or last not in ("mult", "scale", "and") or value != int(value) or value <= 0:
        return False
    if current.has_multiplier and current.group is not None:  # after "hundred": 1-99
        return value < 100
    return current.group is None and current.big is not None and value < current.big


def _fraction_share(words: list[str], i: int) -> float | None:
    """The fraction words[i:i+2] spell after "and": "a half", "one half", "three quarters"."""
    if i + 1 >= len(words) or words[i + 1] not in _FRACTIONS:
        return None
    numerator = 1 if words[i] in ("a", "an", "one") else _UNITS.get(words[i])
    if not numerator or (numerator > 1 and not words[i + 1].endswith("s")):
        return None
    return numerator / _FRACTIONS[words[i + 1]]


def _segment(words: list[str]) -> list[_Found]:
    """Split a sequence of lower-cased words into the numbers it spells, left to right.

    Words that are not part of a number end the current one. Where English allows two
    readings the split follows how numbers are written in running text: "twenty five and
    thirty six" is 25 and 36, "hundred and five hundred and six" is 105 and 106, "a million
    and a half" is 1,500,000.
    """
    # A word of hundreds of digits overflows a float to inf: no number anyone writes in prose.
    classes = [(kind, value) if math.isfinite(value) else ("", 0) for kind, value in map(_classify, words)]
    found: list[_Found] = []
    current: _Builder | None = None
    count = len(words)

    def kind_at(k: int) -> str:
        return classes[k][0] if 0 <= k < count else ""

    def fraction_at(k: int) -> bool:  # "half", "third(s)", "quarter(s)": "third" is also an ordinal
        return kind_at(k) == "half" or (k < count and words[k] in _FRACTIONS)

    def close() -> None:
        nonlocal current
        if current is not None and current.has_value:
            found.append(
                _Found(current.start, current.end, current.value(), ordinal=current.ordinal, vague=current.vague)
            )
        current = None

    def begin(k: int) -> _Builder:
        nonlocal current
        # A pending sign ("minus ten") carries into the number it introduces.
        sign = current.sign if current is not None and current.last == "sign" else 1
        start = current.start if sign == -1 else k
        if sign == 1:
            close()
        current = _Builder(start)
        current.sign = sign
        current.group_start = k
        return current

    def consumed(k: int, last: str) -> None:
        current.end = k + 1
        current.last = last
        current.has_value = True

    i = 0
    while i < count:
        kind, value = classes[i]
        last = current.last if current is not None else ""
        if kind == "sign":
            close()
            if kind_at(i + 1) in _STARTS:
                current = _Builder(i)
                current.sign = -1
                current.last = "sign"
        elif kind == "numfraction" and last == "num" and current.group == int(current.group) and value < 1:
            current.group += value  # "2 1/2"
            consumed(i, "num")
        elif kind == "num" and _continues_after_multiplier(current, last, value):
            current.group = (current.group or 0.0) + value  # "4 thousand 3 hundred and 21"
            consumed(i, "num")
        elif kind in ("num", "numfraction"):
            number = begin(i)
            number.group = value
            consumed(i, "num")
        elif kind == "numscale":
            number = begin(i)
            number.total = value
            number.big = value
            consumed(i, "scale")
        elif kind in ("ordnum", "decade", "clock"):
            close()
            found.append(
                _Found(i, i + 1, value, ordinal=kind == "ordnum", decade=kind == "decade", clock=kind == "clock")
            )
        elif kind == "numrange":
            close()
            high = float(_DIGITS_RANGE.match(words[i])["high"].replace(",", ""))
            found.append(_Found(i, i + 1, value, value_max=high if high > value else None))
        elif kind == "unit":
            extends = last in ("mult", "scale", "and", "sign") or (last in ("tens", "hyphen") and 0 < value < 10)
            if extends and not (last in ("tens", "hyphen") and current.group is not None and current.group % 10):
                if current.group is None:
                    current.group_start = i
                current.group = (current.group or 0.0) + value
            else:
                begin(i).group = value
            consumed(i, "unit")
        elif kind == "tens":
            if last in ("mult", "scale", "and", "sign"):
                if current.group is None:
                    current.group_start = i
                current.group = (current.group or 0.0) + value
            else:
                begin(i).group = value
            consumed(i, "tens")
        elif kind == "mult":
            if last in ("unit", "tens", "num", "a", "vague", "half") and not current.has_multiplier:
                current.group = (current.group if current.group is not None else 1.0) * value
            else:  # "hundred and five | hundred and six": a repeated multiplier starts a new number
                begin(i).group = value
            current.has_multiplier = True
            consumed(i, "mult")
        elif kind == "scale" or (kind == "abbrev" and last == "num"):
            if current is not None and current.group is not None and last not in ("and", "hyphen", "sign"):
                if current.big is None or value < current.big:
                    current.total += current.group * value
                elif value > current.big:
                    current.total = (current.total + current.group) * value
                else:  # "five thousand six thousand": the second group is a new number
                    group, group_start = current.group, current.group_start
                    current.group = None
                    current.end = group_start
                    close()
                    current = _Builder(group_start)
                    current.total = group * value
                current.group = None
            elif current is not None and last == "scale" and value > (current.big or 0):
                current.total *= value  # "a thousand million"
            elif kind == "scale":
                begin(i).total = value  # a bare "million"
            else:
                close()
                i += 1
                continue
            current.big = value
            current.has_multiplier = False
            consumed(i, "scale")
        elif kind == "plural" and value == 12 and last in ("unit", "tens", "num") and not current.has_multiplier:
            current.group *= value  # "three dozens"
            current.has_multiplier = True
            consumed(i, "mult")
        elif kind == "plural":
            if last == "vague":  # "several thousands", "many millions"
                current.total, current.group = (current.group or 1.0) * value, None
            else:
                if value == 10 and not (kind_at(i + 1) == "of" and kind_at(i + 2) == "plural"):
                    close()  # a bare "tens" is not a number
                    i += 1
                    continue
                begin(i).total = _PLURAL_LOWER_BOUND * value
            current.vague = True
            current.big = value
            consumed(i, "scale")
            # "hundreds of thousands", "tens of millions"
            while kind_at(i + 1) == "of" and kind_at(i + 2) == "plural" and classes[i + 2][1] > current.big:
                current.total *= classes[i + 2][1]
                current.big = classes[i + 2][1]
                i += 2
                consumed(i, "scale")
        elif kind == "a":
            following = kind_at(i + 1)
            few_then_scale = words[i + 1 : i + 2] == ["few"] and kind_at(i + 2) in ("mult", "scale", "plural")
            if following in ("mult", "scale") or fraction_at(i + 1) or few_then_scale:
                if last == "half":  # "half a million"
                    current.end = i + 1
                else:
                    begin(i).group = 1.0
                    current.last = "a"
            else:
                close()
        elif kind == "vague":
            if kind_at(i + 1) in ("mult", "scale", "plural"):
                if last == "a" and words[i] == "few":  # "a few hundred"
                    current.group = _VAGUE["few"]
                    current.vague = True
                    current.last = "vague"
                else:
                    number = begin(i)
                    number.group, number.vague, number.last = _VAGUE[words[i]], True, "vague"
            else:
                close()
        elif kind == "and":
            if current is not None and current.has_value and (share := _fraction_share(words, i + 1)):
                if (
                    last == "scale"
                    and current.group is None
                    and kind_at(i + 3) == "scale"
                    and classes[i + 3][1] < current.big
                ):
                    current.total += classes[i + 3][1] * share  # "a billion and a half million"
                    i += 1
                elif last == "scale" and current.group is None:
                    current.total += current.big * share  # "a million and a half"
                else:
                    current.group = (current.group or 0.0) + share  # "two and a half"
                i += 2
                consumed(i, "half")
            elif last in ("mult", "scale") and (
                kind_at(i + 1) in ("unit", "tens", "ordword")
                or (kind_at(i + 1) == "num" and _continues_after_multiplier(current, "and", classes[i + 1][1]))
            ):
                current.last = "and"
            else:
                close()
        elif kind == "hyphen":
            following = kind_at(i + 1)
            if last == "tens" and (
                (following == "unit" and 0 < classes[i + 1][1] < 10)
                or (following == "ordword" and classes[i + 1][1] < 10)
            ):
                current.last = "hyphen"
            elif last in ("unit", "a") and fraction_at(i + 1):  # "two-thirds", "one-half"
                current.last = "hyphen"
            else:
                close()
        elif (
            words[i] in _FRACTIONS
            and last in ("a", "unit", "hyphen")
            and not current.has_multiplier
            and (current.group or 0) < 20
        ):
            current.group = (current.group if current.group is not None else 1.0) / _FRACTIONS[words[i]]
            consumed(i, "fraction")
        elif kind == "half":
            begin(i).group = 0.5
            consumed(i, "half")
        elif words[i] in ("quarter", "quarters") and last != "unit" and kind_at(i + 1) == "scale":
            begin(i).group = 0.25  # "a quarter million", "quarter million"
            consumed(i, "half")
        elif kind in ("ordword", "fraction") and words[i] in _ORDINAL_WORDS:
            value = _ORDINAL_WORDS[words[i]]
            if last in ("tens", "hyphen") and value < 10 and current.group is not None and current.group % 10 == 0:
                current.group += value  # "twenty-first"
            elif last in ("mult", "scale", "and") and value < 100:
                current.group = (current.group or 0.0) + value  # "one hundred and first"
            elif last in ("unit", "tens", "num") and value >= 100:
                current.group *= value  # "five hundredth"
            else:
                begin(i).group = value
            current.ordinal = True
            consumed(i, "ordword")
            close()
        else:
            close()
        i += 1
    close()
    # Scales applied to a long digit run ("999…9 billion billion") can still overflow.
    return [n for n in found if math.isfinite(n.value) and (n.value_max is None or math.isfinite(n.value_max))]


# Words for parse_number, split the way spaCy's tokenizer splits them; anything unexpected
# becomes a word of its own, so it breaks the number instead of being skipped.
_WORDS = re.compile(
    rf"\d+/\d+|\d*[{''.join(_VULGAR_FRACTIONS)}]|(?<![\w.])[-+]?\d[\d,]*(?:\.\d+)?[a-z]*|\.\d+|[a-z]+|[-–]|\S"
)


def parse_number(text: str) -> float | None:
    """The value of one number phrase; None when it is not exactly one number.

    "7,000" -> 7000, "2.5 million" -> 2500000, "two" -> 2, "a thousand" -> 1000,
    "twenty-one" -> 21, "1,464" -> 1464, "36th" -> 36, "thousands" -> 1000 (the scale of a
    vague plural), "half a million" -> 500000, "minus ten" -> -10. Units and qualifiers are
    not part of a number: "$5", "5%" and "over 7,000" give None.
    """
    words = _WORDS.findall(text.strip().lower())
    if not words:
        return None
    found = _segment(words)
    if len(found) == 1 and found[0].start == 0 and found[0].end == len(words):
        return found[0].value
    return None


# --- choosing sentences -------------------------------------------------------------------

_NUMBER_WORDS = frozenset(
    [*_UNITS, *_TENS, *_MULTIPLIERS, *_SCALES, *_PLURALS, *_ORDINAL_WORDS, "half", "noon", "midnight"]
) - {"tens"}
_NUMERIC_LABELS = frozenset({"CARDINAL", "MONEY", "PERCENT", "QUANTITY", "ORDINAL"})


_ASCII_DIGIT = re.compile(r"[0-9]")


def _has_digit(text: str) -> bool:
    """A digit (``str.isdigit``: superscripts too) or a vulgar fraction in ``text``."""
    if text.isascii():  # nearly every token: one C-level search
        return _ASCII_DIGIT.search(text) is not None
    return any(char.isdigit() or char in _VULGAR_FRACTIONS for char in text)


def _mentions_number(token: Token) -> bool:
    # DATE/TIME entities are left out on purpose: "Monday", "weeks", "yesterday" hold no number,
    # and a date or time with one ("March 9", "5am") is caught by its digits or number word.
    return _has_digit(token.text) or token.lower_ in _NUMBER_WORDS or token.ent_type_ in _NUMERIC_LABELS


# Where a Doc keeps its text once known: ``Doc.text`` joins every token anew on each access
# (~0.3 ms for a 640-word article), and an article's text is read by several steps.
_TEXT_KEY = "newsbeam_text"


def remember_text(doc: Doc, text: str) -> Doc:
    """Record ``text`` as ``doc``'s text (the string the Doc was made from; spaCy's tokenizer
    keeps it exactly, so it equals ``doc.text``); returns the Doc."""
    doc.user_data[_TEXT_KEY] = text
    return doc


def doc_text(doc: Doc) -> str:
    """``doc.text``, built at most once per Doc."""
    text = doc.user_data.get(_TEXT_KEY)
    if text is None:
        text = doc.user_data[_TEXT_KEY] = doc.text
    return text


def _number_token_starts(doc: Doc, text: str) -> list[int]:
    """Start offsets of the doc's tokens that ``_mentions_number``, in order.

    Read from the Doc's attribute arrays rather than token by token: a loop over Token objects
    took ~0.3-0.6 ms for a 1,100-token article (a Python object and three strings per token). A
    token has a digit if a digit of the text lies in it (tokens cover every character that is
    not whitespace); number words and numeric entity labels are compared as string ids.
    """
    if not len(doc):
        return []
    import numpy as np
    from spacy.attrs import ENT_TYPE, IDX, LOWER

    columns = doc.to_array([IDX, LOWER, ENT_TYPE]).view(np.uint64)
    starts = columns[:, 0].astype(np.int64)
    marked = _among(columns[:, 1], _string_ids(doc.vocab, _NUMBER_WORDS))
    marked |= _among(columns[:, 2], _string_ids(doc.vocab, _NUMERIC_LABELS))
    digits = np.array(_digit_positions(text), dtype=np.int64)
    if len(digits):
        marked[np.searchsorted(starts, digits, side="right") - 1] = True
    return starts[marked].tolist()


def _among(values, sorted_ids):
    """Which of ``values`` are in ``sorted_ids`` (np.isin, ~4x faster for these sizes)."""
    import numpy as np

    positions = np.searchsorted(sorted_ids, values)
    positions[positions == len(sorted_ids)] = 0
    return sorted_ids[positions] == values


def _digit_positions(text: str) -> list[int]:
    """Offsets of the characters ``_has_digit`` counts: 0-9 found by one regex search, and
    among the few non-ASCII characters (quotes, dashes) those ``str.isdigit`` accepts
    (superscripts, other scripts' digits) and the vulgar fractions."""
    positions = [match.start() for match in _ASCII_DIGIT.finditer(text)]
    if not text.isascii():
        positions += [
            match.start()
            for match in _NON_ASCII.finditer(text)
            if match.group().isdigit() or match.group() in _VULGAR_FRACTIONS
        ]
        positions.sort()
    return positions


_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def _string_ids(vocab, words: frozenset[str]):
    """The ids ``words`` have in ``vocab``'s string store, as a sorted array (cached: an id is
    a string's hash, or for spaCy's own symbols such as entity labels a fixed small number)."""
    ids = _STRING_IDS.get(words)
    if ids is None:
        import numpy as np

        ids = _STRING_IDS[words] = np.array(sorted(vocab.strings[word] for word in words), dtype=np.uint64)
    return ids


_STRING_IDS: dict[frozenset[str], object] = {}


def sentences_with_numbers(doc: Doc) -> list[tuple[int, int]]:
    """Char spans (start, end) of the doc's sentences that mention a number, in text order.

    A number is digits, a number word ("two", "a thousand", "dozens", "thousands", "first",
    "noon") or a CARDINAL/MONEY/PERCENT/QUANTITY/ORDINAL entity. Sentences come from
    ``doc.sents`` (the ``senter`` component is enough) and are cut again at line breaks,
    because ``senter`` often runs on across paragraphs; without sentence boundaries each line
    is a sentence. Spans are stripped of surrounding whitespace, so ``doc.text[start:end]``
    is the exact text to parse.
    """
    text = doc_text(doc)
    number_starts = _number_token_starts(doc, text)
    if not number_starts:
        return []
    if doc.has_annotation("SENT_START"):
        sentence_bounds = [(sent.start_char, sent.end_char) for sent in doc.sents]
    else:
        sentence_bounds = [(0, len(text))]
    spans = []
    for sentence_start, sentence_end in sentence_bounds:
        piece_start = sentence_start
        while piece_start < sentence_end:
            line_end = text.find("\n", piece_start, sentence_end)
            piece_end = sentence_end if line_end == -1 else line_end
            start, end = _strip_bounds(text, piece_start, piece_end)
            first = bisect.bisect_left(number_starts, start)
            if start < end and first < len(number_starts) and number_starts[first] < end:
                spans.append((start, end))
            piece_start = piece_end + 1
    return spans


def _strip_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


# --- reading one parsed sentence --------------------------------------------------------------

# Longest phrases first; matched against the words right before the number.
_QUALIFIER_PHRASES: list[tuple[tuple[str, ...], str]] = sorted(
    [
        (("more", "than"), "more_than"),
        (("over",), "more_than"),
        (("above",), "more_than"),
        (("upwards", "of"), "more_than"),
        (("upward", "of"), "more_than"),
        (("in", "excess", "of"), "more_than"),
        (("greater", "than"), "more_than"),
        (("at", "least"), "at_least"),
        (("a", "minimum", "of"), "at_least"),
        (("no", "fewer", "than"), "at_least"),
        (("no", "less", "than"), "at_least"),
        (("not", "less", "than"), "at_least"),
        (("as", "few", "as"), "at_least"),
        (("between",), "at_least"),  # its "and <number>" partner becomes at_most
        (("up", "to"), "at_most"),
        (("at", "most"), "at_most"),
        (("no", "more", "than"), "at_most"),
        (("not", "more", "than"), "at_most"),
        (("a", "maximum", "of"), "at_most"),
        (("as", "many", "as"), "at_most"),
        (("as", "much", "as"), "at_most"),
        (("less", "than"), "less_than"),
        (("fewer", "than"), "less_than"),
        (("under",), "less_than"),
        (("below",), "less_than"),
        (("about",), "approx"),
        (("around",), "approx"),
        (("some",), "approx"),
        (("nearly",), "approx"),
        (("almost",), "approx"),
        (("roughly",), "approx"),
        (("approximately",), "approx"),
        (("approx",), "approx"),
        (("approx", "."), "approx"),
        (("circa",), "approx"),
        (("an", "estimated"), "approx"),
        (("estimated",), "approx"),
        (("close", "to"), "approx"),
        (("nearly", "all"), "approx"),
    ],
    key=lambda phrase: -len(phrase[0]),
)
_TRAILING_QUALIFIERS = {
    ("or", "more"): "at_least",
    ("or", "so"): "approx",
    ("or", "fewer"): "at_most",
    ("or", "less"): "at_most",
    ("-", "odd"): "approx",
    ("+",): "at_least",
    ("-", "plus"): "at_least",
}

_AM_PM = {"am", "pm", "a.m.", "p.m.", "a.m", "p.m"}
_CLOCK_WORDS = {"noon": 12.0, "midday": 12.0, "midnight": 0.0}
_MONTHS = {
    "january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
    "november", "december", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
}  # fmt: skip
_DATE_UNITS = {"day", "week", "fortnight", "month", "year", "decade", "century"}
_TIME_UNITS = {"second", "minute", "min", "hour", "hr", "hrs"}
_PERCENT_WORDS = {"%", "percent", "pct", "percents", "percentage"}
_CURRENCY_SYMBOLS = {"$", "£", "€", "¥", "₹", "₽", "₴", "us$", "a$", "c$", "hk$", "nz$", "r$", "rs", "rs."}
_DOLLAR_PREFIX = re.compile(r"^[a-z]{1,3}\$$")  # "US$", "S$", "Mex$", "usd$"
_CURRENCY_CODES = {
    "usd", "eur", "gbp", "jpy", "cny", "rmb", "rub", "uah", "inr", "chf", "cad", "aud", "nzd", "hkd", "sgd", "sek",
    "nok", "dkk", "pln", "zar", "brl", "mxn", "krw", "ils", "sar", "aed", "try", "btc",
}  # fmt: skip
# Codes that are also English words count only in upper case ("RUB 50", not "rub 2 tablespoons").
_CURRENCY_CODES_UPPER_ONLY = {"cad", "rub", "try"}
_CURRENCY_WORDS = {
    "dollar": "$", "euro": "€", "pound": "£", "sterling": "£", "yen": "¥", "yuan": "CNY", "renminbi": "CNY",
    "rouble": "RUB", "ruble": "RUB", "hryvnia": "UAH", "hryvnias": "UAH", "hryvnya": "UAH", "rupee": "INR",
    "franc": "CHF", "shekel": "ILS", "lira": "TRY", "zloty": "PLN", "rand": "ZAR", "won": "KRW", "naira": "NGN",
    "riyal": "SAR", "dirham": "AED", "baht": "THB", "ringgit": "MYR", "rupiah": "IDR", "peso": "peso", "dinar": "dinar",
    "krona": "krona", "krone": "krone", "real": "BRL", "reais": "BRL", "bitcoin": "BTC", "cent": "¢", "penny": "p",
    "pence": "p", "markka": "FIM", "guilder": "NLG", "peseta": "ESP", "kuna": "HRK", "forint": "HUF",
}  # fmt: skip
# "420 million Finnish markka", "125 million Australian dollars", "10 Swiss francs".
_NATIONAL_CURRENCIES = {
    ("us", "dollar"): "USD", ("u.s.", "dollar"): "USD", ("american", "dollar"): "USD",
    ("australian", "dollar"): "AUD", ("canadian", "dollar"): "CAD", ("singapore", "dollar"): "SGD",
    ("taiwan", "dollar"): "TWD", ("zimbabwean", "dollar"): "ZWL", ("swiss", "franc"): "CHF",
    ("french", "franc"): "FRF", ("turkish", "lira"): "TRY", ("egyptian", "pound"): "EGP",
    ("chinese", "yuan"): "CNY", ("japanese", "yen"): "JPY", ("indian", "rupee"): "INR",
    ("pakistani", "rupee"): "PKR", ("sri", "rupee"): "LKR", ("swedish", "krona"): "SEK",
    ("norwegian", "krone"): "NOK", ("danish", "krone"): "DKK", ("mexican", "peso"): "MXN",
    ("argentine", "peso"): "ARS", ("philippine", "peso"): "PHP", ("south", "rand"): "ZAR",
    ("finnish", "markka"): "FIM", ("dutch", "guilder"): "NLG", ("german", "mark"): "DEM",
    ("spanish", "peseta"): "ESP", ("russian", "rouble"): "RUB", ("russian", "ruble"): "RUB",
}  # fmt: skip
_QUANTITY_UNITS = {
    "km": "km", "kms": "km", "kilometre": "km", "kilometer": "km", "m": "m", "metre": "m", "meter": "m",
    "cm": "cm", "mm": "mm", "mile": "mile", "mi": "mile", "ft": "ft", "foot": "ft", "feet": "ft",
    "inch": "in", "yard": "yd", "kg": "kg", "kilogram": "kg", "kilo": "kg", "g": "g", "gram": "g",
    "tonne": "t", "ton": "t", "lb": "lb", "lbs": "lb", "litre": "l", "liter": "l", "gallon": "gal",
    "barrel": "bbl", "bpd": "bbl/day", "hectare": "ha", "ha": "ha", "acre": "acre", "mph": "mph", "km/h": "km/h",
    "kph": "km/h", "mw": "MW", "gw": "GW", "kw": "kW", "kwh": "kWh", "mwh": "MWh", "gwh": "GWh",
    "degree": "°", "°": "°", "°c": "°C", "°f": "°F", "celsius": "°C", "fahrenheit": "°F", "km2": "km2", "sq": "sq",
    "t": "t", "mg": "mg", "ml": "ml", "cl": "cl", "dl": "dl", "nm": "nm", "cup": "cup", "tbsp": "tbsp",
    "tsp": "tsp", "teaspoon": "tsp", "tablespoon": "tbsp", "ounce": "oz", "oz": "oz", "pint": "pt",
}  # fmt: skip
# Symbols with an SI prefix, as written ("GHz", "mGy", "TeV", "MB", "kWh"), and unit words with a
# prefix ("nanometres" -> "nm", "megawatts" -> "MW"). A bare one-letter symbol other than those
# in _QUANTITY_UNITS is not trusted: "5 A", "Plan B".
_SI_SYMBOL = re.compile(
    r"^(?:[YZEPTGMkhdcmµμn]|da)(?:m|g|s|A|K|mol|cd|Hz|N|Pa|J|W|Wh|V|Ω|Gy|Sv|Bq|L|l|t|eV|B|bit)$"
    r"|^(?:Hz|Pa|eV|Wh|Gy|Sv)$"
)
_SI_PREFIXES = {
    "nano": "n", "micro": "µ", "milli": "m", "centi": "c", "deci": "d", "kilo": "k", "mega": "M", "giga": "G",
    "tera": "T", "peta": "P", "exa": "E",
}  # fmt: skip
_SI_BASES = {
    "metre": "m", "meter": "m", "gram": "g", "gramme": "g", "litre": "l", "liter": "l", "watt": "W", "byte": "B",
    "hertz": "Hz", "joule": "J", "volt": "V", "second": "s", "tonne": "t", "electronvolt": "eV", "watthour": "Wh",
}  # fmt: skip
_SI_WORD = re.compile(rf"^({'|'.join(_SI_PREFIXES)})-?({'|'.join(_SI_BASES)})s?$")
# Named entities whose digits belong to a name ("Boeing 737", "Apollo 11"), not to a number.
_NAME_LABELS = {"PERSON", "ORG", "GPE", "LOC", "FAC", "PRODUCT", "EVENT", "WORK_OF_ART", "LAW", "NORP", "LANGUAGE"}
# "one" is a pronoun after these ("no one", "the one who", "every one").
_PRONOUN_ONE_BEFORE = {"no", "the", "any", "every", "each", "this", "that", "which", "someone", "anyone", "little"}
# Heads a count may sit under without leaving its noun phrase ("many of the 400,000 residents").
_PARTITIVES = {
    "many", "some", "most", "all", "none", "few", "several", "more", "half", "majority", "minority", "rest",
    "dozens", "hundreds", "thousands", "millions", "billions", "dozen", "hundred", "thousand", "million", "billion",
    "total", "number", "each", "both",
}  # fmt: skip
# Verbs that report or raise another verb's subject: "are believed to have been killed" -> kill.
# Partitives that take a part of the count ("many of the 400,000"), unlike "a total of 300".
_SUBSET_PARTITIVES = _PARTITIVES - {"all", "total", "number", "each", "both"}
_RAISING_VERBS = {
    "believe", "think", "say", "report", "fear", "estimate", "expect", "know", "understand", "presume",
    "suppose", "seem", "appear", "claim", "allege", "consider", "assume", "feel", "confirm", "rumour", "rumor",
}  # fmt: skip
_KINDS_WITH_VERB = {"count", "money", "percent", "quantity"}
_LONGEST_QUALIFIER = max(len(phrase) for phrase, _ in _QUALIFIER_PHRASES)
_LONGEST_TRAILING_QUALIFIER = max(len(phrase) for phrase in _TRAILING_QUALIFIERS)
_QUALIFIER_WORDS = {word for phrase, _ in _QUALIFIER_PHRASES for word in phrase} | {"or", "so", "odd", "plus", "-"}


# Lemmas come from the lemmatizer component when it ran. The enrich stage skips it (it costs as
# much as the parser) and registers this token extension instead, so that only the few tokens
# read here (counted nouns, verbs) are lemmatised.
LAZY_LEMMA = "newsbeam_lemma"


def _lemma(token: Token) -> str:
    lemma = token.lemma_ or (token._.get(LAZY_LEMMA) if token.has_extension(LAZY_LEMMA) else "")
    return (lemma or token.text).lower()


def _lower_texts(tokens: list[Token], start: int, end: int) -> tuple[str, ...]:
    return tuple(token.lower_ for token in tokens[max(start, 0) : end])


def _is_month(token: Token | None) -> bool:
    if token is None or not token.text[:1].isupper() or token.lower_.rstrip(".") not in _MONTHS:
        return False
    return token.lower_ != "may" or token.ent_type_ == "DATE"  # "May" is also a verb


def _is_currency(token: Token | None) -> bool:
    """A currency symbol ("$", "US$", "₿": any Unicode currency sign) or code ("USD", "usd")."""
    if token is None:
        return False
    lower = token.lower_
    if lower in _CURRENCY_SYMBOLS or _DOLLAR_PREFIX.match(lower):
        return True
    if len(lower) == 1 and unicodedata.category(lower) == "Sc":
        return True
    return lower in _CURRENCY_CODES and (token.is_upper or lower not in _CURRENCY_CODES_UPPER_ONLY)


def _currency_unit(token: Token) -> str:
    if token.lower_ in _CURRENCY_CODES:
        return "CNY" if token.lower_ == "rmb" else token.text.upper()
    if token.lower_ in ("rs", "rs."):
        return "INR"
    return _CURRENCY_WORDS.get(_lemma(token), token.text)


def _money_context(tokens: list[Token], start: int) -> bool:
    """Whether the number starting at ``start`` is an amount of money (so "m" means million)."""
    return _is_currency(tokens[start - 1] if start > 0 else None) or tokens[start].ent_type_ == "MONEY"


def _syntactic_head(tokens: list[Token], start: int, end: int) -> Token:
    """The token of tokens[start:end] whose head lies outside it (the last one if several)."""
    inside = range(tokens[start].i, tokens[end - 1].i + 1)
    heads = [token for token in tokens[start:end] if token.head.i not in inside or token.head.i == token.i]
    return heads[-1] if heads else tokens[end - 1]


def _of_object(token: Token) -> Token | None:
    """The noun in "<token> of the <noun>" ("two of the tragedies", "40% of residents")."""
    for child in token.children:
        if child.dep_ == "prep" and child.lower_ == "of":
            for grandchild in child.children:
                if grandchild.dep_ == "pobj" and grandchild.pos_ in ("NOUN", "PROPN"):
                    return grandchild
    return None


def _modified_noun(head: Token, inside: range, allow_names: bool = False) -> Token | None:
    """The noun a number modifies ("400,000 residents", "10 and 20 people"), or None.

    A singular proper noun is a name, not something counted ("20 Chris Buescher" in a
    results table); ordinals may modify one ("the 36th Marine Brigade").
    """
    while head.dep_ == "conj" and head.head.i not in inside and head.head.pos_ == "NUM":
        head = head.head  # "10 and 20 people": the second number shares the first's noun
    if head.dep_ in ("nummod", "quantmod", "amod", "compound", "nmod", "det") and head.head.i not in inside:
        noun = head.head
        if noun.pos_ == "NOUN" or (noun.pos_ == "PROPN" and (allow_names or noun.tag_ == "NNPS")):
            return noun
    return None


def _governing_verb(start: Token, own_tokens: set[int]) -> tuple[Token | None, Token | None, bool]:
    """Walk up from ``start`` to the verb of its clause, not looking past another noun phrase.

    Returns (the nearest VERB, the nearest VERB or AUX, whether the walk passed through a
    partitive that is not the number itself). The first is the ``verb`` column, None when a
    copula heads the clause ("20 are dead" in "three remain missing and 20 are dead" has no
    verb, not "remain"); the second is the clause the event is read from ("are" + "dead");
    the flag says the count is the whole a part is taken from ("many of the 400,000
    residents remain trapped" is not a count of trapped people).
    ``own_tokens`` are the number's own tokens and unit, which the walk may pass through.
    """
    token, clause, partitive = start, None, False
    while token.head.i != token.i:
        head = token.head
        if head.pos_ == "AUX" and clause is None:
            clause = head
        if head.pos_ == "VERB":
            if clause is not None:
                return None, clause, partitive
            verb = _through_raising(head, token)
            return verb, verb, partitive
        if head.i not in own_tokens and (head.lower_ in _SUBSET_PARTITIVES or head.like_num) and clause is None:
            partitive = True
        if (
            head.pos_ in ("NOUN", "PROPN", "PRON")
            and head.i not in own_tokens
            and head.lower_ not in _PARTITIVES
            and not head.like_num
        ):
            return None, clause, partitive
        token = head
    return None, clause, partitive


def _through_raising(verb: Token, subject: Token) -> Token:
    """From "are believed / said / feared" down to the verb that says what happened."""
    while _lemma(verb) in _RAISING_VERBS and subject.dep_ in ("nsubj", "nsubjpass"):
        complements = [child for child in verb.children if child.dep_ in ("xcomp", "ccomp") and child.pos_ == "VERB"]
        if not complements:
            break
        verb = complements[0]
    return verb


@dataclass
class _Reading:
    kind: str
    unit: str | None = None
    text_start: int = 0  # token range of the row's text
    text_end: int = 0
    unit_token: Token | None = None  # "%" / "km" / "dollars": where "of <noun>" hangs
    value: float | None = None  # overrides the parsed value (clock times)
    counted: Token | None = None


def _read_kind(tokens: list[Token], number: _Found, head: Token) -> _Reading:
    """What a number is (kind, unit) from its neighbours, its parse and spaCy's entity label."""
    start, end = number.start, number.end
    before = tokens[start - 1] if start > 0 else None
    after = tokens[end] if end < len(tokens) else None
    after_lower = after.lower_ if after is not None else ""
    label = tokens[start].ent_type_
    reading = _Reading("count", text_start=start, text_end=end)
    inside = range(tokens[start].i, tokens[end - 1].i + 1)
    noun = _modified_noun(head, inside, allow_names=number.ordinal)
    # Units and durations may be hyphenated to the number: "22-inch", "5-year-old".
    unit_index = end + 1 if after_lower == "-" and not after.whitespace_ and end + 1 < len(tokens) else end
    integer = number.value == int(number.value) and not any(
        _classify(t.lower_)[0] == "numscale" for t in tokens[start:end]
    )

    if (glued := _glued_unit(tokens[end - 1].text)) is not None:  # "25lbs"
        reading.kind, reading.unit, reading.unit_token = "quantity", glued[1], tokens[end - 1]
        return reading
    if number.clock:  # "10:30", "noon": the value is already in hours
        reading.kind, reading.value = "time", number.value
        if after_lower in _AM_PM:
            reading.value = _clock_hour(number.value, after_lower)
            reading.text_end = end + 1
        return reading
    if after_lower in _AM_PM or (after_lower in _CLOCK_WORDS and number.value == 12):
        reading.kind, reading.text_end = "time", end + 1
        reading.value = _clock_hour(_decimal_minutes(number.value), after_lower)
        return reading
    if number.decade:
        reading.kind = "date"
        return reading
    if integer and (_is_month(before) or _is_month(after)):  # "March 9", "9 March", "March 2022"
        reading.kind = "date"
        if _is_month(before):
            reading.text_start = start - 1
        else:
            reading.text_end = end + 1
        return reading
    if after_lower in _PERCENT_WORDS or (
        after_lower == "per" and end + 1 < len(tokens) and tokens[end + 1].lower_ == "cent"
    ):
        reading.kind, reading.unit = "percent", "%"
        reading.unit_token = tokens[end + 1] if after_lower == "per" else after
        following = tokens[reading.unit_token.i + 1] if reading.unit_token.i + 1 < len(tokens) else None
        if following is not None and following.lower_ in ("point", "points"):
            reading.unit, reading.unit_token = "pp", following  # "2 percentage points": a difference
        return reading
    if _is_currency(before):
        reading.kind, reading.unit = "money", _currency_unit(before)
        reading.unit_token = head
        return reading
    symbol_after = (
        _is_currency(after)
        and not number.ordinal
        and not (end + 1 < len(tokens) and _classify(tokens[end + 1].lower_)[0] in ("num", "numscale"))
    )  # "10 €", but not the "£" of "the first £100 player"
    if after is not None and (
        symbol_after or (_lemma(after) in _CURRENCY_WORDS and (_lemma(after) != "pound" or label == "MONEY"))
    ):
        reading.kind, reading.unit, reading.unit_token = "money", _currency_unit(after), after
        return reading
    if (national := _national_currency(tokens, end)) is not None:
        reading.kind, reading.unit, reading.unit_token = "money", *national
        return reading
    if number.ordinal:
        reading.kind = "ordinal"
        reading.counted = noun
        return reading
    if unit_index < len(tokens):
        found_unit = _quantity_unit(tokens, unit_index)
        if found_unit is not None:
            reading.kind, reading.unit, reading.unit_token = "quantity", found_unit[0], tokens[found_unit[1]]
            return reading
    unit_word = tokens[unit_index] if unit_index < len(tokens) and tokens[unit_index].pos_ == "NOUN" else None
    duration = noun if noun is not None else unit_word
    if duration is not None and _lemma(duration) in _DATE_UNITS | _TIME_UNITS:
        reading.kind = "date" if _lemma(duration) in _DATE_UNITS else "time"
        reading.counted = duration
        return reading
    if noun is None and integer and 1800 <= number.value <= 2100 and tokens[start].text.isdigit():
        reading.kind = "date"  # a year: four digits, no thousands separator, counting nothing
        return reading
    entity = _entity_words(tokens[start])
    if label == "MONEY" and entity - _NUMBER_WORDS - _QUALIFIER_WORDS:
        # Only with a currency word this module does not know ("100 shekels"); a bare
        # "2.5 million" labelled MONEY is the model's mistake and stays a count.
        reading.kind, reading.unit_token = "money", head
    elif label == "PERCENT":
        reading.kind, reading.unit = "percent", "%"
    elif label == "QUANTITY" and noun is not None:
        reading.kind, reading.unit, reading.unit_token = "quantity", _lemma(noun), noun
        return reading
    elif label in ("DATE", "TIME") and integer and noun is None and number.value <= 31:
        reading.kind = label.lower()
    elif label == "ORDINAL":
        reading.kind = "ordinal"
    reading.counted = noun
    return reading


def _national_currency(tokens: list[Token], end: int) -> tuple[str, Token] | None:
    """(unit, currency word) for "<number> Finnish markka", "<number> Australian dollars"."""
    if end + 1 >= len(tokens):
        return None
    nation, word = tokens[end], tokens[end + 1]
    if nation.lower_ == "sri" or nation.lower_ == "south":  # "Sri Lankan rupees", "South African rand"
        if end + 2 >= len(tokens):
            return None
        word = tokens[end + 2]
    currency = _lemma(word)
    if currency not in _CURRENCY_WORDS and currency != "mark":
        return None
    unit = _NATIONAL_CURRENCIES.get((nation.lower_, currency))
    if unit is None and not (nation.ent_type_ == "NORP" and currency in _CURRENCY_WORDS):
        return None
    return unit or _CURRENCY_WORDS[currency], word


def _entity_words(token: Token) -> set[str]:
    """Lower-cased words of the named entity ``token`` is in (empty when it is in none)."""
    if not token.ent_type_:
        return set()
    start = token.i
    while start > 0 and token.doc[start].ent_iob_ == "I":
        start -= 1
    end = token.i + 1
    while end < len(token.doc) and token.doc[end].ent_iob_ == "I":
        end += 1
    return {
        word.lower_
        for word in token.doc[start:end]
        if not word.is_punct and not word.like_num and not _classify(word.lower_)[0]
    }


def _quantity_unit(tokens: list[Token], index: int) -> tuple[str, int] | None:
    """(unit, index of its last token) for a unit starting at tokens[index], else None."""
    token = tokens[index]
    text = token.text.rstrip(".") or token.text  # "2 in." at the end of a sentence
    lower = text.lower()
    following = tokens[index + 1].lower_ if index + 1 < len(tokens) else ""
    if lower == "pounds" and token.ent_type_ != "MONEY":
        return "lb", index
    if lower in ("square", "sq") and following:
        unit = _QUANTITY_UNITS.get(following) or _QUANTITY_UNITS.get(_lemma(tokens[index + 1]))
        return (f"{unit}2", index + 1) if unit else None
    if lower in ("°", "degree", "degrees") and following in ("c", "f", "celsius", "fahrenheit"):
        return ("°C" if following.startswith("c") else "°F"), index + 1
    if lower == "m" and token.ent_type_ == "MONEY":
        return None
    unit = _QUANTITY_UNITS.get(lower) or (_QUANTITY_UNITS.get(_lemma(token)) if len(lower) > 2 else None)
    if unit is None and _SI_SYMBOL.match(text):
        unit = text
    if unit is None and (match := _SI_WORD.match(lower)):
        unit = _SI_PREFIXES[match[1]] + _SI_BASES[match[2]]
    return (unit, index) if unit else None


def _decimal_minutes(value: float) -> float:
    """ "10.30" before "am" is half past ten (10.5), not 10.3."""
    hour, fraction = divmod(value, 1)
    minutes = round(fraction * 100)
    return hour + minutes / 60 if fraction and minutes < 60 else value


def _clock_hour(hours: float, marker: str) -> float:
    """Hour of day on a 24-hour clock: "5pm" -> 17, "12am" -> 0, "12 noon" -> 12."""
    if marker in _CLOCK_WORDS:
        return _CLOCK_WORDS[marker]
    if marker.startswith("p") and hours < 12:
        return hours + 12
    if marker.startswith("a") and 12 <= hours < 13:
        return hours - 12
    return hours


def _qualifier(tokens: list[Token], start: int, end: int) -> tuple[str, bool]:
    """The normalised qualifier of tokens[start:end] and whether it came from "between"."""
    before = start - 1 if start > 0 and _is_currency(tokens[start - 1]) else start
    # The words around the number, lower-cased once: the phrases are compared with their ends
    # (building the words anew for each of the ~50 phrases was a tenth of the number rows' time).
    preceding = _lower_texts(tokens, before - _LONGEST_QUALIFIER, before)
    for phrase, qualifier in _QUALIFIER_PHRASES:
        if len(phrase) <= len(preceding) and preceding[len(preceding) - len(phrase) :] == phrase:
            return qualifier, phrase == ("between",)
    following = _lower_texts(tokens, end, end + _LONGEST_TRAILING_QUALIFIER)
    for phrase, qualifier in _TRAILING_QUALIFIERS.items():
        if following[: len(phrase)] == phrase:
            return qualifier, False
    return "exact", False


def _is_non_number(tokens: list[Token], number: _Found) -> bool:
    """Words that look like numbers here but are not: pronoun "one", adverbs "first", names."""
    start, end = number.start, number.end
    first = tokens[start]
    before = tokens[start - 1].lower_ if start > 0 else ""
    after = tokens[end].lower_ if end < len(tokens) else ""
    if end - start == 1:
        if first.lower_ == "one" and (first.tag_ != "CD" or before in _PRONOUN_ONE_BEFORE or after == "another"):
            return True
        if first.lower_ in _ORDINAL_WORDS and (first.dep_ == "advmod" or first.pos_ in ("NOUN", "VERB")):
            return True  # "first reported", "a second"
        if first.lower_ in ("half", "halves") and (before in _ORDINAL_WORDS or before in ("the", "a", "other")):
            return True  # "the second half", "a half" on its own
        if first.lower_ == "half" and end < len(tokens) and tokens[end].tag_ == "NN":
            return True  # "half time", "a half century": a compound noun
    next_to_currency = _is_currency(tokens[start - 1] if start > 0 else None) or (
        end < len(tokens) and _is_currency(tokens[end])
    )
    named = [token for token in tokens[start:end] if token.ent_type_ in _NAME_LABELS]
    name_before = start > 0 and tokens[start - 1].pos_ == "PROPN" and tokens[start - 1].ent_type_ in _NAME_LABELS
    if not number.ordinal and not next_to_currency and named and (_entity_words(named[0]) or name_before):
        return True  # "Boeing 737", "Apollo 11" (not a bare "-1" or "½" the model calls an ORG or LOC)
    if (
        start > 1
        and tokens[start - 1].text == "-"
        and not tokens[start - 1].whitespace_
        and not tokens[start - 2].whitespace_
    ):
        return tokens[start - 2].is_alpha and not tokens[start - 2].like_num  # "MiG-29" split by the tokenizer
    return False


def _context(tokens: list[Token], index: int, sentence: Doc, sentence_text: str) -> str:
    """The (inner) sentence holding token ``index``; ``sentence_text`` is ``sentence.text``,
    passed in because ``Doc.text`` rebuilds the string from every token on each access."""
    if sentence.has_annotation("SENT_START"):
        inner = tokens[index].sent
        return sentence_text[inner.start_char : inner.end_char].strip()
    return sentence_text.strip()


# --- what a count is about: events and people ---------------------------------------------------

# The event a verb reports, by lemma. "kill" covers every death ("died", "perished"), the way
# casualty tallies count them; "wound" every injury. Verbs outside this table give no event.
_VERB_EVENTS = {
    **dict.fromkeys(
        ["kill", "die", "perish", "murder", "slay", "massacre", "execute", "slaughter", "assassinate", "drown",
         "behead"], "kill"),
    **dict.fromkeys(["wound", "injure", "hurt", "maim"], "wound"),
    **dict.fromkeys(["disappear", "vanish"], "missing"),
    "trap": "trap",
    "evacuate": "evacuate",
    **dict.fromkeys(["displace", "flee", "escape", "uproot"], "displace"),
    **dict.fromkeys(["deport", "expel"], "deport"),
    **dict.fromkeys(["shelter", "hide", "house"], "shelter"),
    **dict.fromkeys(["rescue", "save"], "rescue"),
    **dict.fromkeys(["release", "free", "exchange", "swap"], "release"),
    **dict.fromkeys(["surrender", "capitulate"], "surrender"),
    "arrest": "arrest",
    **dict.fromkeys(["detain", "capture", "abduct", "kidnap", "imprison", "jail"], "detain"),
    **dict.fromkeys(["protest", "demonstrate", "rally"], "protest"),
}  # fmt: skip
# States after "be", "remain", "go", ...: "20 people are dead", "remain trapped", "went missing".
_STATE_VERBS = {"be", "remain", "stay", "go", "lie", "become", "end", "leave"}
_STATE_EVENTS = {
    "dead": "kill", "killed": "kill", "missing": "missing", "unaccounted": "missing", "injured": "wound",
    "wounded": "wound", "hurt": "wound", "trapped": "trap", "homeless": "displace", "displaced": "displace",
    "detained": "detain", "imprisoned": "detain", "captive": "detain", "evacuated": "evacuate",
}  # fmt: skip
# Counted nouns that name the event's people: "20 deaths", "300 refugees", "5 casualties".
# "casualty" is its own event: casualty counts mix the killed and the wounded.
_NOUN_EVENTS = {
    "death": "kill", "fatality": "kill", "dead": "kill", "body": "kill", "casualty": "casualty",
    "injury": "wound", "wounded": "wound", "injured": "wound", "evacuee": "evacuate", "refugee": "displace",
    "idp": "displace", "displaced": "displace", "deportee": "deport", "detainee": "detain", "prisoner": "detain",
    "hostage": "detain", "captive": "detain", "arrest": "arrest", "protester": "protest", "protestor": "protest",
    "demonstrator": "protest", "missing": "missing",
}  # fmt: skip
# Nouns for an event done to "<count>": "the death of 20,000 residents", "the evacuation of 7,000".
_NOMINAL_EVENTS = {
    "death": "kill", "killing": "kill", "murder": "kill", "massacre": "kill", "execution": "kill",
    "injury": "wound", "wounding": "wound", "disappearance": "missing", "evacuation": "evacuate",
    "displacement": "displace", "exodus": "displace", "deportation": "deport", "expulsion": "deport",
    "rescue": "rescue", "release": "release", "surrender": "surrender", "arrest": "arrest",
    "detention": "detain", "capture": "detain", "abduction": "detain", "kidnapping": "detain",
}  # fmt: skip
# Light verbs whose object says the event: "take shelter", "lay down their arms", "take prisoner".
_SHELTER_OBJECTS = {"shelter", "refuge", "cover", "sanctuary"}
_ARMS = {"arm", "arms", "weapon"}
_CAPTIVES = {"prisoner", "hostage", "captive"}
# "forced thousands to leave": the event is the complement's, and a forced leaving is displacement.
_CONTROL_VERBS = {"force", "compel", "order", "oblige", "make", "drive", "push"}
_LEAVING_VERBS = {"leave", "move", "relocate", "go", "abandon"}
# "the death toll rose to 2,300": the count is the toll's.
_TOLL_EVENTS = {"death": "kill", "casualty": "casualty", "injury": "wound"}

#: Every value of the ``event`` column (None aside).
EVENTS = tuple(
    sorted({*_VERB_EVENTS.values(), *_STATE_EVENTS.values(), *_NOUN_EVENTS.values(), *_NOMINAL_EVENTS.values()})
)

# Counted nouns (lemmas, lower case) that are people. Nouns for groups ("family", "unit",
# "household", "crowd") are not: 200 families are not 200 people.
_PEOPLE = frozenset(
    """
    people person persons individual civilian resident inhabitant citizen national local villager townspeople
    man men woman women child children kid baby infant toddler boy girl teenager teen youth adolescent adult
    minor elder pensioner orphan
    soldier serviceman servicemen servicewoman servicemember troop trooper marine sailor airman paratrooper
    fighter combatant militant rebel insurgent guerrilla mercenary conscript recruit reservist volunteer
    officer commander general policeman policemen policewoman police guard guardsman cadet veteran sniper
    refugee evacuee migrant immigrant emigrant asylum-seeker asylum deportee displaced idp
    prisoner detainee hostage captive inmate convict suspect defendant
    protester protestor demonstrator activist striker dissident
    worker employee staff staffer labourer laborer miner farmer fisherman driver pilot crew crewman
    doctor nurse medic paramedic surgeon physician teacher student pupil professor scientist engineer
    journalist reporter correspondent photographer official lawmaker legislator mp senator minister diplomat
    politician voter delegate candidate leader
    patient victim survivor casualty death fatality dead wounded injured missing body
    passenger pilgrim tourist visitor traveller traveler spectator fan worshipper worshiper parishioner
    athlete player member participant customer consumer shopper user subscriber
    american russian ukrainian briton european african asian chinese
    """.split()
)
_PEOPLE_LABELS = {"NORP", "PERSON"}


def _verb_event(verb: Token) -> str | None:
    """The event a verb (with its objects and complements) reports, or None."""
    lemma = _lemma(verb)
    children = list(verb.children)
    objects = {_lemma(child) for child in children if child.dep_ in ("dobj", "attr", "oprd")}
    if lemma in ("take", "seek", "find") and objects & _SHELTER_OBJECTS:
        return "shelter"
    if lemma in ("lay", "put", "throw") and objects & _ARMS:
        return "surrender"
    if lemma == "give" and any(child.dep_ == "prt" and child.lower_ == "up" for child in children):
        return "surrender"
    if lemma in ("take", "hold") and objects & _CAPTIVES:
        return "detain"
    if lemma in _CONTROL_VERBS:
        for child in children:
            if child.dep_ in ("xcomp", "ccomp") and child.pos_ == "VERB":
                return _verb_event(child) or ("displace" if _lemma(child) in _LEAVING_VERBS else None)
    if lemma in _STATE_VERBS:
        for child in children:
            if child.dep_ in ("acomp", "attr", "oprd", "xcomp"):
                state = _STATE_EVENTS.get(child.lower_) or _STATE_EVENTS.get(_lemma(child))
                if state:
                    return state
    if lemma in _VERB_EVENTS:
        return _VERB_EVENTS[lemma]
    for child in children:  # "the death toll rose to 2,300", "the toll is 300"
        if child.dep_ in ("nsubj", "nsubjpass") and _lemma(child) == "toll":
            kinds = [_lemma(word) for word in child.children if word.dep_ in ("compound", "amod", "nmod")]
            return next((_TOLL_EVENTS[kind] for kind in kinds if kind in _TOLL_EVENTS), "kill")
    return None


def _count_event(count: Token, verb: Token | None, clause: Token | None, counted: Token | None) -> str | None:
    """What happened to what is counted, from (in this order) the clause's verb, a participle
    or relative clause on the counted noun ("20 people killed", "those who fled"), the counted
    noun itself ("300 refugees"), and a noun the count is the object of ("the death of 20,000")."""
    for candidate in (clause, verb):
        if candidate is not None and (event := _verb_event(candidate)):
            return event
    if counted is not None:
        for child in counted.children:
            if child.dep_ in ("acl", "relcl") and child.pos_ in ("VERB", "AUX", "ADJ"):
                event = _verb_event(child) or _STATE_EVENTS.get(child.lower_)
            elif child.dep_ == "amod":
                event = _STATE_EVENTS.get(child.lower_)
            else:
                continue
            if event:
                return event
        if event := _NOUN_EVENTS.get(_lemma(counted)):
            return event
    target = counted if counted is not None else count
    if target.dep_ == "pobj" and target.head.lower_ == "of" and target.head.head.pos_ == "NOUN":
        return _NOMINAL_EVENTS.get(_lemma(target.head.head))
    return None


def _counts_people(counted: Token | None, event: str | None) -> bool:
    """Whether what is counted is people: a noun in the people lexicon, a nationality or
    group ("three Ukrainians", spaCy's NORP) or a name; with no noun, the subject of an event
    (every event in EVENTS happens to people: "thousands have died")."""
    if counted is None:
        return event is not None
    return _lemma(counted) in _PEOPLE or counted.lower_ in _PEOPLE or counted.ent_type_ in _PEOPLE_LABELS


# --- dates: resolving a mention against the publication date ------------------------------------

_WEEKDAYS = {day: index for index, day in enumerate("monday tuesday wednesday thursday friday saturday sunday".split())}
_WEEKDAY = re.compile(rf"\b(?:(last|next|this|coming|previous)\s+)?({'|'.join(_WEEKDAYS)})\b")
_RELATIVE_DAY = re.compile(r"\b(yesterday|today|tonight|tomorrow|this (?:morning|afternoon|evening)|last night)\b")
_RELATIVE_DAY_OFFSETS = {"yesterday": -1, "tomorrow": 1, "last night": -1}
_WEEK = re.compile(r"\b(this|last|next|previous)\s+week\b")
_AGO = re.compile(r"^(?P<count>.+?)\s+(?P<unit>day|days|week|weeks)\s+ago\b")
_MONTH_NAME = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?"
    r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_DAY_NUMBER = r"(?:3[01]|[12]\d|0?[1-9])(?:st|nd|rd|th)?"
_EXPLICIT_DATE = re.compile(
    rf"\b(?:{_MONTH_NAME}\s+{_DAY_NUMBER}\b(?:,?\s+(?P<year1>\d{{4}})\b)?"
    rf"|{_DAY_NUMBER}\s+(?:of\s+)?{_MONTH_NAME}(?:,?\s+(?P<year2>\d{{4}})\b)?"
    rf"|(?P<iso>\d{{4}}-\d{{2}}-\d{{2}}))"
)
# Words before a weekday that point forward: "until 5am on Monday", "will meet on Tuesday".
_FUTURE_CUES = {"until", "till", "by", "will", "'ll", "shall", "next", "from", "starting", "before", "deadline"}
_FUTURE_CUE_WINDOW = 6  # tokens before the mention


def _publication_day(published: dt.datetime | dt.date) -> dt.date:
    """The publication date the article's relative dates count from (UTC for aware datetimes)."""
    if isinstance(published, dt.datetime):
        if published.tzinfo is not None:
            published = published.astimezone(dt.timezone.utc)
        return published.date()
    return published


def resolve_date(text: str, published: dt.datetime | dt.date | None, prefer_future: bool = False) -> dt.date | None:
    """The day a date mention names, counted from the publication date; None when it names none.

    Resolves explicit days ("March 9", "9 March 2022", "2022-03-09"), weekdays ("on Monday",
    "last Friday"), "yesterday"/"today"/"tonight"/"tomorrow"/"this morning", "N days/weeks
    ago" and weeks ("this week", "last week": the Monday that starts the week). A month or a
    year alone ("last month", "2014") and durations ("three weeks") name no day and give None.

    Choices, because news is written around its publication day: a day and month without a
    year take the year that puts them nearest the publication date ("until March 21" in an
    article of March 20 is the next day, not a year back); a weekday is the most recent one,
    the publication day itself included ("on Monday" in Monday's paper is that day), or the
    next one with ``prefer_future`` (the caller sets it for "until Monday", "will ... on
    Monday"). Explicit days are parsed by dateparser with ``RELATIVE_BASE`` at the
    publication date and ``PREFER_DATES_FROM='past'``.
    """
    if published is None:
        return None
    base = _publication_day(published)
    lower = " ".join(text.lower().split())
    if match := _EXPLICIT_DATE.search(lower):
        return _explicit_date(match, base)
    if match := _AGO.search(lower):
        count = _count_before(match["count"])
        if count is None or count != int(count):
            return None
        days = int(count) * (7 if match["unit"].startswith("week") else 1)
        try:
            return base - dt.timedelta(days=days)
        except OverflowError:  # "a million days ago" is before year 1: no day
            return None
    if match := _RELATIVE_DAY.search(lower):
        return base + dt.timedelta(days=_RELATIVE_DAY_OFFSETS.get(match[1], 0))
    if match := _WEEKDAY.search(lower):
        return _weekday_date(base, _WEEKDAYS[match[2]], match[1], prefer_future)
    if match := _WEEK.search(lower):
        monday = base - dt.timedelta(days=base.weekday())
        return monday + dt.timedelta(weeks={"last": -1, "previous": -1, "next": 1}.get(match[1], 0))
    return None


def _explicit_date(match: re.Match, base: dt.date) -> dt.date | None:
    try:
        import dateparser
    except ImportError as exc:  # a dependency of the package; a clear message if an install lacks it
        raise ImportError("resolving dates needs dateparser: pip install 'dateparser>=1.2'") from exc

    settings = {
        "RELATIVE_BASE": dt.datetime(base.year, base.month, base.day),
        "PREFER_DATES_FROM": "past",
        "REQUIRE_PARTS": ["day", "month"],
    }
    parsed = dateparser.parse(match[0], languages=["en"], settings=settings)
    if parsed is None:
        return None
    day = parsed.date()
    if match["year1"] or match["year2"] or match["iso"]:
        return day
    candidates = []
    for year in (base.year - 1, base.year, base.year + 1):
        try:
            candidates.append(day.replace(year=year))
        except ValueError:  # February 29
            continue
    return min(candidates, key=lambda candidate: abs(candidate - base)) if candidates else None


def _count_before(words: str) -> float | None:
    """The number that ends ``words``: "more than 50" -> 50, "twenty one" -> 21, "a" -> 1."""
    split = words.split()
    for size in (3, 2, 1):
        tail = " ".join(split[-size:])
        if len(split) >= size and (value := parse_number(tail)) is not None:
            return value
    return 1.0 if split and split[-1] in ("a", "an", "one") else None


def _weekday_date(base: dt.date, weekday: int, modifier: str | None, prefer_future: bool) -> dt.date:
    ahead = (weekday - base.weekday()) % 7
    behind = (base.weekday() - weekday) % 7
    if modifier in ("next", "coming"):
        return base + dt.timedelta(days=ahead or 7)
    if modifier in ("last", "previous"):
        return base - dt.timedelta(days=behind or 7)
    if prefer_future:
        return base + dt.timedelta(days=ahead)
    return base - dt.timedelta(days=behind)


def _points_forward(tokens: list[Token] | Span) -> bool:
    return any(token.lower_ in _FUTURE_CUES for token in tokens)


def date_mentions(doc: Doc, published: dt.datetime | dt.date | None = None) -> list[dict]:
    """Rows of kind ``date`` for the article's date mentions that hold no number.

    ``doc`` is the whole-article Doc of enrich's first pass (NER and sentence boundaries are
    enough). :func:`extract_numbers` gives the mentions with a number ("March 9", "50 days
    ago"); this gives the others ("on Monday", "yesterday", "this week", "this morning"):
    DATE entities, and TIME entities that name a day ("Saturday evening"). A row is made only
    when :func:`resolve_date` finds the day, so without ``published`` there are none.
    ``value`` is None (no number is written), ``text`` is the entity as spaCy found it.
    """
    if published is None:
        return []
    rows = []
    for ent in doc.ents:
        if ent.label_ not in ("DATE", "TIME") or any(_mentions_number(token) for token in ent):
            continue
        sentence_start = ent.sent.start if doc.has_annotation("SENT_START") else 0
        before = doc[max(ent.start - _FUTURE_CUE_WINDOW, sentence_start) : ent.start]
        resolved = resolve_date(ent.text, published, prefer_future=_points_forward(before))
        if resolved is None:
            continue
        rows.append(
            {
                "text": ent.text,
                "value": None,
                "value_max": None,
                "qualifier": "exact",
                "kind": "date",
                "unit": None,
                "counted": None,
                "verb": None,
                "event": None,
                "is_people": False,
                "resolved_date": resolved,
                "start": ent.start_char,
                "end": ent.end_char,
                "context": _line_context(doc, doc_text(doc), ent),
            }
        )
    return rows


def _line_context(doc: Doc, text: str, ent: Span) -> str:
    """The sentence around ``ent`` (``text`` is ``doc.text``), cut at line breaks as
    :func:`sentences_with_numbers` cuts."""
    if doc.has_annotation("SENT_START"):
        start, end = ent.sent.start_char, ent.sent.end_char
    else:
        start, end = 0, len(text)
    line_start = text.rfind("\n", start, ent.start_char) + 1 or start
    line_end = text.find("\n", ent.end_char, end)
    return text[max(start, line_start) : end if line_end == -1 else line_end].strip()


# --- ranges -------------------------------------------------------------------------------------

_RANGE_DASHES = {"-", "–", "—"}
# "rose from 5% to 10%" is a change, not a range.
_CHANGE_VERBS = {
    "rise", "fall", "increase", "decrease", "drop", "grow", "climb", "jump", "decline", "cut", "raise", "reduce",
    "lower", "double", "triple", "soar", "surge", "slip", "slide", "plunge", "tumble", "sink", "shrink",
    "expand", "swell", "go", "move", "change", "boost", "lift", "hike", "slash", "revise", "widen", "narrow",
    "ease", "edge", "dip", "rebound", "recover", "fell", "up", "down", "balloon", "leap", "spike", "shift",
}  # fmt: skip


@dataclass
class _Mention:
    """One number of a sentence on its way to a row (token indices into the sentence)."""

    text_start: int
    text_end: int
    first: int  # first token of the mention with a leading currency symbol
    last: int  # last token with its unit
    value: float
    kind: str
    unit: str | None
    qualifier: str
    from_between: bool
    own_tokens: set[int]
    head: Token
    counted: Token | None
    verb: Token | None
    clause: Token | None
    partitive: bool
    scale: float | None  # the scale word ending the number ("4 million"), for "3 to 4 million"
    ago: bool = False  # a duration followed by "ago": "50 days ago"
    value_max: float | None = None


def _is_bare(mention: _Mention) -> bool:
    """A number without a unit of its own: the "3" of "3 to 4 million people", "5" of "5-10%"."""
    return mention.kind == "count" and mention.unit is None


def _range_connector(tokens: list[Token], low: _Mention, high: _Mention) -> bool:
    """Whether the words between two numbers make them one range."""
    gap = tokens[low.last + 1 : high.first]
    words = [token.lower_ for token in gap]
    if low.from_between:
        return words in (["and"], ["to"])  # "between 44 mg and 50 mg", loosely "between 44 mg to 50 mg"
    if len(words) == 1 and words[0] in _RANGE_DASHES:
        dash = gap[0]
        if low.first > 1 and tokens[low.first - 1].text in _RANGE_DASHES and not tokens[low.first - 1].whitespace_:
            return False  # "2022-03-21": the tail of a chain, not a range
        # "10-15", "10 – 15"; a spaced hyphen is a dash between clauses ("10 - and then 15").
        return dash.text != "-" or not (tokens[low.last].whitespace_ or dash.whitespace_)
    if words not in (["to"], ["-", "to"], ["through"]):
        return False
    if low.first > 0 and tokens[low.first - 1].lower_ == "by":
        return True  # "rose by 5 to 10 percent": a range of the change
    # "rose (from) 5% to 10%", "cut from 44 mg to 50 mg": a change from one number to another
    verbs = [low.verb, high.verb, gap[-1].head, tokens[low.first - 1].head if low.first > 0 else None]
    return not any(verb is not None and _lemma(verb) in _CHANGE_VERBS for verb in verbs)


def _as_range(tokens: list[Token], low: _Mention, high: _Mention) -> _Mention | None:
    """``low`` and ``high`` as one range row ("between 20,000 and 50,000", "3 to 4", "10-15")."""
    if not _range_connector(tokens, low, high):
        return None
    if low.kind == high.kind:
        kind, unit = high.kind, high.unit or low.unit
    elif _is_bare(low) and high.kind in ("percent", "money", "quantity", "date", "time"):
        kind, unit = high.kind, high.unit
    elif _is_bare(high) and low.kind in ("percent", "money", "quantity"):
        kind, unit = low.kind, low.unit
    else:
        return None
    if kind == "ordinal":
        return None
    low_value, high_value = low.value, high.value
    if high.scale and not low.scale and low_value * high.scale <= high_value:
        low_value *= high.scale  # "3 to 4 million": both are millions
    if kind == "date" and 1000 <= low_value < 2100 and high_value < 100 and tokens[high.text_start].text.isdigit():
        high_value += low_value // 100 * 100  # "2013-14"
    if low_value > high_value and high_value < 0:
        low_value, high_value = high_value, low_value  # "from -18 °C to -34 °C"
    if not low_value < high_value:
        return None
    qualifier = "exact" if low.from_between else low.qualifier
    if qualifier == "exact":
        qualifier = high.qualifier
    return _Mention(
        text_start=low.text_start,
        text_end=high.text_end,
        first=low.first,
        last=high.last,
        value=low_value,
        value_max=high_value,
        kind=kind,
        unit=unit,
        qualifier=qualifier,
        from_between=False,
        own_tokens=low.own_tokens | high.own_tokens,
        head=high.head,
        counted=high.counted or low.counted,
        verb=high.verb or low.verb,
        clause=high.clause or low.clause,
        partitive=high.partitive and low.partitive,
        scale=high.scale,
        ago=high.ago,
    )


def _join_ranges(tokens: list[Token], mentions: list[_Mention]) -> list[_Mention]:
    joined: list[_Mention] = []
    index = 0
    while index < len(mentions):
        low = mentions[index]
        high = mentions[index + 1] if index + 1 < len(mentions) else None
        if high is not None and (both := _as_range(tokens, low, high)) is not None:
            joined.append(both)
            index += 2
            continue
        if high is not None and low.from_between and high.qualifier == "exact":
            if [token.lower_ for token in tokens[low.last + 1 : high.first]] == ["and"]:
                high.qualifier = "at_most"  # a "between" the range could not take ("between 50 and 20")
        joined.append(low)
        index += 1
    return joined


# --- reading one sentence ------------------------------------------------------------------------


_GROUP_FIRST = re.compile(r"^[+-]?\d{1,3}$")
_GROUP_NEXT = re.compile(r"^\d{3}(?:\.\d+)?$")
_GROUP_SPACES = {"\u00a0", "\u202f", "\u2009", "\u2007"}


def _grammar_words(tokens: list[Token]) -> list[tuple[int, int, str]]:
    """The words the number grammar reads, as (first token, last token, lower-cased word).

    Whitespace tokens ("fifty   two") are skipped; thousands grouped by single or narrow
    spaces ("40 000", "1 234 567.89" with narrow spaces) are one word ("40000"); a sentence's final
    period glued to a number comes off ("10M." is "10m"), and so does a suspended hyphen
    ("8- to 16-metre").
    """
    pieces = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token.is_space:
            index += 1
            continue
        word, last = token.lower_, index
        if word.endswith(".") and len(word) > 1 and not _classify(word)[0] and _classify(word[:-1])[0]:
            word = word[:-1]
        following = tokens[index + 1].lower_ if index + 1 < len(tokens) else ""
        if word.endswith("-") and following in ("to", "or", "and") and _classify(word[:-1])[0] == "num":
            word = word[:-1]  # "8- to 16-metre"
        if (glued := _glued_unit(token.text)) is not None:
            word = glued[0].lower()  # "25lbs": the unit is read by _read_kind
        if _GROUP_FIRST.match(word):
            digits = word
            while True:
                if tokens[last].whitespace_ == " " and last + 1 < len(tokens):
                    following = last + 1
                elif (
                    not tokens[last].whitespace_
                    and last + 2 < len(tokens)
                    and tokens[last + 1].text in _GROUP_SPACES
                    and not tokens[last + 1].whitespace_
                ):
                    following = last + 2
                else:
                    break
                if not _GROUP_NEXT.match(tokens[following].text):
                    break
                digits += tokens[following].text
                last = following
                if "." in digits:
                    break
            word = digits
        pieces.append((index, last, word))
        index = last + 1
    return pieces


_GLUED = re.compile(r"^([+-]?\d[\d,]*(?:\.\d+)?)([^\d\s.,]+)$")


def _glued_unit(text: str) -> tuple[str, str] | None:
    """(number, unit) of a token with a unit glued on that the tokenizer left whole ("25lbs")."""
    match = _GLUED.match(text)
    if match is None or _classify(text.lower())[0]:  # "10m", "21st", "5pm", "1960s" read otherwise
        return None
    suffix = match[2]
    # Case matters: "9mm" is millimetres, "$1MM" a million in finance shorthand.
    unit = _QUANTITY_UNITS.get(suffix) if len(suffix) > 1 else None
    if unit is None and _SI_SYMBOL.match(suffix):
        unit = suffix
    return (match[1], unit) if unit else None


def _read_mention(tokens: list[Token], words: list[str], number: _Found) -> _Mention:
    head = _syntactic_head(tokens, number.start, number.end)
    reading = _read_kind(tokens, number, head)
    qualifier, from_between = _qualifier(tokens, number.start, number.end)
    if qualifier == "exact" and number.vague:
        qualifier = "approx"  # "thousands", "several hundred": a lower bound, loosely meant
    own_tokens = set(range(tokens[number.start].i, tokens[number.end - 1].i + 1))
    if reading.unit_token is not None:
        own_tokens.add(reading.unit_token.i)

    counted = reading.counted
    if counted is None and reading.kind in ("count", "percent", "money", "ordinal"):
        counted = _of_object(reading.unit_token or head)  # "two of the tragedies", "40% of residents"
    verb = clause = None
    partitive = False
    if reading.kind in _KINDS_WITH_VERB:
        verb, clause, partitive = _governing_verb(counted or reading.unit_token or head, own_tokens)
        if verb is not None and _lemma(verb) == "be":
            verb = None

    value = reading.value if reading.value is not None else number.value
    value_max = number.value_max if reading.value is None else None
    if number.end - number.start == 1 and words[number.start] in ("half", "halves"):
        reading.kind, reading.unit, value = "percent", "%", 50.0  # "more than half", "half of the residents"
    first = reading.text_start
    if reading.kind == "money" and first > 0 and _is_currency(tokens[first - 1]):
        first -= 1
    last = max([*own_tokens, reading.text_end - 1])
    ago = (
        reading.kind == "date"
        and counted is not None
        and counted.i + 1 < len(tokens)
        and tokens[counted.i + 1].lower_ == "ago"
    )
    scale = None if number.vague else _scale_of(words[number.end - 1])
    return _Mention(
        text_start=reading.text_start,
        text_end=reading.text_end,
        first=first,
        last=last,
        value=float(value),
        kind=reading.kind,
        unit=reading.unit,
        qualifier=qualifier,
        from_between=from_between,
        own_tokens=own_tokens,
        head=head,
        counted=counted,
        verb=verb,
        clause=clause,
        partitive=partitive,
        scale=scale,
        ago=ago,
        value_max=value_max,
    )


def _scale_of(word: str) -> float | None:
    """The scale a number's last word carries: "million" -> 1e6, "10bn" -> 1e9."""
    if match := _DIGITS_SCALED.match(word):
        return _SCALE_ABBREVIATIONS[match["scale"]]
    return _SCALES.get(word) or _SCALE_ABBREVIATIONS.get(word)


def _mention_date(sentence: Doc, mention: _Mention, published: dt.datetime | dt.date | None) -> dt.date | None:
    if published is None or mention.kind != "date":
        return None
    if mention.ago:  # "50 days ago"
        return resolve_date(f"{mention.value:g} {mention.counted.lower_} ago", published)
    tokens = sentence[mention.text_start : mention.text_end]
    if not any(_is_month(token) for token in tokens):
        return None  # a year, a decade or a duration names no day
    return resolve_date(tokens.text, published)


def extract_numbers(sentence: Doc, offset: int, published: dt.datetime | dt.date | None = None) -> list[dict]:
    """Rows of the ``numbers`` table (without doc_id/date) for one fully parsed sentence Doc.

    ``offset`` is where the sentence starts in the article, so ``start``/``end`` index the
    article: ``article_text[row["start"]:row["end"]] == row["text"]``. ``context`` is the
    parsed sentence holding the number (the Doc may hold several when the sentence splitter
    ran on), stripped. The Doc needs tags, dependencies, lemmas and entities. ``published``
    (the article's publication time) lets rows of kind ``date`` carry ``resolved_date``.
    """
    tokens = list(sentence)
    pieces = _grammar_words(tokens)
    for index in range(1, len(pieces)):
        # A separate "m"/"b" after digits is a scale only for money ("£3m"); "100 m" is metres.
        first, _, word = pieces[index]
        if (
            word in _SCALE_ABBREVIATIONS
            and word not in _UNAMBIGUOUS_SCALE_ABBREVIATIONS
            and not _money_context(tokens, pieces[index - 1][0])
        ):
            pieces[index] = (first, first, "")
    numbers = []
    for found in _segment([word for _, _, word in pieces]):
        found.start, found.end = pieces[found.start][0], pieces[found.end - 1][1] + 1  # back to token indices
        numbers.append(found)
    words = [""] * len(tokens)
    for first, _, word in pieces:
        words[first] = word
    taken = {index for number in numbers for index in range(number.start, number.end)}
    numbers += [
        _Found(index, index + 1, _CLOCK_WORDS[token.lower_], clock=True)
        for index, token in enumerate(tokens)
        if token.lower_ in _CLOCK_WORDS and index not in taken and index - 1 not in taken
    ]
    numbers.sort(key=lambda number: number.start)
    mentions = [_read_mention(tokens, words, number) for number in numbers if not _is_non_number(tokens, number)]

    rows = []
    sentence_text = doc_text(sentence)
    for mention in _join_ranges(tokens, mentions):
        first, last = tokens[mention.text_start], tokens[mention.text_end - 1]
        start_char, end_char = first.idx, last.idx + len(last.text)
        word = words[last.i]
        if word and last.lower_ != word and last.lower_.startswith(word):
            end_char -= len(last.text) - len(word)  # "10M." at the end of a sentence is "10M"
        event = None
        if mention.kind in ("count", "percent") and not mention.partitive:
            event = _count_event(mention.head, mention.verb, mention.clause, mention.counted)
        counted = mention.counted
        rows.append(
            {
                "text": sentence_text[start_char:end_char],
                "value": mention.value,
                "value_max": mention.value_max,
                "qualifier": mention.qualifier,
                "kind": mention.kind,
                "unit": mention.unit,
                "counted": _lemma(counted) if counted is not None else None,
                "verb": _lemma(mention.verb) if mention.verb is not None else None,
                "event": event,
                "is_people": mention.kind in ("count", "percent") and _counts_people(counted, event),
                "resolved_date": _mention_date(sentence, mention, published),
                "start": offset + start_char,
                "end": offset + end_char,
                "context": _context(tokens, mention.text_start, sentence, sentence_text),
            }
        )
    return rows
