"""Entity names and labels: one canonical name per person within an article, and label fixes.

News prose names a person in full once ("Deputy Prime Minister Iryna Vereshchuk") and then by
surname or with a title ("Mrs Vereshchuk", "Colonel-General Mizintsev"). ``canonical_names``
maps each such mention to the full name used in the same article, so that counting people
counts people, not spellings. Cross-article identity is ``transforms.entity_linking``.

The small English model also makes label mistakes that counting would inherit: on the seed
articles it tags Kyiv and Gomel as PERSON, "Azov Regiment" as PERSON, Mariupol as ORG, and misses
"Lyudmyla Denisova". ``add_entity_fixes(nlp)`` adds two spaCy components that correct such
mistakes by general rules, not by listing those names:

- ``newsbeam_unit_ruler`` (an ``EntityRuler`` before ``ner``): a capitalised name followed by
  a capitalised unit word ("Azov Regiment", "36th Marine Brigade") is an ORG; the model then
  labels the rest of the text around those spans.
- ``newsbeam_entity_fixes`` (last), using a place gazetteer (GeoNames, ``data/places.tsv``) and
  a list of given names (``gender-guesser``'s ``nam_dict.txt``): a PERSON entity that is
  exactly a known place becomes GPE/LOC, unless the article uses the word in a person's name,
  it follows a title, or it is a given name too ("Florence"); an ORG that is a known place
  becomes one only when a mention in the article reads as a place ("in Mariupol", "the city
  of Mariupol"), because clubs and companies named after cities are ORGs ("Santa Fe"); a
  known given name right before a one-word entity makes a PERSON ("Lyudmyla" + "Denisova");
  a one-word entity that is the surname of a person named in the article becomes PERSON.

Measured by ``benchmarks/ner_quality.py`` (CoNLL-2003 test F1 and the seeds).

``vote_labels`` then makes the labels of one name agree within an article (and, in
``entity_linking``, within a run) when most of its mentions agree.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

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

DATA_DIR = Path(__file__).resolve().parent / "data"
PLACES_PATH = DATA_DIR / "places.tsv"

UNIT_RULER = "newsbeam_unit_ruler"
ENTITY_FIXES = "newsbeam_entity_fixes"
# Components add_entity_fixes adds: the whole-text pass must keep them enabled.
FIX_PIPES = (UNIT_RULER, ENTITY_FIXES)

# Military and paramilitary formations: "<Name> Regiment" is an organisation, never a person.
_UNIT_WORDS = (
    "regiment", "battalion", "brigade", "division", "corps", "squadron", "platoon", "legion",
    "company", "detachment", "fleet", "flotilla",
)  # fmt: skip
# Words that open a sentence in title case without being part of a unit's name.
_NOT_NAME_WORDS = ("the", "a", "an", "this", "that", "his", "her", "its", "their", "our", "and", "of", "in", "on")
# Labels a name can plausibly swing between; numeric labels are never voted on.
VOTING_LABELS = frozenset({"PERSON", "ORG", "GPE", "LOC", "NORP", "FAC"})
# Words before a name that make it a place ("fighting in Mariupol", "the port of Mariupol").
_LOCATIVE_WORDS = frozenset({"in", "near", "outside", "around", "across", "inside", "throughout", "towards", "toward"})
_PLACE_NOUNS = frozenset({
    "city", "town", "village", "port", "region", "province", "capital", "district", "suburb",
    "outskirts", "oblast", "county", "state", "country", "enclave",
})  # fmt: skip
_NON_PERSON_NAME_LABELS = frozenset({"ORG", "GPE", "LOC", "NORP", "FAC", "PRODUCT", "WORK_OF_ART"})


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


def name_key(text: str) -> str:
    """Case- and accent-insensitive key of a mention, for counting its labels."""
    decomposed = unicodedata.normalize("NFKD", _other_name(text))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


# --- Label voting -------------------------------------------------------------------------


def vote_labels(rows: Iterable[dict], min_mentions: int = 2) -> list[dict]:
    """Rows whose name-like label is relabelled to the label most of that name's mentions have.

    ``rows`` carry ``text`` (or ``canonical``) and ``label``; they are the mentions of one
    article, or of a run. A name with at least ``min_mentions`` mentions whose labels (among
    ``VOTING_LABELS``) have a strict majority gets that label on every mention; a tie changes
    nothing. Returns new dicts, in order; rows with other labels pass unchanged.
    """
    rows = list(rows)
    votes: dict[str, Counter] = {}
    for row in rows:
        if row["label"] in VOTING_LABELS:
            votes.setdefault(_vote_key(row), Counter())[row["label"]] += 1
    winners = majority_labels(votes, min_mentions)
    return [
        {**row, "label": winners[key]} if row["label"] in VOTING_LABELS and (key := _vote_key(row)) in winners else row
        for row in rows
    ]


def majority_labels(votes: dict[str, Counter], min_mentions: int = 2) -> dict[str, str]:
    """``{name key: label}`` for the names whose mentions disagree and one label has most of them."""
    winners = {}
    for key, counts in votes.items():
        total = sum(counts.values())
        label, top = min(counts.items(), key=lambda item: (-item[1], item[0]))
        if len(counts) > 1 and total >= min_mentions and top * 2 > total:
            winners[key] = label
    return winners


def _vote_key(row: dict) -> str:
    return name_key(row.get("canonical") or row["text"])


def resolve_mentions(mentions: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """``(label, canonical)`` for each ``(text, label)`` mention of one article, in order.

    Labels are voted first (so a surname relabelled PERSON can then resolve to the full name),
    then names are made canonical.
    """
    voted = vote_labels({"text": text, "label": label} for text, label in mentions)
    labels = [row["label"] for row in voted]
    names = canonical_names([(text, label) for (text, _), label in zip(mentions, labels)])
    return list(zip(labels, names))


# --- Gazetteers ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def load_places(path: str = str(PLACES_PATH)) -> dict[str, str]:
    """Place name -> label (GPE or LOC), from the bundled GeoNames gazetteer."""
    places = {}
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            if line.startswith("#") or not line.strip():
                continue
            name, label = line.rstrip("\n").split("\t")
            places[name] = label
    return places


@functools.lru_cache(maxsize=1)
def load_given_names() -> frozenset[str]:
    """Given names from ``gender-guesser``'s ``nam_dict.txt`` (Jörg Michael, GNU FDL 1.2).

    Read as data only (the package's code is not used). About 45,000 names from many
    countries, with their local transliterations ("Lyudmyla", "Iryna", "Volodymyr"); names that
    are English stop words or titles are left out.
    """
    from importlib.resources import files

    from spacy.lang.en.stop_words import STOP_WORDS

    try:
        data = files("gender_guesser").joinpath("data", "nam_dict.txt")
    except ModuleNotFoundError as exc:
        raise RuntimeError("the given-name list needs the package gender-guesser (pip install gender-guesser)") from exc
    names = set()
    words = STOP_WORDS | _TITLE_WORDS  # once: a union per line was most of this function's time
    with data.open(encoding="iso-8859-1") as lines:
        for line in lines:
            # Fixed columns: gender code, then the name (with "+" joining parts) up to col. 29.
            if line[:1] in {"#", "="} or len(line) < 30:
                continue
            name = line[3:29].strip().replace("+", "-")
            # "The", "Will", "May", "General" are names too, but far more often words.
            if name and " " not in name and name[0].isupper() and name.lower() not in words:
                names.add(name)
    return frozenset(names)


# --- spaCy components ---------------------------------------------------------------------


def unit_patterns() -> list[dict]:
    """EntityRuler patterns: an optional ordinal ("36th"), capitalised words, a capitalised unit word."""
    name_word = {"IS_TITLE": True, "LOWER": {"NOT_IN": [*_NOT_NAME_WORDS, *_UNIT_WORDS]}}
    unit_word = {"IS_TITLE": True, "LOWER": {"IN": list(_UNIT_WORDS)}}
    ordinal = {"LOWER": {"REGEX": r"^\d+(?:st|nd|rd|th)$"}}
    return [
        {"label": "ORG", "pattern": [ordinal, {**name_word, "OP": "*"}, unit_word]},
        {"label": "ORG", "pattern": [{**name_word, "OP": "+"}, unit_word]},
    ]


def add_entity_fixes(nlp, *, units: bool = True, places: bool = True, persons: bool = True) -> tuple[str, ...]:
    """Add the label-fixing components to a loaded pipeline; returns the names added.

    Call once after loading the model. The whole-text pass must keep ``FIX_PIPES`` enabled;
    passes that do not need entities may disable them.
    """
    _register_components()
    added = []
    if units and UNIT_RULER not in nlp.pipe_names:
        ruler = nlp.add_pipe(_UNIT_RULER_FACTORY, name=UNIT_RULER, before="ner", config={"overwrite_ents": True})
        ruler.add_patterns(unit_patterns())
        added.append(UNIT_RULER)
    if (places or persons) and ENTITY_FIXES not in nlp.pipe_names:
        nlp.add_pipe(ENTITY_FIXES, last=True, config={"places": places, "persons": persons})
        added.append(ENTITY_FIXES)
    return tuple(added)


# Kept as the name the enrich stage was first told about.
add_entity_ruler = add_entity_fixes


def corrected_entities(doc, places: dict[str, str], given_names: frozenset[str], persons: bool = True) -> list:
    """``doc.ents`` with place, given-name and surname fixes applied (see module docstring).

    ``places`` may be empty (no place fix); with ``persons`` False no PERSON is created.
    """
    from spacy.tokens import Span

    ents = list(doc.ents)
    person_parts = _person_name_parts(ents)

    # 1. A bare place name labelled PERSON is a place, unless this article uses the word as
    #    part of a person's name ("Michael Jackson" ... "Jackson") or it is a given name too.
    #    Labelled ORG it is often right (a club, "Santa Fe" the company), so it becomes a place
    #    only when one of its mentions in the article reads as a place ("in Mariupol").
    located = {_other_name(ent.text) for ent in ents if _other_name(ent.text) in places and _reads_as_place(ent)}
    fixed = []
    for ent in ents:
        name = _other_name(ent.text)
        place_label = places.get(name)
        if place_label and (
            (ent.label_ == "PERSON" and not (name in person_parts or name in given_names or _after_title(ent)))
            or (ent.label_ == "ORG" and name in located)
        ):
            ent = Span(doc, ent.start, ent.end, label=place_label)
        fixed.append(ent)
    ents = fixed

    if persons:
        # 2. A known given name right before a one-word entity names a person: "Lyudmyla
        #    Denisova" read as "Lyudmyla" + GPE "Denisova", "Denys Prokopenko" as "Prokopenko".
        taken = {i for ent in ents for i in range(ent.start, ent.end)}
        fixed = []
        for ent in ents:
            before = ent.start - 1
            if (
                (ent.label_ in _NON_PERSON_NAME_LABELS or ent.label_ == "PERSON")
                and len(ent) == 1
                and _other_name(ent.text) not in places
                and before >= 0
                and before not in taken
                and doc[before].text in given_names
                and doc[before].text not in places
            ):
                ent = Span(doc, before, ent.end, label="PERSON")
            fixed.append(ent)
        ents = fixed

        # 3. A one-word entity that is the surname of a person named in full in this article
        #    is that person ("Denisova said", read as ORG).
        surnames = {ent.text.split()[-1] for ent in ents if ent.label_ == "PERSON" and len(ent) >= 2}
        ents = [
            Span(doc, ent.start, ent.end, label="PERSON")
            if ent.label_ in _NON_PERSON_NAME_LABELS
            and len(ent) == 1
            and (name := _other_name(ent.text)) in surnames
            and name not in places
            else ent
            for ent in ents
        ]
    return ents


def _person_name_parts(ents) -> set[str]:
    """Words of the multi-word PERSON entities of a doc (given names and surnames)."""
    return {word for ent in ents if ent.label_ == "PERSON" and len(ent) >= 2 for word in ent.text.split()}


def _reads_as_place(ent) -> bool:
    """Whether the words before a mention make it a place: "in X", "the city of X", "capital city X"."""
    before = [token.lower_ for token in ent.doc[max(0, ent.start - 3) : ent.start]]
    if before and before[-1] in _LOCATIVE_WORDS:
        return True
    if len(before) >= 2 and before[-1] == "of" and before[-2] in _PLACE_NOUNS:
        return True
    return bool(before) and before[-1] in _PLACE_NOUNS


def _after_title(ent) -> bool:
    return ent.start > 0 and ent.doc[ent.start - 1].text.rstrip(".").lower() in _TITLE_WORDS


class EntityFixes:
    """spaCy component: applies ``corrected_entities`` to every doc."""

    def __init__(self, places: bool, persons: bool):
        self._places = load_places() if places else {}
        self._given_names = load_given_names() if persons or places else frozenset()
        self._persons = persons

    def __call__(self, doc):
        doc.ents = corrected_entities(doc, self._places, self._given_names, self._persons)
        return doc


_UNIT_RULER_FACTORY = "newsbeam_unit_entity_ruler"


def _unit_ruler_class():
    """``UnitRuler``, defined on first use (spaCy is imported only where a model is loaded)."""
    import numpy as np
    from spacy.attrs import LOWER
    from spacy.pipeline import EntityRuler

    class UnitRuler(EntityRuler):
        """The unit patterns' ``EntityRuler``, run only on a Doc holding a capitalised unit word.

        Every unit pattern ends with one, so a Doc without any has no match; the Matcher still
        walked every token (0.72 ms of a 640-word article, 0.07 ms for this test). Skipped, the
        ruler leaves the tokens' entity tags unset where it would have set them to "O", which
        the entity recognizer treats alike (spaCy's NER transitions test preset "B"/"I" only;
        measured: the same entities on the 739 of 800 generated articles without a unit word).
        """

        def __call__(self, doc):
            if not hasattr(self, "_unit_hashes"):
                self._unit_hashes = np.array([self.nlp.vocab.strings.add(w) for w in _UNIT_WORDS], dtype=np.uint64)
            candidates = np.flatnonzero(np.isin(doc.to_array(LOWER), self._unit_hashes)) if len(doc) else ()
            if not any(doc[int(i)].is_title for i in candidates):
                return doc
            return super().__call__(doc)

    return UnitRuler


def _register_components() -> None:
    from spacy.language import Language

    if not Language.has_factory(_UNIT_RULER_FACTORY):
        unit_ruler = _unit_ruler_class()

        @Language.factory(_UNIT_RULER_FACTORY, default_config={"overwrite_ents": True})
        def make_unit_ruler(nlp, name: str, overwrite_ents: bool):
            return unit_ruler(nlp, name, overwrite_ents=overwrite_ents)

    if not Language.has_factory(ENTITY_FIXES):

        @Language.factory(ENTITY_FIXES, default_config={"places": True, "persons": True})
        def make_entity_fixes(nlp, name: str, places: bool, persons: bool) -> EntityFixes:
            return EntityFixes(places=places, persons=persons)
