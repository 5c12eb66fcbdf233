"""Entity linking within a run: one ``entity_id`` per person, organisation or place across articles.

Articles spell one person many ways: "Volodymyr Zelenskiy", "Volodymyr Zelensky", "Volodymyr
Zelenskyy", the typo "Volodymr Zelenskyy"; "Iryna" and "Irina Vereshchuk". Within an article,
``entities.canonical_names`` already maps surnames and titled mentions to the full name; this
module links the canonical names of a run:

1. ``block_key(canonical)``: names that could be one entity share a block: the first letters of
   the transliteration key of the last word ("zel" for every Zelensky spelling). Blocks are
   label-agnostic so that a name's labels can be voted on across the run.
2. ``link_block(records)``: in one block, labels are voted first (the label most mentions of
   a name have wins, as ``entities.vote_labels`` does in an article), then names with one
   label are clustered. PERSON names merge only when surname and given name both match up to
   transliteration and small typos, and every pair in a cluster must match (so "V. Klitschko"
   cannot chain Vitali and Wladimir together). A surname alone joins a cluster only when
   exactly one cluster of the block has that exact surname key; otherwise it stays apart: a
   guess could merge two people. Other labels merge on equal transliteration keys only
   ("Al-Jazeera" / "Al Jazeera").
3. ``entity_id``: a stable hash of label and the cluster's representative name (the most
   mentioned full spelling, ties by the smallest string), so one run's ids do not depend on
   worker or bundle order.

``LinkEntities`` is the Beam transform: entity rows in, rows with ``entity_id`` (and the voted
label) plus ``entity_index`` rows out.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import NamedTuple

import apache_beam as beam
from apache_beam.metrics import Metrics
from rapidfuzz import fuzz
from unidecode import unidecode

from transforms.compact import from_micros, pack_row, to_micros, unpack_row
from transforms.entities import VOTING_LABELS, majority_labels, name_key, strip_name

METRICS_NAMESPACE = "newsbeam"
BLOCK_PREFIX = 3
# Transliteration keys of surnames at least this similar are one surname when the given names
# match too (a typo of a letter in a long name: "mizincez" / "mizincev"). Short surnames, and
# a surname without a given name, need an exact key.
SURNAME_SIMILARITY = 85.0
GIVEN_NAME_SIMILARITY = 85.0
_SHORT_NAME = 5
_UTC = dt.timezone.utc


class NameCount(NamedTuple):
    """One canonical name of a run with a label, and how many mentions it has."""

    label: str
    canonical: str
    mentions: int


class LinkedName(NamedTuple):
    """Where one (label, canonical) of the rows goes: its entity and its voted label."""

    entity_id: str
    label: str


class EntityInfo(NamedTuple):
    entity_id: str
    canonical: str
    label: str
    variants: tuple[str, ...]
    mentions: int


# --- Keys ---------------------------------------------------------------------------------

# Spelling variants of one transliterated sound, applied in order to a folded word.
_TRANSLIT_RULES = (
    (re.compile(r"(?:iy|yy|ii|ij|yi)$"), "y"),  # Zelenskiy/Zelenskyy/Zelenskii -> Zelensky
    (re.compile(r"y"), "i"),  # Iryna / Irina
    (re.compile(r"j"), "i"),  # Jurij / Yuriy (after the line above: j reads as y)
    (re.compile(r"w"), "v"),  # Wladimir / Vladimir
    (re.compile(r"kh"), "h"),  # Kharkiv / Harkiv
    (re.compile(r"ph"), "f"),
    (re.compile(r"ck"), "k"),
    (re.compile(r"tz|ts"), "c"),  # Mizintsev / Mizintzev
    (re.compile(r"(.)\1+"), r"\1"),  # doubled letters
)


def fold(text: str) -> str:
    """ASCII, lower case, words separated by single spaces ("Al-Jazeera's" -> "al jazeera s")."""
    return " ".join(re.findall(r"[a-z0-9]+", unidecode(text).lower()))


def translit_key(word: str) -> str:
    """A word's key up to common transliteration variants and doubled letters."""
    key = fold(word).replace(" ", "")
    for pattern, replacement in _TRANSLIT_RULES:
        key = pattern.sub(replacement, key)
    return key


