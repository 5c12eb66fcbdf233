"""Near-duplicate quality on held-out data: other real articles, other kinds of edits.

    python benchmarks/dedup_heldout.py [--stories 150] [--seed 20240611] [--keep DIR] [--workers 1]

The dedup method was built against ``../shared/eval/wirecopy_dev``; this benchmark checks that
it generalises. ``generate_heldout`` writes a labelled set in the same format (``docs/*.txt``
and ``docs/*.html``, ``labels.csv`` with ``file,cluster``) plus ``manifest.json`` beside it
(what each file is, which story it comes from, which edits made it), all drawn from one
``random.Random(seed)``:

- **Base stories** are the ground-truth ``articleBody`` texts of
  ``../shared/eval/extraction_scrapinghub`` (paragraphs = lines), minus every article whose
  text the dev set or the seed articles contain (88 of 181: the dev set was built from these
  bodies) and articles under 150 words. Long articles are cut at paragraph boundaries into
  stories of about 450 words; a run of list lines (a product list) is no story, and a story
  sharing text with an earlier one is dropped, so distinct stories are distinct. That leaves
  118 stories, fewer than the default ``--stories 150`` asks for; all are then used.
- **Copies** (same cluster as their story's original): 0-6 per story, each with 1-4 edits
  drawn from ``POSITIVE_EDITS`` (truncation, scattered word edits and typos, British/US
  spelling, number formatting, swapped, split or merged paragraphs, a sentence cut from the
  middle, a dateline, a correction or editor's note, an "Updated" line, a byline, a new
  headline, a local paragraph naming a town found nowhere else in the set) and, for about
  20 %, an HTML page with nav, newsletter box, related links and footer.
- **Hard negatives** (each its own cluster): a *composite* (story A with two paragraphs of
  story B inserted mid-text); *shared quote* pairs (two stories kept out of the set otherwise,
  both quoting the same two paragraphs of a story C that is in the set); a *follow-up* (A's
  first two paragraphs as a recap, then four or more paragraphs of a story kept out of the
  set); *same-template* pairs (two stories with one company's boilerplate first and last
  paragraph).

``main`` generates the set, scores the real pipeline and the MinHash baseline with
``dedup_quality`` (ARI, pairwise precision/recall/F1), prints which kinds of copy were found
and which negatives were kept apart, lists the failures with the similarity of the cleaned
texts, and writes ``benchmarks/results/dedup_heldout.json``.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import html
import json
import random
import re
import sys
import tempfile
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.corpus import SOURCE_WIRE_TAG, headline_from, split_sentences  # noqa: E402
from benchmarks.dedup_quality import baseline_clusters, load_labels, newsbeam_clusters, score  # noqa: E402

EVAL_DIR = REPO.parent / "shared" / "eval"
SEEDS_DIR = REPO / "samples" / "seeds"
DEFAULT_SEED = 20240611
DEFAULT_STORIES = 150
MANIFEST_FILE = "manifest.json"

MIN_ARTICLE_WORDS = 150
# An article with more than this share of its shingles in the dev set or the seeds is not held out.
MAX_DEV_SHARE = 0.05
# Long articles become several stories of about this many words (real news stories run 300-800).
STORY_TARGET_WORDS = 450
MIN_STORY_PARAGRAPHS = 3
# A run of mostly unpunctuated lines is a product list or a gallery, not a story: at least this
# share of a story's words must be in paragraphs that end like a sentence.
MIN_SENTENCE_SHARE = 0.6
_SENTENCE_ENDING = re.compile(r"[.!?…:\"”’)]$")
# A story sharing more than this share of its shingles with an earlier story is dropped, so the
# only text shared between clusters is what the generator plants.
MAX_STORY_OVERLAP = 0.03
COPIES_PER_STORY = (0, 6)
EDITS_PER_COPY = (1, 4)
HTML_SHARE = 0.2
# Two consecutive paragraphs taken from another story: long enough to be a passage (the
# composite rule needs ~25 shingles), short enough to be a quote rather than the story.
PASSAGE_WORDS = (40, 220)
TRUNCATE_KEEP = (0.35, 0.90)
WORD_EDIT_RATE = (0.02, 0.06)
# One shared-quote pair, follow-up and same-template pair per this many stories (they use stories
# kept out of the set otherwise); twice as many composites (they only use stories in the set).
STORIES_PER_NEGATIVE = 20

POSITIVE_EDITS = (
    "truncated",
    "paragraphs_swapped",
    "paragraph_split",
    "paragraphs_merged",
    "sentence_removed",
    "word_edits",
    "spelling_swapped",
    "numbers_reformatted",
    "dateline",
    "local_paragraph",
    "correction_note",
    "updated_line",
    "byline",
    "new_headline",
)

# ---------------------------------------------------------------- vocabularies

_US_UK = """color colour|colors colours|colored coloured|favor favour|favorite favourite|favorites favourites|
honor honour|honored honoured|labor labour|neighbor neighbour|neighbors neighbours|neighborhood neighbourhood|
neighborhoods neighbourhoods|behavior behaviour|behaviors behaviours|humor humour|rumor rumour|rumors rumours|
harbor harbour|center centre|centers centres|theater theatre|theaters theatres|fiber fibre|liter litre|
liters litres|defense defence|offense offence|license licence|organization organisation|
organizations organisations|organize organise|organized organised|organizing organising|organizer organiser|
realize realise|realized realised|realizing realising|recognize recognise|recognized recognised|
criticize criticise|criticized criticised|apologize apologise|apologized apologised|emphasize emphasise|
emphasized emphasised|prioritize prioritise|minimize minimise|maximize maximise|analyze analyse|
analyzed analysed|paralyzed paralysed|traveled travelled|traveling travelling|traveler traveller|
travelers travellers|canceled cancelled|canceling cancelling|modeling modelling|labeled labelled|
fueled fuelled|catalog catalogue|dialog dialogue|program programme|programs programmes|gray grey|
jewelry jewellery|aluminum aluminium|fulfill fulfil|enrollment enrolment|skeptical sceptical|
airplane aeroplane|pajamas pyjamas|mustache moustache|cozy cosy|pediatric paediatric|maneuver manoeuvre|
judgment judgement|aging ageing|artifact artefact|somber sombre|caliber calibre|mold mould|plow plough"""
US_TO_UK = dict(pair.split() for pair in _US_UK.replace("\n", "").split("|"))
UK_TO_US = {uk: us for us, uk in US_TO_UK.items()}

SYNONYMS = {
    "said": "stated", "says": "states", "large": "big", "big": "large", "help": "assist", "buy": "purchase",
    "start": "begin", "began": "started", "started": "began", "show": "demonstrate", "shows": "demonstrates",
    "many": "numerous", "people": "individuals", "important": "significant", "main": "principal",
    "rise": "increase", "fell": "dropped", "quickly": "rapidly", "however": "but", "also": "too",
    "about": "around", "around": "about", "nearly": "almost", "almost": "nearly", "company": "firm",
    "money": "funds", "children": "kids", "told": "informed", "asked": "questioned", "biggest": "largest",
    "largest": "biggest", "major": "key", "recent": "latest", "latest": "newest", "often": "frequently",
    "plans": "intends", "want": "wish", "wants": "wishes", "need": "require", "needs": "requires",
    "think": "believe", "thought": "believed", "place": "location", "result": "outcome", "city": "town",
}  # fmt: skip

# A sub-editor's house style and a hurried reporter's fingers.
_KEYBOARD = "qwertyuiopasdfghjklzxcvbnm"

AP_CITIES = ("WASHINGTON", "NEW YORK", "LOS ANGELES", "CHICAGO", "ATLANTA", "DENVER", "SEATTLE", "BOSTON")
REUTERS_CITIES = ("LONDON", "SINGAPORE", "FRANKFURT", "TOKYO", "SYDNEY", "TORONTO", "MUMBAI", "NAIROBI")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")  # fmt: skip
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
FIRST_NAMES = ("Maria", "James", "Aisha", "Tom", "Priya", "Daniel", "Sofia", "Kwame", "Helen", "Lucas", "Mei",
               "Owen", "Fatima", "Grace", "Ivan", "Nora", "Samuel", "Leila", "Ben", "Chloe")  # fmt: skip
LAST_NAMES = ("Okafor", "Lindqvist", "Ramirez", "Chen", "Whitlock", "Novak", "Haddad", "Brennan", "Takahashi",
              "Osei", "Marchetti", "Kowalski", "Sutherland", "Iqbal", "Delacroix", "Mwangi", "Petrov",
              "Quinlan")  # fmt: skip
ROLES = ("chief executive", "finance director", "deputy mayor", "board chair", "lead researcher", "spokesperson")
THINGS = ("jobs affected", "stores closing", "patients treated", "homes without power", "schools involved")
ORGS = ("the city council", "the company", "the health ministry", "the police department", "the university")
VENUES = ("the community centre", "the public library", "the old town hall", "the fire station", "the high school")

# Place names built from these parts, used only when the source stories never mention them.
TOWN_PARTS = (
    ("Ash", "Birch", "Cald", "Dun", "Elm", "Fern", "Glen", "Hart", "Ives", "Kest", "Lark", "Marl", "Nor", "Oak",
     "Pen", "Quar", "Ros", "Stan", "Thorn", "Wex", "Brack", "Cress", "Dorr", "Fal", "Gorse", "Holl"),
    ("bury", "combe", "dale", "field", "ford", "ham", "hurst", "ley", "mouth", "stead", "ton", "wick", "brook",
     "minster", "thorpe", "wold"),
)  # fmt: skip

LOCAL_PARAGRAPHS = (
    "Officials in {town} said on {weekday} that they were monitoring the situation and would share an update "
    "with residents at {venue} at {hour} p.m.",
    "{town} councillor {person} said {n} families in the area had contacted her office about the issue since "
    "{weekday}.",
    "In {town}, where {venue} closed early on {weekday}, several residents said they were still waiting for "
    "more information.",
    "The {town} Chamber of Commerce said it would hold a briefing for local businesses at {venue} on "
    "{weekday} morning.",
    "Readers in {town} with questions can attend a drop-in session at {venue} on {weekday} between {hour} and "
    "{hour2} p.m., organisers said.",
)
CORRECTIONS = (
    "This story has been corrected to show that {person} is the {role}, not the {role2}.",
    "This story has been corrected to show that the meeting took place on {weekday}, not {weekday2}.",
    "Correction: An earlier version of this article misstated the number of {thing}. It is {n}, not {n2}.",
    "Editor's note: This article was updated on {month} {day} to include a response from {org}.",
    "Clarification: This story has been updated to make clear that the figures were published on {weekday}.",
)
UPDATED_LINES = (
    "Updated at {hour}:{minute:02d} {ampm} ET on {month} {day}, 2024",
    "Updated {hour24:02d}:{minute:02d} GMT, {day} {month} 2024",
    "Last updated: {day:02d}/{month_number:02d}/2024 {hour24:02d}:{minute:02d}",
    "UPDATED {weekday_upper}, {month_upper} {day}",
)
BYLINES = ("By {first} {last}", "By {FIRST} {LAST}, {outlet}", "{first} {last}, Staff Writer",
           "By {first} {last} and {first2} {last2}")  # fmt: skip

OUTLETS = ("The Ferry Point Courier", "Inland Empire Ledger", "North Shore Bulletin", "The Daily Meridian",
           "Cedar County Press", "The Pacific Lantern", "Three Rivers Journal", "The Morning Sentinel")  # fmt: skip
NEWSLETTERS = (
    "Get our free morning briefing delivered to your inbox every weekday. Sign up now.",
    "Never miss a story: subscribe to our daily newsletter.",
    "Want more stories like this? Sign up for our weekly roundup.",
)
NEWSLETTER_BOX = (
    '<div class="newsletter-signup"><p>{}</p>'
    '<form><input type="email" placeholder="Email address"><button>Sign up</button></form></div>'
)
NAV = ("Home", "Local", "Nation", "World", "Business", "Sports", "Opinion", "Arts", "Obituaries", "Weather")
FOOTER = ("About us", "Contact", "Advertise", "Privacy policy", "Terms of service", "Corrections", "Careers")

# Same-template pairs: one company's press-release boilerplate around two different stories.
COMPANIES = (
    ("Harrowgate Analytics", "data analytics firm", "Leeds"),
    ("Brightwater Health Systems", "hospital software provider", "Minneapolis"),
    ("Corvane Logistics", "freight and warehousing company", "Rotterdam"),
    ("Solenne Energy", "solar and battery developer", "Lyon"),
    ("Tallis & Rowe Media", "regional newspaper group", "Bristol"),
    ("Quillfeather Learning", "online education company", "Austin"),
    ("Ostrava Precision", "industrial sensor maker", "Brno"),
    ("Marlinspike Capital", "private equity firm", "Boston"),
)
TEMPLATE_FIRST = (
    "{hq}, {month} {day}, 2024 — {company}, a {descriptor} based in {hq}, shares the following report with "
    "its clients, partners and media contacts as part of its regular industry briefing."
)
TEMPLATE_LAST = (
    "About {company}: {company} is a {descriptor} headquartered in {hq}. Founded in {year}, the company works "
    "with more than {clients} clients in {countries} countries and employs about {staff} people."
)

_WORD = re.compile(r"\w+")


# ---------------------------------------------------------------- base stories


@dataclass
class Story:
    sid: str  # cluster id of the story, "s0001"
    source: str  # scrapinghub ground-truth key and part, "04a6711c#2"
    headline: str
    paragraphs: list[str]


def shingle_set(text: str, size: int = 5) -> set[str]:
    words = _WORD.findall(unicodedata.normalize("NFKD", text.casefold()))
    return {" ".join(words[i : i + size]) for i in range(max(1, len(words) - size + 1))}


def article_paragraphs(body: str) -> list[str]:
    """Lines of a ground-truth body that hold words (it has zero-width-space spacer lines)."""
    lines = (re.sub(r"\s+", " ", line.replace("\u200b", "")).strip() for line in body.split("\n"))
    return [line for line in lines if any(ch.isalnum() for ch in line)]


def split_into_stories(paragraphs: list[str]) -> list[list[str]]:
    """An article as runs of consecutive paragraphs of about ``STORY_TARGET_WORDS`` words."""
    words = [len(p.split()) for p in paragraphs]
    parts = max(1, round(sum(words) / STORY_TARGET_WORDS))
    target = sum(words) / parts
    stories, current, current_words = [], [], 0
    for paragraph, count in zip(paragraphs, words):
        current.append(paragraph)
        current_words += count
        if current_words >= target and len(stories) < parts - 1:
            stories.append(current)
            current, current_words = [], 0
    if current:
        stories.append(current)
    return stories


def sentence_share(paragraphs: list[str]) -> float:
    """Share of the words that are in paragraphs ending like a sentence."""
    words = sum(len(p.split()) for p in paragraphs)
    return sum(len(p.split()) for p in paragraphs if _SENTENCE_ENDING.search(p)) / max(1, words)


def dev_shingles(eval_dir: Path, seeds_dir: Path = SEEDS_DIR) -> set[str]:
    """Every shingle of the dev set's documents and of the seed articles: text the method was built on."""
    found: set[str] = set()
    for folder in (eval_dir / "wirecopy_dev" / "docs", seeds_dir):
        for path in sorted(folder.glob("*")) if folder.is_dir() else []:
            if path.suffix in (".txt", ".html"):
                found |= shingle_set(path.read_text(encoding="utf-8", errors="replace"))
    return found


