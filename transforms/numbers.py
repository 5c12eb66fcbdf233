"""Numbers in English news text: counts, money, percentages, quantities, dates, times, ordinals.

Pure logic, no Beam: ``transforms.enrich`` wraps it. Enrich runs spaCy in two passes, and this
module serves both:

1. The whole article goes through NER and the ``senter`` component only (about half the cost
   of the full pipeline). :func:`sentences_with_numbers` picks the sentences worth parsing.
2. Each of those sentences goes through the full pipeline on its own, and
   :func:`extract_numbers` turns the parsed sentence into rows of the ``numbers`` table
   (every column but ``doc_id`` and ``date``).

:func:`parse_number` turns a number phrase ("7,000", "2.5 million", "a thousand",
"twenty-one", "36th") into its value. It and the extractor share one small grammar
(:func:`_segment`), which also splits runs such as "twenty five and thirty six" into two
numbers.

Decisions a reader of the table needs to know:

- ``text`` is the number itself, without qualifier or unit: "7,000" in "over 7,000 people",
  "a thousand" in "more than a thousand", "2.5bn" in "$2.5bn". Dates and clock times are
  the exception, because the number alone means nothing there: "March 9", "5am", "5 a.m.".
- ``qualifier`` is one of ``schemas.tables.QUALIFIERS``. "nearly"/"almost" count as
  ``approx`` (news uses them for estimates, and ``less_than`` is kept for explicit bounds).
  Vague plurals ("thousands", "dozens", "several hundred") get ``value`` = the scale
  (1000, 12, 100) and ``more_than`` unless an explicit qualifier says otherwise.
- ``kind``: durations in days/weeks/months/years/decades/centuries are ``date`` and in
  hours/minutes/seconds are ``time`` (as spaCy's DATE/TIME labels do), with the unit in
  ``counted`` ("50 days ago" -> 50, date, counted "day"). A time's ``value`` is the hour
  of day on a 24-hour clock ("5pm" -> 17, "noon" -> 12, "10:30" -> 10.5); a date's is the
  number as written (the day of month, the year). Proportions written as words ("more
  than half") are ``percent`` with the value in percent (50).
- ``counted`` is the lower-cased lemma of the counted noun ("residents" -> "resident",
  "servicemen" -> "serviceman", "people" stays "people"); ``verb`` is the lemma of the
  governing verb, only for count/money/percent/quantity. Neither is guessed across a
  noun: "the death of 20,000 residents" has counted "resident" and no verb, rather than
  the verb of the clause around "death".
- ``unit``: "%" for every percent; currency symbols as written ("$", "£", "US$"), codes in
  upper case ("USD"), currency words as a symbol or code ("dollars" -> "$", "roubles" ->
  "RUB"); short unit names for quantities ("kilometres" -> "km").
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # spaCy is only needed by the caller; this module reads Doc/Token attributes
    from spacy.tokens import Doc, Token

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
_SCALE_ABBREVIATIONS = {"k": 1e3, "m": 1e6, "mn": 1e6, "mln": 1e6, "bn": 1e9, "b": 1e9, "tn": 1e12, "trn": 1e12}
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
    "fifth": 5, "fifths": 5, "sixth": 6, "sixths": 6, "eighth": 8, "eighths": 8, "tenth": 10, "tenths": 10,
}  # fmt: skip
_VULGAR_FRACTIONS = {"½": 1 / 2, "⅓": 1 / 3, "⅔": 2 / 3, "¼": 1 / 4, "¾": 3 / 4, "⅕": 1 / 5, "⅛": 1 / 8}
_VAGUE = {"several", "few", "many"}
_SIGNS = {"minus", "negative"}

_NUMBER = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
_DIGITS = re.compile(rf"^[+-]?(?:{_NUMBER}|\.\d+)$")
_DIGITS_SCALED = re.compile(rf"^(?P<num>{_NUMBER})(?P<scale>k|m|mn|bn|b|tn|trn)$")
_DIGITS_ORDINAL = re.compile(r"^(\d+)(?:st|nd|rd|th)$")
_DIGITS_FRACTION = re.compile(r"^(\d+)/(\d+)$")
_DIGITS_VULGAR = re.compile(rf"^(\d*)([{''.join(_VULGAR_FRACTIONS)}])$")
_DECADE = re.compile(r"^(1[5-9]\d0|20[0-9]0)s$")
_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_CLOCK_AM_PM = re.compile(r"^(1[0-2]|0?\d)(?:[.:]([0-5]\d))?([ap])\.?m\.?$")  # "4.30pm" stays one token

# Word classes that can begin a number (a sign only counts when one of these follows).
_STARTS = {"num", "numfraction", "numscale", "unit", "tens", "mult", "scale", "a", "half", "plural", "vague"}


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
    vague: bool = False  # a lower bound: "thousands", "several hundred"
    decade: bool = False
    clock: bool = False


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


def _segment(words: list[str]) -> list[_Found]:
    """Split a sequence of lower-cased words into the numbers it spells, left to right.

    Words that are not part of a number end the current one. Where English allows two
    readings the split follows how numbers are written in running text: "twenty five and
    thirty six" is 25 and 36, "hundred and five hundred and six" is 105 and 106, "a million
    and a half" is 1,500,000.
    """
    classes = [_classify(word) for word in words]
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
                current.total, current.group = value, None
            else:
                if value == 10 and not (kind_at(i + 1) == "of" and kind_at(i + 2) == "plural"):
                    close()  # a bare "tens" is not a number
                    i += 1
                    continue
                begin(i).total = value
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
                    current.vague = True
                    current.last = "vague"
                else:
                    number = begin(i)
                    number.group, number.vague, number.last = 1.0, True, "vague"
            else:
                close()
        elif kind == "and":
            if current is not None and kind_at(i + 1) == "a" and fraction_at(i + 2) and current.has_value:
                share = 1 / (2 if kind_at(i + 2) == "half" else _FRACTIONS[words[i + 2]])
                if last == "scale" and current.group is None:
                    current.total += current.big * share  # "a million and a half"
                else:
                    current.group = (current.group or 0.0) + share  # "two and a half"
                i += 2
                consumed(i, "half")
            elif last in ("mult", "scale") and kind_at(i + 1) in ("unit", "tens", "ordword"):
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
    return found


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


def _mentions_number(token: Token) -> bool:
    # DATE/TIME entities are left out on purpose: "Monday", "weeks", "yesterday" hold no number,
    # and a date or time with one ("March 9", "5am") is caught by its digits or number word.
    return (
        any(char.isdigit() for char in token.text)
        or token.lower_ in _NUMBER_WORDS
        or token.ent_type_ in _NUMERIC_LABELS
    )


def sentences_with_numbers(doc: Doc) -> list[tuple[int, int]]:
    """Char spans (start, end) of the doc's sentences that mention a number, in text order.

    A number is digits, a number word ("two", "a thousand", "dozens", "thousands", "first",
    "noon") or a CARDINAL/MONEY/PERCENT/QUANTITY/ORDINAL entity. Sentences come from
    ``doc.sents`` (the ``senter`` component is enough) and are cut again at line breaks,
    because ``senter`` often runs on across paragraphs; without sentence boundaries each line
    is a sentence. Spans are stripped of surrounding whitespace, so ``doc.text[start:end]``
    is the exact text to parse.
    """
    text = doc.text
    number_starts = [token.idx for token in doc if _mentions_number(token)]
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
_TIME_UNITS = {"second", "minute", "min", "hour", "hr"}
_PERCENT_WORDS = {"%", "percent", "pct"}
_CURRENCY_SYMBOLS = {"$", "£", "€", "¥", "₹", "₽", "₴", "us$", "a$", "c$", "hk$", "nz$", "r$", "rs", "rs."}
_CURRENCY_CODES = {"usd", "eur", "gbp", "jpy", "cny", "rub", "uah", "inr", "chf", "cad", "aud", "nzd", "hkd"}
_CURRENCY_WORDS = {
    "dollar": "$", "euro": "€", "pound": "£", "sterling": "£", "yen": "¥", "yuan": "CNY", "renminbi": "CNY",
    "rouble": "RUB", "ruble": "RUB", "hryvnia": "UAH", "hryvnias": "UAH", "hryvnya": "UAH", "rupee": "INR",
    "franc": "CHF", "shekel": "ILS", "lira": "TRY", "zloty": "PLN", "rand": "ZAR", "won": "KRW", "naira": "NGN",
    "riyal": "SAR", "dirham": "AED", "baht": "THB", "ringgit": "MYR", "rupiah": "IDR", "peso": "peso", "dinar": "dinar",
    "krona": "krona", "krone": "krone", "real": "BRL", "reais": "BRL", "bitcoin": "BTC",
}  # fmt: skip
_QUANTITY_UNITS = {
    "km": "km", "kms": "km", "kilometre": "km", "kilometer": "km", "m": "m", "metre": "m", "meter": "m",
    "cm": "cm", "mm": "mm", "mile": "mile", "mi": "mile", "ft": "ft", "foot": "ft", "feet": "ft",
    "inch": "in", "yard": "yd", "kg": "kg", "kilogram": "kg", "kilo": "kg", "g": "g", "gram": "g",
    "tonne": "t", "ton": "t", "lb": "lb", "lbs": "lb", "litre": "l", "liter": "l", "gallon": "gal",
    "barrel": "bbl", "bpd": "bbl/day", "hectare": "ha", "ha": "ha", "acre": "acre", "mph": "mph", "km/h": "km/h",
    "kph": "km/h", "mw": "MW", "gw": "GW", "kw": "kW", "kwh": "kWh", "mwh": "MWh", "gwh": "GWh",
    "degree": "°", "°c": "°C", "°f": "°F", "celsius": "°C", "fahrenheit": "°F", "km2": "km2", "sq": "sq",
}  # fmt: skip
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
_RAISING_VERBS = {
    "believe", "think", "say", "report", "fear", "estimate", "expect", "know", "understand", "presume",
    "suppose", "seem", "appear", "claim", "allege", "consider", "assume", "feel", "confirm", "rumour", "rumor",
}  # fmt: skip
_KINDS_WITH_VERB = {"count", "money", "percent", "quantity"}
_QUALIFIER_WORDS = {word for phrase, _ in _QUALIFIER_PHRASES for word in phrase} | {"or", "so", "odd", "plus", "-"}


def _lemma(token: Token) -> str:
    return (token.lemma_ or token.text).lower()


def _lower_texts(tokens: list[Token], start: int, end: int) -> tuple[str, ...]:
    return tuple(token.lower_ for token in tokens[max(start, 0) : end])


def _is_month(token: Token | None) -> bool:
    if token is None or not token.text[:1].isupper() or token.lower_.rstrip(".") not in _MONTHS:
        return False
    return token.lower_ != "may" or token.ent_type_ == "DATE"  # "May" is also a verb


def _is_currency(token: Token | None) -> bool:
    return token is not None and (
        token.lower_ in _CURRENCY_SYMBOLS or (token.lower_ in _CURRENCY_CODES and token.is_upper)
    )


def _currency_unit(token: Token) -> str:
    if token.lower_ in _CURRENCY_CODES:
        return token.text.upper()
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


def _governing_verb(start: Token, own_tokens: set[int]) -> Token | None:
    """The nearest verb above ``start``, not looking past another noun phrase.

    ``own_tokens`` are the number's own tokens and unit, which the walk may pass through.
    """
    token = start
    while token.head.i != token.i:
        head = token.head
        if head.pos_ == "VERB":
            return _through_raising(head, token)
        if (
            head.pos_ in ("NOUN", "PROPN", "PRON")
            and head.i not in own_tokens
            and head.lower_ not in _PARTITIVES
            and not head.like_num
        ):
            return None
        token = head
    return None


def _through_raising(verb: Token, subject: Token) -> Token:
    """From "are believed / said / feared" down to the verb that says what happened."""
    while verb.lemma_ in _RAISING_VERBS and subject.dep_ in ("nsubj", "nsubjpass"):
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
        return reading
    if _is_currency(before):
        reading.kind, reading.unit = "money", _currency_unit(before)
        reading.unit_token = head
        return reading
    if after is not None and (
        (after.lower_ in _CURRENCY_CODES and after.is_upper)
        or (_lemma(after) in _CURRENCY_WORDS and (_lemma(after) != "pound" or label == "MONEY"))
    ):
        reading.kind, reading.unit, reading.unit_token = "money", _currency_unit(after), after
        return reading
    if number.ordinal:
        reading.kind = "ordinal"
        reading.counted = noun
        return reading
    if unit_index < len(tokens):
        unit = _quantity_unit(tokens, unit_index)
        if unit is not None:
            reading.kind, reading.unit, reading.unit_token = "quantity", unit, tokens[unit_index]
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
    return {word.lower_ for word in token.doc[start:end] if not word.is_punct and not word.like_num}


def _quantity_unit(tokens: list[Token], index: int) -> str | None:
    token = tokens[index]
    lower = token.lower_
    if lower == "pounds" and token.ent_type_ != "MONEY":
        return "lb"
    if lower in ("square", "sq") and index + 1 < len(tokens):
        unit = _QUANTITY_UNITS.get(tokens[index + 1].lower_) or _QUANTITY_UNITS.get(_lemma(tokens[index + 1]))
        return f"{unit}2" if unit else None
    if lower == "m" and token.ent_type_ == "MONEY":
        return None
    return _QUANTITY_UNITS.get(lower) or (_QUANTITY_UNITS.get(_lemma(token)) if len(lower) > 2 else None)


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
    for phrase, qualifier in _QUALIFIER_PHRASES:
        if _lower_texts(tokens, before - len(phrase), before) == phrase:
            return qualifier, phrase == ("between",)
    for phrase, qualifier in _TRAILING_QUALIFIERS.items():
        if _lower_texts(tokens, end, end + len(phrase)) == phrase:
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
    if not number.ordinal and any(token.ent_type_ in _NAME_LABELS for token in tokens[start:end]):
        return True  # "Boeing 737", "Apollo 11"
    if (
        start > 1
        and tokens[start - 1].text == "-"
        and not tokens[start - 1].whitespace_
        and not tokens[start - 2].whitespace_
    ):
        return tokens[start - 2].is_alpha and not tokens[start - 2].like_num  # "MiG-29" split by the tokenizer
    return False


def _context(tokens: list[Token], index: int, sentence: Doc) -> str:
    if sentence.has_annotation("SENT_START"):
        return tokens[index].sent.text.strip()
    return sentence.text.strip()


def extract_numbers(sentence: Doc, offset: int) -> list[dict]:
    """Rows of the ``numbers`` table (without doc_id/date) for one fully parsed sentence Doc.

    ``offset`` is where the sentence starts in the article, so ``start``/``end`` index the
    article: ``article_text[row["start"]:row["end"]] == row["text"]``. ``context`` is the
    parsed sentence holding the number (the Doc may hold several when the sentence splitter
    ran on), stripped. The Doc needs tags, dependencies, lemmas and entities.
    """
    tokens = list(sentence)
    words = [token.lower_ for token in tokens]
    for index in range(1, len(tokens)):
        # A separate "m"/"bn" after digits is a scale only for money ("£3m"); "100 m" is metres.
        if words[index] in _SCALE_ABBREVIATIONS and not _money_context(tokens, index - 1):
            words[index] = ""
    numbers = _segment(words)
    taken = {index for number in numbers for index in range(number.start, number.end)}
    numbers += [
        _Found(index, index + 1, _CLOCK_WORDS[token.lower_], clock=True)
        for index, token in enumerate(tokens)
        if token.lower_ in _CLOCK_WORDS and index not in taken and index - 1 not in taken
    ]
    numbers.sort(key=lambda number: number.start)

    rows = []
    between_end = -1  # token index after a "between X" number (and its unit), to make "and Y" its upper bound
    for number in numbers:
        if _is_non_number(tokens, number):
            continue
        inside = range(tokens[number.start].i, tokens[number.end - 1].i + 1)
        head = _syntactic_head(tokens, number.start, number.end)
        reading = _read_kind(tokens, number, head)
        qualifier, from_between = _qualifier(tokens, number.start, number.end)
        if qualifier == "exact" and number.start == between_end + 1 and words[between_end] == "and":
            qualifier = "at_most"
        if qualifier == "exact" and number.vague:
            qualifier = "more_than"
        own_tokens = set(inside)
        if reading.unit_token is not None:
            own_tokens.add(reading.unit_token.i)
        between_end = max(own_tokens) + 1 if from_between else -1

        counted = reading.counted
        if counted is None and reading.kind in ("count", "percent", "money", "ordinal"):
            counted = _of_object(reading.unit_token or head)  # "two of the tragedies", "40% of residents"
        verb = None
        if reading.kind in _KINDS_WITH_VERB:
            found_verb = _governing_verb(counted or reading.unit_token or head, own_tokens)
            verb = _lemma(found_verb) if found_verb is not None and found_verb.lemma_ != "be" else None

        first, last = tokens[reading.text_start], tokens[reading.text_end - 1]
        start_char, end_char = first.idx, last.idx + len(last.text)
        value = reading.value if reading.value is not None else number.value
        if number.end - number.start == 1 and words[number.start] in ("half", "halves"):
            reading.kind, reading.unit, value = "percent", "%", 50.0  # "more than half", "half of the residents"
        rows.append(
            {
                "text": sentence.text[start_char:end_char],
                "value": float(value),
                "qualifier": qualifier,
                "kind": reading.kind,
                "unit": reading.unit,
                "counted": _lemma(counted) if counted is not None else None,
                "verb": verb,
                "start": offset + start_char,
                "end": offset + end_char,
                "context": _context(tokens, number.start, sentence),
            }
        )
    return rows