def name_words(label: str, canonical: str) -> list[str]:
    """The words of a name that identify it (titles dropped for a person)."""
    name = strip_name(canonical) if label == "PERSON" else canonical
    return fold(name).split()


def block_key(canonical: str) -> str:
    """The block of a canonical name: the start of the last word's transliteration key."""
    words = fold(strip_name(canonical)).split()
    return translit_key(words[-1])[:BLOCK_PREFIX] if words else ""


def entity_id(label: str, representative: str) -> str:
    """Stable id of an entity: a hash of its label and representative name."""
    return hashlib.sha256(f"{label}\x1f{representative}".encode()).hexdigest()[:16]


# --- Linking within a block ---------------------------------------------------------------


class _Person(NamedTuple):
    record: NameCount
    given: str  # transliteration key of the first given name ("" for a surname alone)
    surname: str


def _same_surname(a: str, b: str) -> bool:
    if a == b:
        return True
    if min(len(a), len(b)) < _SHORT_NAME:
        return False
    return fuzz.ratio(a, b) >= SURNAME_SIMILARITY


def _same_given_name(a: str, b: str) -> bool:
    if a == b:
        return True
    if len(a) == 1 or len(b) == 1:  # an initial ("V. Klitschko")
        return a[0] == b[0]
    return a[0] == b[0] and fuzz.ratio(a, b) >= GIVEN_NAME_SIMILARITY


def _same_person(a: _Person, b: _Person) -> bool:
    return _same_surname(a.surname, b.surname) and _same_given_name(a.given, b.given)


def _person_clusters(records: list[NameCount]) -> list[list[NameCount]]:
    people, unnamed = [], []
    for record in records:
        words = name_words("PERSON", record.canonical)
        if not words:  # punctuation or titles only ("」", "Mr"): its own entity, never merged
            unnamed.append([record])
            continue
        given = translit_key(words[0]) if len(words) >= 2 else ""
        people.append(_Person(record, given, translit_key(words[-1])))
    # Initials last: "V. Klitschko" must not found a cluster that "Vitali" then cannot join.
    full = [p for p in people if len(p.given) > 1] + [p for p in people if len(p.given) == 1]
    bare = [p for p in people if not p.given]

    # Complete linkage: a full name joins a cluster only if it matches every member, and only
    # when exactly one cluster qualifies (two would mean it could be either person).
    clusters: list[list[_Person]] = []
    for person in full:
        matching = [c for c in clusters if all(_same_person(person, member) for member in c)]
        if len(matching) == 1:
            matching[0].append(person)
        else:
            clusters.append([person])

    # A surname alone has no given name to confirm a typo: its key must be equal.
    bare_clusters: dict[tuple[str, str], list[_Person]] = {}
    for person in bare:
        matching = [c for c in clusters if any(person.surname == m.surname for m in c)]
        if len(matching) == 1:
            matching[0].append(person)
        elif matching:  # a surname two people share: the bare surname stays on its own
            bare_clusters["alone", person.record.canonical] = [person]
        else:  # spellings of a surname no full name explains ("Zelensky", "Zelenskiy")
            bare_clusters.setdefault(("surname", person.surname), []).append(person)
    clusters += bare_clusters.values()
    return [[p.record for p in cluster] for cluster in clusters] + unnamed


def _key_clusters(label: str, records: list[NameCount]) -> list[list[NameCount]]:
    by_key: dict[str, list[NameCount]] = {}
    for record in records:
        key = " ".join(translit_key(word) for word in name_words(label, record.canonical))
        by_key.setdefault(key, []).append(record)
    return list(by_key.values())


def representative(cluster: Iterable[NameCount]) -> str:
    """The name an entity is shown by: most words (a full name), then most mentions, then smallest."""
    return min(cluster, key=lambda r: (-len(r.canonical.split()), -r.mentions, r.canonical)).canonical