def load_heldout_stories(eval_dir: Path, seeds_dir: Path = SEEDS_DIR) -> tuple[list[Story], dict]:
    """Base stories from the scrapinghub bodies that the dev set and the seeds do not contain.

    Returns the stories (in ground-truth key order, ids not yet assigned) and counts of what was
    left out and why.
    """
    with open(eval_dir / "extraction_scrapinghub" / "ground-truth.json", encoding="utf-8") as handle:
        bodies = json.load(handle)
    seen = dev_shingles(eval_dir, seeds_dir)
    counts = Counter(articles=len(bodies))
    stories: list[Story] = []
    kept_shingles: list[set[str]] = []
    for key in sorted(bodies):
        paragraphs = article_paragraphs(bodies[key]["articleBody"])
        if sum(len(p.split()) for p in paragraphs) < MIN_ARTICLE_WORDS:
            counts["short_articles"] += 1
            continue
        shingles = shingle_set("\n".join(paragraphs))
        if len(shingles & seen) > MAX_DEV_SHARE * len(shingles):
            counts["articles_in_dev_set"] += 1
            continue
        counts["heldout_articles"] += 1
        for part, run in enumerate(split_into_stories(paragraphs)):
            own = shingle_set("\n".join(run))
            if sum(len(p.split()) for p in run) < MIN_ARTICLE_WORDS or len(run) < MIN_STORY_PARAGRAPHS:
                counts["short_parts"] += 1
                continue
            if sentence_share(run) < MIN_SENTENCE_SHARE:
                counts["list_like_parts"] += 1
                continue
            if any(len(own & other) > MAX_STORY_OVERLAP * min(len(own), len(other)) for other in kept_shingles):
                counts["overlapping_parts"] += 1
                continue
            kept_shingles.append(own)
            stories.append(Story("", f"{key[:8]}#{part}", "", run))
    counts["stories"] = len(stories)
    return stories, dict(counts)