def link_block(records: Iterable[NameCount]) -> tuple[dict[tuple[str, str], LinkedName], list[EntityInfo]]:
    """Link the names of one block: ``{(label, canonical): LinkedName}`` and the entities made.

    ``records`` may repeat a (label, canonical); their mentions add up. The answer does not
    depend on the order of ``records``.
    """
    counts = Counter()
    for record in records:
        counts[(record.label, record.canonical)] += record.mentions
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))

    # Vote labels across the run: the mentions of one name, whatever their article, agree.
    votes: dict[str, Counter] = {}
    for (label, canonical), n in ordered:
        if label in VOTING_LABELS:
            votes.setdefault(name_key(canonical), Counter())[label] += n
    winners = majority_labels(votes)

    def voted(label: str, canonical: str) -> str:
        return winners.get(name_key(canonical), label) if label in VOTING_LABELS else label

    by_label: dict[str, Counter] = {}
    for (label, canonical), n in ordered:
        by_label.setdefault(voted(label, canonical), Counter())[canonical] += n

    links: dict[tuple[str, str], LinkedName] = {}
    entities = []
    for label in sorted(by_label):
        merged = sorted(
            (NameCount(label, canonical, n) for canonical, n in by_label[label].items()),
            key=lambda r: (-r.mentions, r.canonical),
        )
        clusters = _person_clusters(merged) if label == "PERSON" else _key_clusters(label, merged)
        for cluster in clusters:
            name = representative(cluster)
            info = EntityInfo(
                entity_id=entity_id(label, name),
                canonical=name,
                label=label,
                variants=tuple(sorted(r.canonical for r in cluster)),
                mentions=sum(r.mentions for r in cluster),
            )
            entities.append(info)
            for r in cluster:
                links[r.label, r.canonical] = LinkedName(info.entity_id, label)
    for (label, canonical), _n in ordered:
        links[label, canonical] = links[voted(label, canonical), canonical]
    return links, entities


def link_entities(records: Iterable[NameCount]) -> dict[tuple[str, str], str]:
    """``{(label, canonical): entity_id}`` for the names of a run (all blocks), without Beam."""
    blocks: dict[str, list[NameCount]] = {}
    for record in records:
        blocks.setdefault(block_key(record.canonical), []).append(record)
    ids = {}
    for block in blocks.values():
        links, _ = link_block(block)
        ids.update({key: link.entity_id for key, link in links.items()})
    return ids


# --- Beam ---------------------------------------------------------------------------------
# What crosses a shuffle here is plain tuples, strings and integers (``transforms/compact.py``):
# Beam's default coder pickles a datetime or a NamedTuple, ~6 and ~3 µs per value each way,
# and every entity row of a run crosses two shuffles (measured on 2,000 generated articles:
# the linking stages' wall time from 3.4 s to 2.2 s with 2 workers).


def seen_at(row: dict) -> dt.datetime:
    """When an entity row's article appeared: published, else ingested, else its date at midnight UTC."""
    for field in ("published_at", "ingested_at"):
        value = row.get(field)
        if isinstance(value, dt.datetime):
            return value if value.tzinfo else value.replace(tzinfo=_UTC)
    return dt.datetime.strptime(row["date"], "%Y-%m-%d").replace(tzinfo=_UTC)


class _LinkBlockFn(beam.DoFn):
    """(block key, (label, canonical, mentions) tuples) -> ((label, canonical), (entity_id, label))
    main, (entity_id, EntityInfo fields as a tuple) tagged "entities"."""

    def __init__(self):
        self._entities = Metrics.counter(METRICS_NAMESPACE, "entity_ids")
        self._merged = Metrics.counter(METRICS_NAMESPACE, "entity_names_merged")

    def process(self, element) -> Iterator:
        _block, records = element
        links, entities = link_block(NameCount(*record) for record in records)
        self._entities.inc(len(entities))
        self._merged.inc(len(links) - len(entities))
        for name, link in links.items():
            yield name, tuple(link)
        for info in entities:
            yield beam.pvalue.TaggedOutput("entities", (info.entity_id, tuple(info)))