# ---------------------------------------------------------------- edits


@dataclass
class Draft:
    """A document being written: headline, lines under it (byline, update time) and paragraphs."""

    headline: str
    paragraphs: list[str]
    top: list[str] = field(default_factory=list)
    edits: list[str] = field(default_factory=list)
    details: dict = field(default_factory=dict)


class Inventory:
    """What the edits draw from besides the rng: invented town names, each used once."""

    def __init__(self, corpus_words: set[str], rng: random.Random):
        towns = [a + b for a in TOWN_PARTS[0] for b in TOWN_PARTS[1] if (a + b).casefold() not in corpus_words]
        rng.shuffle(towns)
        self.towns = towns

    def town(self) -> str:
        return self.towns.pop()


def _person(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"


def _slots(rng: random.Random) -> dict:
    """Values for any template's placeholders."""
    hour24, month = rng.randint(6, 22), rng.randint(1, 12)
    weekday, weekday2 = rng.sample(WEEKDAYS, 2)
    role, role2 = rng.sample(ROLES, 2)
    return {
        "person": _person(rng), "role": role, "role2": role2, "weekday": weekday, "weekday2": weekday2,
        "weekday_upper": weekday.upper(), "month": MONTHS[month - 1], "month_upper": MONTHS[month - 1].upper(),
        "month_number": month, "day": rng.randint(1, 28), "hour": rng.randint(1, 8), "hour2": rng.randint(9, 11),
        "hour24": hour24, "minute": rng.randrange(60), "ampm": "a.m." if hour24 < 12 else "p.m.",
        "n": rng.randint(3, 90), "n2": rng.randint(91, 400), "thing": rng.choice(THINGS), "org": rng.choice(ORGS),
        "venue": rng.choice(VENUES), "outlet": rng.choice(OUTLETS),
    }  # fmt: skip


def truncate(draft: Draft, rng: random.Random, _inv: Inventory) -> bool:
    """Keep the first paragraphs, 35-90 % of the words, cut at the paragraph boundary nearest a random share."""
    words = [len(p.split()) for p in draft.paragraphs]
    total, target, running, options = sum(words), rng.uniform(*TRUNCATE_KEEP), 0, []
    for keep in range(1, len(words)):
        running += words[keep - 1]
        if TRUNCATE_KEEP[0] <= running / total <= TRUNCATE_KEEP[1]:
            options.append((abs(running / total - target), keep, running / total))
    if not options:
        return False
    _, keep, share = min(options)
    draft.paragraphs = draft.paragraphs[:keep]
    draft.details["truncated"] = round(share, 3)
    return True


def swap_paragraphs(draft: Draft, rng: random.Random, _inv: Inventory) -> bool:
    """Two adjacent paragraphs after the lead change places."""
    if len(draft.paragraphs) < 3:
        return False
    i = rng.randrange(1, len(draft.paragraphs) - 1)
    draft.paragraphs[i], draft.paragraphs[i + 1] = draft.paragraphs[i + 1], draft.paragraphs[i]
    return True


def split_paragraph(draft: Draft, rng: random.Random, _inv: Inventory) -> bool:
    """A paragraph of two or more sentences becomes two paragraphs."""
    options = [i for i, p in enumerate(draft.paragraphs) if len(split_sentences(p)) >= 2]
    if not options:
        return False
    i = rng.choice(options)
    sentences = split_sentences(draft.paragraphs[i])
    cut = rng.randrange(1, len(sentences))
    draft.paragraphs[i : i + 1] = [" ".join(sentences[:cut]), " ".join(sentences[cut:])]
    return True


def merge_paragraphs(draft: Draft, rng: random.Random, _inv: Inventory) -> bool:
    """Two adjacent paragraphs become one."""
    if len(draft.paragraphs) < 2:
        return False
    i = rng.randrange(len(draft.paragraphs) - 1)
    draft.paragraphs[i : i + 2] = [f"{draft.paragraphs[i]} {draft.paragraphs[i + 1]}"]
    return True


def remove_middle_sentence(draft: Draft, rng: random.Random, _inv: Inventory) -> bool:
    """One sentence cut from the middle half of the story (never the lead)."""
    n = len(draft.paragraphs)
    middle = range(max(1, n // 4), max(2, n - n // 4))
    options = [i for i in middle if i < n and len(split_sentences(draft.paragraphs[i])) >= 2]
    if options:
        i = rng.choice(options)
        sentences = split_sentences(draft.paragraphs[i])
        del sentences[rng.randrange(len(sentences))]
        draft.paragraphs[i] = " ".join(sentences)
        return True
    singles = [i for i in middle if 0 < i < n - 1]
    if not singles:
        return False
    del draft.paragraphs[rng.choice(singles)]
    return True


def _typo(word: str, rng: random.Random) -> str:
    i = rng.randrange(1, len(word) - 1)
    operation = rng.randrange(4)
    if operation == 0:  # transposed letters
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if operation == 1:  # dropped letter
        return word[:i] + word[i + 1 :]
    if operation == 2:  # doubled letter
        return word[:i] + word[i] + word[i:]
    replacement = rng.choice([c for c in _KEYBOARD if c != word[i].lower()])
    return word[:i] + replacement + word[i + 1 :]


def _match_case(model: str, word: str) -> str:
    if model.isupper() and len(model) > 1:
        return word.upper()
    return word[:1].upper() + word[1:] if model[:1].isupper() else word


def edit_words(draft: Draft, rng: random.Random, _inv: Inventory) -> bool:
    """2-6 % of the words changed: a synonym where the word has one, else a typo."""
    tokens = [p.split(" ") for p in draft.paragraphs]
    total = sum(len(t) for t in tokens)
    candidates = [
        (i, j) for i, paragraph in enumerate(tokens) for j, token in enumerate(paragraph)
        if len(re.sub(r"^\W+|\W+$", "", token)) >= 4 and re.sub(r"^\W+|\W+$", "", token).isalpha()
    ]  # fmt: skip
    wanted = max(1, round(rng.uniform(*WORD_EDIT_RATE) * total))
    chosen = rng.sample(candidates, min(wanted, len(candidates)))
    for i, j in chosen:
        lead, core, tail = re.match(r"^(\W*)(.*?)(\W*)$", tokens[i][j]).groups()
        synonym = SYNONYMS.get(core.lower())
        new = _match_case(core, synonym) if synonym else _typo(core, rng)
        tokens[i][j] = lead + new + tail
    if not chosen:
        return False
    draft.paragraphs = [" ".join(t) for t in tokens]
    draft.details["word_edits"] = round(len(chosen) / total, 4)
    return True


def swap_spelling(draft: Draft, rng: random.Random, _inv: Inventory) -> bool:
    """British spellings become American or the reverse, whichever the story uses more."""
    text = "\n".join(draft.paragraphs)
    words = Counter(w.lower() for w in _WORD.findall(text))
    us = sum(words[w] for w in US_TO_UK)
    uk = sum(words[w] for w in UK_TO_US)
    if not us and not uk:
        return False
    table = US_TO_UK if us >= uk else UK_TO_US
    pattern = re.compile(r"\b(" + "|".join(sorted(table, key=len, reverse=True)) + r")\b", re.IGNORECASE)
    count = 0

    def swap(match: re.Match) -> str:
        nonlocal count
        count += 1
        return _match_case(match.group(0), table[match.group(0).lower()])

    draft.paragraphs = [pattern.sub(swap, p) for p in draft.paragraphs]
    draft.details["spelling_swapped"] = count
    return True


_GROUPED_NUMBER = re.compile(r"\b\d{1,3}(?:,\d{3})+\b")
_PLAIN_NUMBER = re.compile(r"(?<![\d,.])\d{4,}(?![\d,]|\.\d)")
_PERCENT_WORD = re.compile(r"(\d) ?(?:percent|per cent)\b", re.IGNORECASE)
_PERCENT_SIGN = re.compile(r"(\d)%")


def _group_digits(match: re.Match) -> str:
    value = int(match.group(0))
    return match.group(0) if 1900 <= value <= 2099 else f"{value:,}"


def reformat_numbers(draft: Draft, rng: random.Random, _inv: Inventory) -> bool:
    """Another house style for numbers: "1,000" <-> "1000", "5 percent" <-> "5%"."""
    text = "\n".join(draft.paragraphs)
    changed = text
    if _GROUPED_NUMBER.search(changed):
        changed = _GROUPED_NUMBER.sub(lambda m: m.group(0).replace(",", ""), changed)
    else:
        changed = _PLAIN_NUMBER.sub(_group_digits, changed)
    if _PERCENT_WORD.search(changed):
        changed = _PERCENT_WORD.sub(r"\1%", changed)
    else:
        changed = _PERCENT_SIGN.sub(r"\1 percent", changed)
    if changed == text:
        return False
    draft.paragraphs = changed.split("\n")
    return True


def add_dateline(draft: Draft, rng: random.Random, _inv: Inventory) -> bool:
    """ "CITY (AP) — " or "CITY, Month D (Reuters) - " opening the first paragraph, unless it has one."""
    if SOURCE_WIRE_TAG.match(draft.paragraphs[0]):
        return False
    if rng.random() < 0.5:
        tag = f"{rng.choice(AP_CITIES)} (AP) — "
    else:
        tag = f"{rng.choice(REUTERS_CITIES)}, {rng.choice(MONTHS)} {rng.randint(1, 28)} (Reuters) - "
    draft.paragraphs[0] = tag + draft.paragraphs[0]
    draft.details["dateline"] = tag.strip()
    return True


def add_local_paragraph(draft: Draft, rng: random.Random, inv: Inventory) -> bool:
    """A paragraph about an invented town (a name found nowhere else in the set) appended."""
    town = inv.town()
    draft.paragraphs.append(rng.choice(LOCAL_PARAGRAPHS).format(town=town, **_slots(rng)))
    draft.details["local_paragraph"] = town
    return True


def add_correction(draft: Draft, rng: random.Random, _inv: Inventory) -> bool:
    """A correction or editor's note as the last paragraph."""
    draft.paragraphs.append(rng.choice(CORRECTIONS).format(**_slots(rng)))
    return True


def add_updated_line(draft: Draft, rng: random.Random, _inv: Inventory) -> bool:
    draft.top.append(rng.choice(UPDATED_LINES).format(**_slots(rng)))
    return True


def add_byline(draft: Draft, rng: random.Random, _inv: Inventory) -> bool:
    first, first2 = rng.sample(FIRST_NAMES, 2)
    last, last2 = rng.sample(LAST_NAMES, 2)
    line = rng.choice(BYLINES).format(
        first=first, last=last, first2=first2, last2=last2, FIRST=first.upper(), LAST=last.upper(),
        outlet=rng.choice(OUTLETS),
    )  # fmt: skip
    draft.top.insert(0, line)
    return True


def new_headline(draft: Draft, rng: random.Random, _inv: Inventory) -> bool:
    """Another outlet's headline: from another sentence of the lead paragraphs, or reworded."""
    sentences = [s for p in draft.paragraphs[:4] for s in split_sentences(p) if len(s.split()) >= 6]
    variants = [f"{draft.headline}: what we know so far", f"Analysis: {draft.headline}"]
    if sentences:
        variants.append(headline_from(rng.choice(sentences), rng.randint(6, 14)))
    rng.shuffle(variants)
    headline = next((v for v in variants if v and v != draft.headline), None)
    if headline is None:
        return False
    draft.headline = headline
    return True


# Applied in this order whatever order they were drawn in: cut first, then reword, then add.
EDIT_FUNCTIONS = {
    "truncated": truncate,
    "paragraphs_swapped": swap_paragraphs,
    "paragraph_split": split_paragraph,
    "paragraphs_merged": merge_paragraphs,
    "sentence_removed": remove_middle_sentence,
    "word_edits": edit_words,
    "spelling_swapped": swap_spelling,
    "numbers_reformatted": reformat_numbers,
    "dateline": add_dateline,
    "local_paragraph": add_local_paragraph,
    "correction_note": add_correction,
    "updated_line": add_updated_line,
    "byline": add_byline,
    "new_headline": new_headline,
}
assert tuple(EDIT_FUNCTIONS) == POSITIVE_EDITS
ALWAYS_APPLICABLE = ("dateline", "local_paragraph", "correction_note", "updated_line", "byline")


def make_copy(story: Story, edits: list[str], rng: random.Random, inv: Inventory) -> Draft:
    """A copy of ``story`` with ``edits`` applied (those that apply; the others are not recorded)."""
    draft = Draft(story.headline, list(story.paragraphs))
    for name in POSITIVE_EDITS:
        if name in edits and EDIT_FUNCTIONS[name](draft, rng, inv):
            draft.edits.append(name)
    if not draft.edits:  # none of the drawn edits applied (no spelling to swap...): add one that always does
        name = rng.choice(ALWAYS_APPLICABLE)
        EDIT_FUNCTIONS[name](draft, rng, inv)
        draft.edits.append(name)
    return draft


# ---------------------------------------------------------------- hard negatives


def pick_passage(story: Story, rng: random.Random) -> tuple[int, list[str]] | None:
    """Two consecutive paragraphs of ``story`` of ``PASSAGE_WORDS`` words together, and where they start."""
    words = [len(p.split()) for p in story.paragraphs]
    options = [i for i in range(len(words) - 1) if PASSAGE_WORDS[0] <= words[i] + words[i + 1] <= PASSAGE_WORDS[1]]
    if not options:
        return None
    i = rng.choice(options)
    return i, story.paragraphs[i : i + 2]


def insert_mid_text(paragraphs: list[str], passage: list[str], rng: random.Random) -> tuple[list[str], int]:
    """``passage`` between two paragraphs of the middle half (never first or last)."""
    n = len(paragraphs)
    at = rng.randint(max(1, n // 4), max(1, n - n // 4 - 1)) if n > 2 else 1
    return paragraphs[:at] + passage + paragraphs[at:], at


def _own_headline(paragraphs: list[str], rng: random.Random) -> str:
    sentences = [s for p in paragraphs[:3] for s in split_sentences(p)] or paragraphs[:1]
    return headline_from(sentences[0], rng.randint(6, 10))


def composite(a: Story, b: Story, rng: random.Random) -> Draft | None:
    """Story A with two paragraphs of story B inserted mid-text: a different article."""
    picked = pick_passage(b, rng)
    if picked is None:
        return None
    start, passage = picked
    paragraphs, at = insert_mid_text(list(a.paragraphs), passage, rng)
    draft = Draft(_own_headline(paragraphs, rng), paragraphs, edits=["composite"])
    draft.details = {"base": a.sid, "inserted_from": b.sid, "inserted": passage, "at": at, "from_paragraph": start}
    return draft


def shared_quote_pair(x: Story, y: Story, c: Story, rng: random.Random) -> list[Draft] | None:
    """Two different stories (kept out of the set otherwise) quoting the same two paragraphs of C."""
    picked = pick_passage(c, rng)
    if picked is None:
        return None
    start, passage = picked
    drafts = []
    for base in (x, y):
        paragraphs, at = insert_mid_text(list(base.paragraphs), passage, rng)
        draft = Draft(base.headline, paragraphs, edits=["shared_quote"])
        draft.details = {
            "base": base.source,
            "quoted_from": c.sid,
            "quoted": passage,
            "at": at,
            "from_paragraph": start,
        }
        drafts.append(draft)
    return drafts


def follow_up(a: Story, d: Story, rng: random.Random) -> Draft:
    """A's first two paragraphs as background, then four or more paragraphs of a new story D."""
    new = d.paragraphs[: rng.randint(4, max(4, min(8, len(d.paragraphs))))]
    draft = Draft(_own_headline(new, rng), a.paragraphs[:2] + new, edits=["follow_up"])
    draft.details = {"recap_from": a.sid, "recap": a.paragraphs[:2], "new_from": d.source, "new_paragraphs": len(new)}
    return draft


def same_template_pair(x: Story, y: Story, company: tuple[str, str, str], rng: random.Random) -> list[Draft]:
    """Two different stories between one company's boilerplate first and last paragraph."""
    name, descriptor, hq = company
    slots = {"company": name, "descriptor": descriptor, "hq": hq, "month": rng.choice(MONTHS),
             "day": rng.randint(1, 28), "year": rng.randint(1985, 2015), "clients": rng.randint(2, 40) * 50,
             "countries": rng.randint(3, 60), "staff": rng.randint(2, 90) * 100}  # fmt: skip
    first, last = TEMPLATE_FIRST.format(**slots), TEMPLATE_LAST.format(**slots)
    drafts = []
    for base in (x, y):
        draft = Draft(base.headline, [first, *base.paragraphs, last], edits=["same_template"])
        draft.details = {"base": base.source, "company": name, "boilerplate": [first, last]}
        drafts.append(draft)
    return drafts


# ---------------------------------------------------------------- rendering


def render_text(draft: Draft) -> str:
    return "\n\n".join([draft.headline, *draft.top, *draft.paragraphs]) + "\n"


def render_page(draft: Draft, related: list[str], rng: random.Random) -> str:
    """The document as a news page: nav, byline, a newsletter box inside the story, related links, footer."""
    e = html.escape
    outlet = rng.choice(OUTLETS)
    body = [f"<p>{e(p)}</p>" for p in draft.paragraphs]
    box_at = min(len(body), rng.randint(2, 4))
    body.insert(box_at, NEWSLETTER_BOX.format(e(rng.choice(NEWSLETTERS))))
    nav = "".join(f'<li><a href="/{item.lower()}/">{item}</a></li>' for item in rng.sample(NAV, 7))
    top = "".join(f'<p class="byline">{e(line)}</p>' for line in draft.top)
    links = "".join(f'<li><a href="/news/{i}">{e(title)}</a></li>' for i, title in enumerate(related))
    footer = " | ".join(f'<a href="/{f.lower().replace(" ", "-")}">{f}</a>' for f in FOOTER)
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{e(draft.headline)} | {e(outlet)}</title>'
        f'<meta property="og:site_name" content="{e(outlet)}"></head>\n<body>\n'
        f'<header><a class="logo" href="/">{e(outlet)}</a><nav><ul>{nav}</ul></nav></header>\n'
        f'<main><article><h1>{e(draft.headline)}</h1>{top}\n<div class="article-body">\n'
        + "\n".join(body)
        + f'\n</div></article>\n<aside class="related"><h2>Related stories</h2><ul>{links}</ul></aside></main>\n'
        f"<footer><p>{footer}</p><p>&copy; 2024 {e(outlet)}. All rights reserved.</p></footer>\n</body></html>\n"
    )


# ---------------------------------------------------------------- the set


@dataclass
class Planned:
    """One document of the set before it has a file name; ``key`` identifies it meanwhile."""

    key: str
    draft: Draft
    cluster: str
    role: str  # "original" | "copy" | "negative"
    story: Story | None = None
    fmt: str = "txt"
    original: str | None = None  # a copy's original (key)
    negative: str | None = None  # a negative's kind
    apart_from: list[str] = field(default_factory=list)  # keys a negative must not be clustered with


def set_aside(stories: list[Story]) -> dict[str, list[Story]]:
    """Stories by use. Those that appear only inside negatives (shared-quote and same-template
    pairs, a follow-up's new paragraphs) are set aside first, so nothing else shares their text."""
    per_kind = max(1, round(len(stories) / STORIES_PER_NEGATIVE))
    new_material = [s for s in stories if len(s.paragraphs) >= 4][:per_kind]
    rest = [s for s in stories if s not in new_material]
    groups = {
        "new_material": new_material,
        "quoters": rest[: 2 * per_kind],
        "templated": rest[2 * per_kind : 4 * per_kind],
        "in_set": rest[4 * per_kind :],
    }
    if len(groups["in_set"]) < 3:
        raise ValueError(f"{len(stories)} stories are too few; give at least {5 * per_kind + 3}")
    return groups


def plan_copies(in_set: list[Story], rng: random.Random, inv: Inventory) -> list[Planned]:
    """Each story's original and 0-6 copies with a random mix of edits (about 20 % as HTML pages)."""
    planned = []
    for story in in_set:
        original = f"{story.sid}/original"
        planned.append(Planned(original, Draft(story.headline, list(story.paragraphs)), story.sid, "original", story))
        for number in range(rng.randint(*COPIES_PER_STORY)):
            draft = make_copy(story, rng.sample(POSITIVE_EDITS, rng.randint(*EDITS_PER_COPY)), rng, inv)
            fmt = "html" if rng.random() < HTML_SHARE else "txt"
            if fmt == "html":
                draft.edits.append("html_chrome")
            planned.append(Planned(f"{story.sid}/copy{number}", draft, story.sid, "copy", story, fmt, original))
    return planned


def plan_negatives(groups: dict[str, list[Story]], rng: random.Random) -> list[Planned]:
    """The hard negatives, each its own cluster ``nNNNN``."""
    in_set = groups["in_set"]
    per_kind = len(groups["new_material"])
    planned: list[Planned] = []

    def add(draft: Draft, kind: str, apart_from: list[str]) -> None:
        key = f"n{len(planned) + 1:04d}"
        planned.append(Planned(key, draft, key, "negative", negative=kind, apart_from=apart_from))

    def next_two() -> tuple[str, str]:  # the keys a pair is about to get
        return f"n{len(planned) + 1:04d}", f"n{len(planned) + 2:04d}"

    for _ in range(2 * per_kind):
        a, b = rng.sample(in_set, 2)
        draft = composite(a, b, rng)
        if draft is not None:
            add(draft, "composite", [f"{a.sid}/original", f"{b.sid}/original"])
    for x, y in zip(groups["quoters"][0::2], groups["quoters"][1::2]):
        c = rng.choice(in_set)
        pair = shared_quote_pair(x, y, c, rng)
        if pair is not None:
            first, second = next_two()
            add(pair[0], "shared_quote", [f"{c.sid}/original", second])
            add(pair[1], "shared_quote", [f"{c.sid}/original", first])
    for d in groups["new_material"]:
        a = rng.choice(in_set)
        add(follow_up(a, d, rng), "follow_up", [f"{a.sid}/original"])
    templated = groups["templated"]
    companies = rng.sample(COMPANIES, min(len(COMPANIES), len(templated) // 2))
    for (x, y), company in zip(zip(templated[0::2], templated[1::2]), companies):
        pair = same_template_pair(x, y, company, rng)
        first, second = next_two()
        add(pair[0], "same_template", [second])
        add(pair[1], "same_template", [first])
    return planned


def write_documents(docs_dir: Path, planned: list[Planned], rng: random.Random) -> list[dict]:
    """Files ``docNNNNN.txt|html`` in shuffled order (a copy never sits next to its original by
    construction); returns their manifest entries."""
    order = list(range(len(planned)))
    rng.shuffle(order)
    file_of = {planned[index].key: f"doc{n:05d}.{planned[index].fmt}" for n, index in enumerate(order, start=1)}
    headlines = [doc.draft.headline for doc in planned]
    docs_dir.mkdir(parents=True, exist_ok=True)
    entries = []
    for index in order:
        doc = planned[index]
        if doc.fmt == "html":
            related = rng.sample([h for h in headlines if h != doc.draft.headline], 3)
            content = render_page(doc.draft, related, rng)
        else:
            content = render_text(doc.draft)
        (docs_dir / file_of[doc.key]).write_text(content, encoding="utf-8")
        entries.append(
            {
                "file": file_of[doc.key],
                "cluster": doc.cluster,
                "role": doc.role,
                "story": doc.story.sid if doc.story else None,
                "source": doc.story.source if doc.story else None,
                "negative": doc.negative,
                "edits": doc.draft.edits,
                "details": doc.draft.details,
                "original": file_of[doc.original] if doc.original else None,
                "apart_from": [file_of[key] for key in doc.apart_from],
            }
        )
    return sorted(entries, key=lambda entry: entry["file"])


def generate_heldout(
    out_dir: str | Path, n_stories: int = DEFAULT_STORIES, seed: int = DEFAULT_SEED, eval_dir: Path = EVAL_DIR
) -> dict:
    """Write the labelled held-out set to ``out_dir`` (``docs/``, ``labels.csv``, ``manifest.json``).

    Returns the manifest: ``{"seed", "stories", "stories_in_set", "negatives_per_kind",
    "source_counts", "docs": [{"file", "cluster", "role": "original"|"copy"|"negative", "story",
    "source", "negative", "edits", "details", "original", "apart_from"}]}``. ``original`` is a
    copy's original file; ``apart_from`` lists the files a negative takes text from or is paired
    with (it must be clustered with none of them).
    """
    out_dir = Path(out_dir)
    docs_dir = out_dir / "docs"
    if docs_dir.is_dir() and any(docs_dir.iterdir()):
        raise FileExistsError(f"{docs_dir} is not empty; give an empty or new folder")
    rng = random.Random(seed)
    pool, source_counts = load_heldout_stories(Path(eval_dir))
    rng.shuffle(pool)
    stories = pool[:n_stories]
    inv = Inventory({w for s in pool for p in s.paragraphs for w in _WORD.findall(p.casefold())}, rng)
    for index, story in enumerate(stories, start=1):
        story.sid = f"s{index:04d}"
        story.headline = _own_headline(story.paragraphs, rng)
    groups = set_aside(stories)
    planned = plan_copies(groups["in_set"], rng, inv) + plan_negatives(groups, rng)
    docs = write_documents(docs_dir, planned, rng)
    with open(out_dir / "labels.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "cluster"])
        writer.writerows([doc["file"], doc["cluster"]] for doc in docs)
    manifest = {
        "seed": seed,
        "stories": len(stories),
        "stories_in_set": len(groups["in_set"]),
        "negatives_per_kind": len(groups["new_material"]),
        "source_counts": source_counts,
        "docs": docs,
    }
    with open(out_dir / MANIFEST_FILE, "w", encoding="utf-8") as handle:
        json.dump(manifest, handle, indent=1, ensure_ascii=False)
    return manifest


# ---------------------------------------------------------------- scoring by case


def _bucket(edit: str, details: dict) -> str:
    """Edit kinds whose strength varies are reported in two halves, so a threshold shows up."""
    if edit == "word_edits":
        return "word_edits 2-4%" if details["word_edits"] < 0.04 else "word_edits 4-6%"
    if edit == "truncated":
        return "truncated to 35-60%" if details["truncated"] < 0.6 else "truncated to 60-90%"
    return edit


def case_outcomes(manifest: dict, predicted: dict[str, str]) -> list[dict]:
    """Per document: whether it was clustered correctly, with the cases it counts for.

    A copy is right when it lands in its original's cluster; a negative or an original is
    right when its predicted cluster holds no document of another true cluster.
    """
    truth = {d["file"]: d["cluster"] for d in manifest["docs"]}
    members: dict[str, list[str]] = defaultdict(list)
    for name in truth:
        members[predicted.get(name, f"missing:{name}")].append(name)
    outcomes = []
    for doc in manifest["docs"]:
        name = doc["file"]
        group = members[predicted.get(name, f"missing:{name}")]
        if doc["role"] == "copy":
            correct = predicted.get(name) is not None and predicted.get(name) == predicted.get(doc["original"])
            cases = ["all copies", *(_bucket(e, doc["details"]) for e in doc["edits"])]
            if "word_edits" not in doc["edits"]:
                cases.append("copies without word_edits")
            text_edits = [e for e in doc["edits"] if e != "html_chrome"]
            if len(text_edits) == 1:  # failures here are the edit's own, not its mix's
                cases.append("single edit: " + _bucket(text_edits[0], doc["details"]))
        else:
            correct = all(truth[other] == doc["cluster"] for other in group)
            cases = ["originals kept apart"] if doc["role"] == "original" else [f"negative: {doc['negative']}"]
        wrong_company = [other for other in group if truth[other] != doc["cluster"]]
        outcomes.append({"file": name, "correct": correct, "cases": cases, "merged_with": wrong_company})
    return outcomes


def case_table(outcomes_by_method: dict[str, list[dict]]) -> list[dict]:
    """Rows ``{"case", "n", method: correct count, ...}`` in a stable order."""
    rows: dict[str, dict] = {}
    for method, outcomes in outcomes_by_method.items():
        for outcome in outcomes:
            for case in outcome["cases"]:
                row = rows.setdefault(case, {"case": case, "n": 0, **{m: 0 for m in outcomes_by_method}})
                row[method] += outcome["correct"]
                if method == next(iter(outcomes_by_method)):
                    row["n"] += 1

    def order(case: str) -> tuple:
        if case in ("all copies", "copies without word_edits"):
            return (0, case)
        if case.startswith("single edit"):
            return (2, case)
        if case.startswith("negative") or case.startswith("originals"):
            return (3, case)
        return (1, case)

    return [rows[case] for case in sorted(rows, key=order)]


def cleaned_text(path: Path) -> str:
    """The text the dedup stage compares: the read and clean stages' own functions."""
    from schemas.config import CleanConfig, ReadConfig
    from transforms.clean import CleanError, clean_document
    from transforms.read import read_input

    [(tag, raw)] = read_input(str(path), None, ReadConfig())
    if tag != "document":
        return ""
    try:
        return clean_document(raw, CleanConfig(), "heldout", dt.datetime.now(dt.timezone.utc))["text"]
    except CleanError:
        return ""


def pair_report(a: Path, b: Path) -> dict:
    """Jaccard and containment of two documents' cleaned prose shingles, as the dedup stage verifies them."""
    from schemas.config import DedupConfig
    from transforms.dedup import pair_similarity, shingle_hashes, shingles, verified_similarity

    cfg = DedupConfig()
    sets = [shingle_hashes(shingles(cleaned_text(p), cfg.shingle_words)) for p in (a, b)]
    jaccard, containment = pair_similarity(*sets)
    return {
        "jaccard": round(jaccard, 3),
        "containment": round(containment, 3),
        "shingles": [len(s) for s in sets],
        "passes_thresholds": verified_similarity(*sets, cfg) is not None,
    }


def failures(manifest: dict, outcomes: list[dict], docs_dir: Path) -> list[dict]:
    """Each wrongly clustered document with what it is and the similarity that decided it."""
    by_file = {d["file"]: d for d in manifest["docs"]}
    found = []
    for outcome in outcomes:
        if outcome["correct"]:
            continue
        doc = by_file[outcome["file"]]
        item = {
            "file": doc["file"],
            "role": doc["role"],
            "kind": doc["negative"] or doc["edits"],
            "details": doc["details"],
        }
        if doc["role"] == "copy":
            item["vs_original"] = {
                "file": doc["original"],
                **pair_report(docs_dir / doc["file"], docs_dir / doc["original"]),
            }
        else:
            item["merged_with"] = [
                {"file": other, "role": by_file[other]["role"], "cluster": by_file[other]["cluster"],
                 **pair_report(docs_dir / doc["file"], docs_dir / other)}
                for other in outcome["merged_with"][:6]
            ]  # fmt: skip
        found.append(item)
    return found


def print_report(manifest: dict, scores: dict, rows: list[dict], newsbeam_failures: list[dict]) -> None:
    counts = manifest["source_counts"]
    roles = Counter(d["role"] for d in manifest["docs"])
    print(
        f"held-out set: seed {manifest['seed']}, {manifest['stories']} stories from "
        f"{counts.get('heldout_articles', 0)} scrapinghub articles ({counts.get('articles_in_dev_set', 0)} left out: "
        f"in wirecopy_dev or the seeds; {counts.get('short_articles', 0)} under {MIN_ARTICLE_WORDS} words)"
    )
    print(
        f"{len(manifest['docs'])} files: {roles['original']} originals, {roles['copy']} copies, "
        f"{roles['negative']} hard negatives; {len({d['cluster'] for d in manifest['docs']})} true clusters"
    )
    print(f"\n{'method':<34} {'ARI':>7} {'precision':>10} {'recall':>8} {'F1':>7}")
    for name, s in scores.items():
        print(f"{name:<34} {s['ari']:>7.4f} {s['precision']:>10.4f} {s['recall']:>8.4f} {s['f1']:>7.4f}")
    methods = [key for key in rows[0] if key not in ("case", "n")]
    print(f"\n{'case (copy found / negative kept apart)':<42} {'n':>4} {'newsbeam':>10} {'baseline':>10}")
    for row in rows:
        cells = "".join(f" {row[m]:>4}/{row['n']:<5}" for m in methods)
        print(f"{row['case']:<42} {row['n']:>4}{cells}")
    print(f"\nnewsbeam failures ({len(newsbeam_failures)}):")
    for item in newsbeam_failures:
        if item["role"] == "copy":
            sim = item["vs_original"]
            print(
                f"  missed copy {item['file']} of {sim['file']}: edits {item['kind']}; cleaned J={sim['jaccard']} "
                f"C={sim['containment']} shingles={sim['shingles']} passes={sim['passes_thresholds']}"
            )
        else:
            partners = ", ".join(
                f"{m['file']} ({m['role']} {m['cluster']}, J={m['jaccard']} C={m['containment']}, "
                f"passes={m['passes_thresholds']})"
                for m in item["merged_with"]
            )
            print(f"  {item['role']} {item['file']} [{item['kind']}] merged with {partners}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--stories", type=int, default=DEFAULT_STORIES, help="base stories (fewer if fewer are held out)"
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--eval-dir", type=Path, default=EVAL_DIR)
    parser.add_argument("--keep", type=Path, help="write the set to this (empty) folder and keep it")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--result", type=Path, default=REPO / "benchmarks" / "results" / "dedup_heldout.json")
    args = parser.parse_args(argv)
    if not (args.eval_dir / "extraction_scrapinghub" / "ground-truth.json").is_file():
        print(f"no scrapinghub ground truth under {args.eval_dir}", file=sys.stderr)
        return 2
    beam_args = []
    if args.workers > 1:
        beam_args = ["--direct_running_mode=multi_processing", f"--direct_num_workers={args.workers}"]
    with tempfile.TemporaryDirectory() as scratch:
        data = args.keep or Path(scratch)
        manifest = generate_heldout(data, args.stories, args.seed, args.eval_dir)
        labels = load_labels(data)
        predicted, accounting = newsbeam_clusters(data, beam_args)
        base = baseline_clusters(data)
        scores = {"newsbeam": score(labels, predicted), "baseline MinHash LSH 0.7, 5-gram": score(labels, base)}
        outcomes = {"newsbeam": case_outcomes(manifest, predicted), "baseline": case_outcomes(manifest, base)}
        rows = case_table(outcomes)
        newsbeam_failures = failures(manifest, outcomes["newsbeam"], data / "docs")
    print_report(manifest, scores, rows, newsbeam_failures)
    print(f"\naccounting: {accounting}")
    args.result.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "set": {k: manifest[k] for k in ("seed", "stories", "stories_in_set", "negatives_per_kind", "source_counts")}
        | {
            "files": len(manifest["docs"]),
            "clusters": len(set(labels.values())),
            "kept_at": str(args.keep) if args.keep else None,
        },
        "newsbeam": scores["newsbeam"],
        "baseline": scores["baseline MinHash LSH 0.7, 5-gram"],
        "cases": rows,
        "newsbeam_failures": newsbeam_failures,
        "accounting": accounting,
    }
    args.result.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