def _attach(element) -> Iterator[dict]:
    _key, grouped = element
    links = grouped["links"]
    if not links:  # cannot happen: every row's name was linked
        raise ValueError(f"entity name without a link: {_key}")
    entity, label = links[0]
    for packed in grouped["rows"]:
        yield {**unpack_row(packed), "entity_id": entity, "label": label}


class _SeenCombineFn(beam.CombineFn):
    """Per entity: number of articles, first and last time seen (input: one time per article,
    as integer microseconds)."""

    def create_accumulator(self):
        return 0, None, None

    def add_input(self, acc, ts):
        count, first, last = acc
        return count + 1, ts if first is None or ts < first else first, ts if last is None or ts > last else last

    def merge_accumulators(self, accs):
        count, first, last = 0, None, None
        for n, earliest, latest in accs:
            count += n
            if earliest is not None and (first is None or earliest < first):
                first = earliest
            if latest is not None and (last is None or latest > last):
                last = latest
        return count, first, last

    def extract_output(self, acc):
        return acc


def _index_row(element) -> Iterator[dict]:
    eid, grouped = element
    if not grouped["info"] or not grouped["seen"]:
        return
    info = EntityInfo(*grouped["info"][0])
    articles, first, last = grouped["seen"][0]
    first, last = from_micros(first), from_micros(last)
    yield {
        "entity_id": eid,
        "canonical": info.canonical,
        "label": info.label,
        "variants": list(info.variants),
        "articles": articles,
        "mentions": info.mentions,
        "first_seen": first,
        "last_seen": last,
        "date": last.strftime("%Y-%m-%d"),
    }


class LinkEntities(beam.PTransform):
    """entity rows -> (rows with ``entity_id`` and the run-voted ``label``, ``entity_index`` rows).

    Rows need ``doc_id``, ``label``, ``canonical`` and a time: ``published_at`` (else
    ``ingested_at``, else ``date``). Shuffles: names counted per (label, canonical); names
    grouped by block; rows joined to their link by (label, canonical) with CoGroupByKey (so no
    side input grows with the run); articles counted per (entity, article) then per entity.
    """

    def expand(self, rows):
        keyed_rows = rows | "KeyByName" >> beam.Map(lambda r: ((r["label"], r["canonical"]), r))
        names = (
            keyed_rows
            | "OnePerMention" >> beam.Map(lambda kv: (kv[0], 1))
            | "CountMentions" >> beam.CombinePerKey(sum)
            | "KeyByBlock" >> beam.MapTuple(lambda key, n: (block_key(key[1]), (key[0], key[1], n)))
            | "GroupBlocks" >> beam.GroupByKey()
        )
        linked = names | "LinkBlocks" >> beam.ParDo(_LinkBlockFn()).with_outputs("entities", main="links")
        packed_rows = keyed_rows | "PackRows" >> beam.MapTuple(lambda key, row: (key, pack_row(row)))
        with_ids = {"rows": packed_rows, "links": linked.links} | "JoinLinks" >> beam.CoGroupByKey()
        out_rows = with_ids | "AttachEntityIds" >> beam.FlatMap(_attach)

        seen = (
            out_rows
            | "KeyByEntityArticle" >> beam.Map(lambda r: ((r["entity_id"], r["doc_id"]), to_micros(seen_at(r))))
            | "OnePerArticle" >> beam.CombinePerKey(min)
            | "KeyByEntity" >> beam.MapTuple(lambda key, ts: (key[0], ts))
            | "ArticlesAndTimes" >> beam.CombinePerKey(_SeenCombineFn())
        )
        index = (
            {"info": linked.entities, "seen": seen}
            | "JoinEntityInfo" >> beam.CoGroupByKey()
            | "IndexRows" >> beam.FlatMap(_index_row)
        )
        return out_rows, index
