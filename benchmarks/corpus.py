"""A deterministic corpus of realistic news pages, with planted wire copies, for benchmarks.

``generate_corpus(n, out_dir)`` writes ``n`` HTML pages to ``out_dir/pages/`` and the ground
truth to ``out_dir/truth.json`` (outside the input folder, so the pipeline never reads it):

- Each *original* page carries about 600-640 words of real English news prose: runs of
  passages (one to three consecutive sentences of one real article) from the seed articles in
  ``samples/seeds``, the wire-copy set and the scrapinghub ground-truth bodies in
  ``../shared/eval`` (when present; the seeds alone otherwise). Real prose, because the enrich
  stage's cost (spaCy) depends on real sentence structure and entity density.
- Distinct originals stay distinct for near-duplicate *and* passage-reuse detection. The
  sources hold about 5,000 distinct sentences (110,000 words), enough for about 180 pages,
  so a sentence is used verbatim once only; every later use is *respun*: names, numbers and
  content words swapped for others of the same shape and ending from the pool, function words
  and punctuation kept, never more than three words in a row unchanged. A respun sentence has
  the length, shape, entity and number density of news prose (what spaCy's cost depends on)
  but shares no 5-word shingle with any other page. ``truth.json`` counts verbatim and respun
  sentences; from about 200 pages on, most sentences are respun.
- Pages wrap the prose in an outlet's chrome: cookie banner, header nav, kicker, byline, a
  newsletter promo line inside the story, share bar, related links, a "Most read" sidebar,
  footer and scripts (about 9 KB of HTML a page, half of it prose), with ``<title>``,
  ``meta name=author``, ``article:published_time`` (spread over four days) and ``og:site_name``.
- A share of the ``n`` pages (``copy_share``, 10 % by default) are *planted copies*: an
  original republished by another outlet with the edits syndication makes: other chrome, a
  changed headline, a dateline or ``(Reuters) -`` tag, curly quotes straightened (or
  straight ones curled), and the last sentence dropped or a short local paragraph appended.
  Copies are published 20 minutes to 18 hours after their original.

Everything is drawn from one ``random.Random(seed)``, so one seed gives byte-identical files.
Run ``python benchmarks/corpus.py N DIR`` to write a corpus without benchmarking it.
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
import unicodedata
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SEEDS_DIR = REPO / "samples" / "seeds"
EVAL_DIR = REPO.parent / "shared" / "eval"
TRUTH_FILE = "truth.json"
PAGES_DIR = "pages"

DEFAULT_SEED = 20240304
BODY_WORDS = (600, 640)
# An article is a few runs of consecutive passages of different source articles: topical
# stretches, like a story with background paragraphs, rather than a shuffle of sentences.
RUN_PASSAGES = (4, 10)
FIRST_PUBLISHED = dt.datetime(2024, 3, 4, 5, 0, tzinfo=dt.timezone.utc)
PUBLISHING_DAYS = 4
COPY_DELAY_MINUTES = (20, 18 * 60)

# (name, domain, town): fictional outlets, so no real agency name reaches the clean stage's credit rules.
OUTLETS = (
    ("Harbor City Herald", "harborcityherald.com", "Harbor City"),
    ("The Valley Tribune", "valleytribune.com", "Millbrook"),
    ("Northern Courier", "northerncourier.co.uk", "Ashby"),
    ("The Lakeside Gazette", "lakesidegazette.com", "Lakeside"),
    ("Riverbend Daily", "riverbenddaily.com", "Riverbend"),
    ("The Coastal Observer", "coastalobserver.net", "Port Ellis"),
    ("Midland Post", "midlandpost.co.uk", "Halden"),
    ("The Summit Ledger", "summitledger.com", "Summit"),
    ("Prairie Star", "prairiestar.news", "Calloway"),
    ("The Capital Dispatch", "capitaldispatch.com", "Kingsford"),
    ("Westfield Chronicle", "westfieldchronicle.com", "Westfield"),
    ("The Bay Reporter", "bayreporter.org", "Bayview"),
    ("Eastern Sentinel", "easternsentinel.com", "Eastbrook"),
    ("The Highland Times", "highlandtimes.co.uk", "Glenmoor"),
    ("Metro Evening News", "metroeveningnews.com", "Norcross"),
    ("The Granite Standard", "granitestandard.com", "Granite Falls"),
    ("Southern Record", "southernrecord.com", "Marlow"),
    ("The Island Voice", "islandvoice.news", "St Anselm"),
    ("Pinewood Press", "pinewoodpress.com", "Pinewood"),
    ("The Morning Register", "morningregister.com", "Fairhaven"),
    ("Canal Street Journal", "canalstreetjournal.com", "Canalside"),
    ("The Border Examiner", "borderexaminer.co.uk", "Carrick"),
    ("Desert Sun Times", "desertsuntimes.com", "Mesa Verde"),
    ("The Evening Bulletin", "eveningbulletin.net", "Thornbury"),
    ("Orchard County News", "orchardcountynews.com", "Orchard"),
    ("The Union Mirror", "unionmirror.com", "Union"),
    ("Seaboard Messenger", "seaboardmessenger.com", "Seaboard"),
    ("The Forest Echo", "forestecho.org", "Oakhurst"),
    ("Redhill Advertiser", "redhilladvertiser.co.uk", "Redhill"),
    ("The Weekly Clarion", "weeklyclarion.com", "Clarion"),
)
AUTHORS = (
    "Maria Delgado", "James Whitfield", "Priya Raman", "Tom Okafor", "Hannah Berger", "Liam Chen",
    "Sofia Rossi", "Daniel Mensah", "Emma Lindqvist", "Arjun Patel", "Claire Dubois", "Noah Fischer",
    "Aisha Bello", "Lucas Moreau", "Grace Kimura", "Oliver Grant", "Fatima Haddad", "Ethan Novak",
    "Chloe Martins", "Samuel Adeyemi", "Isabel Ortega", "Ben Carter", "Nadia Petrova", "Owen Hughes",
)  # fmt: skip
SECTIONS = ("World", "Politics", "Business", "Technology", "Health", "Science", "Environment", "National")
WIRES = (
    "(Reuters) - ",
    "{city}, {month} {day} (Reuters) - ",
    "{city} (AP) — ",
    "{city} (AFP) - ",
)
WIRE_CITIES = ("LONDON", "WASHINGTON", "NEW YORK", "PARIS", "BRUSSELS", "BERLIN", "TOKYO", "NAIROBI", "SYDNEY")
LOCAL_PARAGRAPHS = (
    "Officials in {town} said they were following the developments closely and would brief residents "
    "at a public meeting on {weekday} evening.",
    "{town} council leader {person} said the authority had asked for an urgent briefing and expected "
    "to discuss the matter when councillors meet on {weekday}.",
    "Business owners in {town} told the {outlet} that the news had already been the main topic of "
    "conversation among customers this week.",
    "A spokesperson for {town} police said there was no immediate local impact, but residents with "
    "concerns could contact the force through its usual non-emergency number.",
)
NEWSLETTERS = (
    "Sign up for The Morning Brief newsletter to get the day's top stories in your inbox.",
    "Sign up to our free daily newsletter for the latest headlines.",
    "Get the best of our journalism every weekday: sign up for our newsletter here.",
    "Subscribe to our breaking news alerts and never miss a story.",
)
COOKIE_NOTICES = (
    "We use cookies and similar technologies to improve your experience, to show you personalised "
    "content and ads, and to analyse our traffic. By continuing you agree to our use of cookies.",
    "This site uses cookies to provide essential functionality, measure audiences and show relevant "
    "advertising. You can change your preferences at any time in our privacy settings.",
)
NAV_ITEMS = ("Home", "News", "World", "Politics", "Business", "Sport", "Opinion", "Culture", "Lifestyle", "Weather")
FOOTER_LINKS = (
    "About us", "Contact", "Careers", "Advertise", "Terms of use", "Privacy policy", "Cookie settings",
    "Accessibility", "Corrections", "Newsletters", "RSS feeds", "Help",
)  # fmt: skip
BODY_CLASSES = ("story-body", "article-content", "entry-content", "article__body", "post-text")
PROMO_WORDS = re.compile(
    r"sign up|subscribe|newsletter|click here|read more|advertisement|all rights reserved|copyright|©|"
    r"https?:|www\.|@|getty|photograph:|contributed (?:to )?this report|follow us|download the",
    re.IGNORECASE,
)
# "(Reuters) - ", "KYIV, Ukraine (AP) — " opening a source paragraph: syndication marks of the
# source, removed so that the only such marks in the corpus are the planted ones.
SOURCE_WIRE_TAG = re.compile(r"^(?:[A-Z][A-Za-z.'’ -]{0,40}(?:,[^()]{1,40})?\s*)?\([A-Za-z .]{2,30}\)\s*[-—–]+\s*")
SENTENCE_END = re.compile(r"(?<=[.!?])[\"”’)]?\s+(?=[\"“‘(]?[A-Z0-9])")
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Passage:
    """One to three consecutive sentences of one source article: one paragraph of a page."""

    sentence_ids: tuple[int, ...]
    document: int  # index of the source article, to continue a run of its passages


@dataclass
class SentencePool:
    sentences: list[str]
    passages: list[Passage]
    sources: dict[str, int]  # source name -> articles used from it
    vocabulary: dict[str, list[str]]  # swappable words by class, for respins


@dataclass
class Article:
    story: int
    paragraphs: list[list[str]]  # sentences per paragraph
    title: str
    author: str
    outlet: int
    section: str
    published_at: dt.datetime
    copy_of: int | None = None  # index of the original article
    edits: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- source prose


def split_sentences(paragraph: str) -> list[str]:
    """Sentences of one paragraph, split after ``.!?`` (and a closing quote) before a capital."""
    return [s.strip() for s in SENTENCE_END.split(paragraph) if s.strip()]


def _comparison_key(sentence: str) -> str:
    folded = unicodedata.normalize("NFKD", sentence.casefold())
    return " ".join(_WORD.findall(folded))


def is_usable_sentence(sentence: str) -> bool:
    """A sentence of reporting: 6-60 words, starts like a sentence, ends like one, no promo or link."""
    words = sentence.split()
    if not 6 <= len(words) <= 60:
        return False
    if not (sentence[0].isupper() or sentence[0] in '"“‘'):
        return False
    if not re.search(r"[.!?][\"”’)]?$", sentence):
        return False
    letters = [ch for ch in sentence if ch.isalpha()]
    if sum(ch.isupper() for ch in letters) > 0.5 * len(letters):
        return False  # all-caps teaser or subhead
    return not PROMO_WORDS.search(sentence)


def _is_english(paragraph: str) -> bool:
    import py3langid

    language, _ = py3langid.classify(paragraph)
    return language == "en"


def load_source_documents(seeds_dir: Path = SEEDS_DIR, eval_dir: Path | None = EVAL_DIR) -> dict[str, list[str]]:
    """Real article bodies by source: ``seeds`` always; ``wirecopy`` and ``scrapinghub`` when present.

    Of the wire-copy set only one text file per labelled cluster is used: its other members
    are copies of it, and copies here would undo the care taken to keep originals distinct.
    """
    documents = {"seeds": [p.read_text(encoding="utf-8") for p in sorted(Path(seeds_dir).glob("*.txt"))]}
    if eval_dir is None:
        return documents
    wirecopy = Path(eval_dir) / "wirecopy_dev"
    labels = wirecopy / "labels.csv"
    if labels.is_file():
        first_of_cluster: dict[str, str] = {}
        with open(labels, encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                if row["file"].endswith(".txt"):
                    first_of_cluster.setdefault(row["cluster"], row["file"])
        documents["wirecopy"] = [
            (wirecopy / "docs" / name).read_text(encoding="utf-8")
            for name in sorted(first_of_cluster.values())
            if (wirecopy / "docs" / name).is_file()
        ]
    truth = Path(eval_dir) / "extraction_scrapinghub" / "ground-truth.json"
    if truth.is_file():
        with open(truth, encoding="utf-8") as handle:
            bodies = json.load(handle)
        documents["scrapinghub"] = [bodies[key]["articleBody"] for key in sorted(bodies)]
    return documents


def build_sentence_pool(documents: dict[str, list[str]], rng: random.Random) -> SentencePool:
    """Distinct usable English sentences, grouped into passages of 1-3 consecutive sentences.

    Passages keep their source order, so ``passages[i + 1]`` of the same document continues
    ``passages[i]``: articles are dealt runs of them and read like reporting, not like a shuffle.
    """
    sentences: list[str] = []
    seen: set[str] = set()  # only tested for membership: its order never matters
    passages: list[Passage] = []
    used_sources: Counter = Counter()
    document = 0
    for source, texts in documents.items():
        for text in texts:
            before = len(passages)
            for paragraph in re.split(r"\n\s*\n|\n", text):
                paragraph = SOURCE_WIRE_TAG.sub("", paragraph.strip(), count=1)
                if len(paragraph.split()) < 6 or not _is_english(paragraph):
                    continue
                run: list[int] = []
                for sentence in split_sentences(paragraph):
                    key = _comparison_key(sentence)
                    if not is_usable_sentence(sentence) or key in seen:
                        # A dropped sentence ends the passage: passages never skip one.
                        passages.extend(_cut_into_passages(run, document, rng))
                        run = []
                        continue
                    seen.add(key)
                    run.append(len(sentences))
                    sentences.append(sentence)
                passages.extend(_cut_into_passages(run, document, rng))
            if len(passages) > before:
                used_sources[source] += 1
                document += 1
    return SentencePool(sentences, passages, dict(used_sources), build_vocabulary(sentences))


def _cut_into_passages(run: list[int], document: int, rng: random.Random) -> list[Passage]:
    passages, start = [], 0
    while start < len(run):
        size = rng.choice((1, 2, 2, 3))
        passages.append(Passage(tuple(run[start : start + size]), document))
        start += size
    return passages


# ---------------------------------------------------------------- articles


class PassageDealer:
    """Deals runs of passages to articles; a sentence's first use is verbatim, later uses respun.

    Run starts come from a shuffled deck of all passages, dealt in rounds: in round ``k`` a
    passage already used more than ``k`` times (as a run's continuation) is passed over, so
    every sentence is used verbatim once before any is used twice. A run continues with the
    following passages of the same source article. Because every reuse is respun
    (``respin_sentence``), two originals share no sentence and no passage.
    """

    def __init__(self, pool: SentencePool, rng: random.Random):
        self.pool = pool
        self.rng = rng
        self.deck: deque[int] = deque()
        self.round = -1
        self.passage_uses: Counter = Counter()
        self.sentence_uses: Counter = Counter()
        self.verbatim = 0
        self.respun = 0

    def _next_run_start(self, taken: set[int]) -> int:
        while True:
            if not self.deck:
                self.round += 1
                order = list(range(len(self.pool.passages)))
                self.rng.shuffle(order)
                self.deck.extend(order)
            candidate = self.deck.popleft()
            if candidate not in taken and self.passage_uses[candidate] <= self.round:
                return candidate

    def _continuation(self, passage_id: int, taken: set[int]) -> int | None:
        following = passage_id + 1
        passages = self.pool.passages
        if following >= len(passages) or following in taken:
            return None
        if passages[following].document != passages[passage_id].document:
            return None
        return following

    def _sentence_text(self, sentence_id: int) -> str:
        sentence = self.pool.sentences[sentence_id]
        uses = self.sentence_uses[sentence_id]
        self.sentence_uses[sentence_id] += 1
        if uses == 0:
            self.verbatim += 1
            return sentence
        self.respun += 1
        return respin_sentence(sentence, self.pool.vocabulary, self.rng)

    def deal_article(self, target_words: int) -> list[list[str]]:
        """Paragraphs (lists of sentences) of at least ``target_words`` words for one new article."""
        if len(self.pool.passages) < 2:
            raise ValueError("the sentence pool is too small for an article")
        paragraphs: list[list[str]] = []
        taken: set[int] = set()
        words = 0
        run_left = 0
        passage_id = -1
        while words < target_words:
            following = self._continuation(passage_id, taken) if run_left > 0 else None
            if following is None:
                if len(taken) == len(self.pool.passages):
                    taken.clear()  # a tiny pool (the seeds alone): an article may repeat a passage, respun
                passage_id = self._next_run_start(taken)
                run_left = self.rng.randint(*RUN_PASSAGES)
            else:
                passage_id = following
            run_left -= 1
            taken.add(passage_id)
            self.passage_uses[passage_id] += 1
            paragraph = []
            # Stop near the target: cut a long last passage after the sentence that reaches it.
            for sentence_id in self.pool.passages[passage_id].sentence_ids:
                paragraph.append(self._sentence_text(sentence_id))
                words += len(paragraph[-1].split())
                if words >= target_words:
                    break
            paragraphs.append(paragraph)
        return paragraphs


# Words a respin keeps: they carry the syntax (and the date and title words the number and
# entity stages look at), and swapping them would make the prose ungrammatical.
KEPT_WORDS = frozenset(
    """a about above after again against all also although am among an and any are as at be because been before
    being below between both but by can could did do does doing down during each either few for from further had has
    have having he her here hers herself him himself his how i if in into is it its itself just least less many may
    me might more most much must my myself neither no nor not now of off on once only or other our ours ourselves out
    over own per same shall she should since so some such than that the their theirs them themselves then there these
    they this those through to too under until up upon us very via was we were what when where whether which while
    who whom whose why will with within without would yet you your yours yourself said says say told according
    mr mrs ms dr president minister prime chief
    january february march april may june july august september october november december
    monday tuesday wednesday thursday friday saturday sunday
    one two three four five six seven eight nine ten hundred thousand million billion percent cent""".split()
)
# Content words are swapped for words of the same shape and ending, so "-ed" stays a past
# tense, "-ly" an adverb, a capitalised name a capitalised name.
_ENDINGS = ("ing", "ed", "ly", "ion", "ions", "es", "s", "er", "ers", "al", "ty", "nt", "ic", "ve")
_TOKEN = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?|\d+|[^\w]+|_", re.UNICODE)
# At most this many word tokens in a row stay unchanged, so no 5-word shingle survives a respin.
MAX_UNCHANGED_RUN = 3


def word_class(word: str, sentence_start: bool) -> str | None:
    """The class a word is swapped within, or None for a word that is kept."""
    if word.isdigit():
        return f"digits{len(word)}"
    if not word.isalpha() or len(word) < 3 or word.casefold() in KEPT_WORDS:
        return None
    if word.isupper():
        return "acronym"
    if word[0].isupper():
        return None if sentence_start else "name"
    ending = next((e for e in _ENDINGS if word.endswith(e)), "")
    return f"word:{ending}:{min(len(word), 12) // 4}"


def build_vocabulary(sentences: list[str]) -> dict[str, list[str]]:
    """Words of the pool by class, in first-seen order (so the same pool gives the same lists)."""
    vocabulary: dict[str, dict[str, None]] = {}
    for sentence in sentences:
        for index, token in enumerate(_TOKEN.findall(sentence)):
            kind = word_class(token, index == 0)
            if kind and not kind.startswith("digits"):
                vocabulary.setdefault(kind, {})[token] = None
    return {kind: list(words) for kind, words in vocabulary.items() if len(words) >= 5}


def respin_sentence(sentence: str, vocabulary: dict[str, list[str]], rng: random.Random) -> str:
    """The sentence with names, numbers and content words swapped for others of the same class.

    Punctuation, function words, length and shape stay (and with them the work spaCy does on
    the sentence); no run of more than ``MAX_UNCHANGED_RUN`` words stays as it was, so the
    respun sentence shares no 5-word shingle with the original or with another respin.
    """
    tokens = _TOKEN.findall(sentence)
    unchanged = 0
    word_index = 0
    for i, token in enumerate(tokens):
        if not token[:1].isalnum():
            continue
        kind = word_class(token, word_index == 0)
        word_index += 1
        force = unchanged >= MAX_UNCHANGED_RUN
        if kind and (force or rng.random() < 0.6):
            if kind.startswith("digits"):
                width = len(token)
                low = 10 ** (width - 1) if width > 1 else 1
                replacement = str(rng.randint(low, 10**width - 1))
            else:
                candidates = vocabulary.get(kind)
                replacement = rng.choice(candidates) if candidates else token
            if replacement.casefold() != token.casefold():
                tokens[i] = replacement
                unchanged = 0
                continue
        unchanged += 1
    return "".join(tokens)


_HEADLINE_TAIL = re.compile(
    r"(?:\s+(?:the|a|an|of|to|in|on|at|for|and|or|but|with|by|from|as|that|which|who|is|are|was|were|has|have|had|"
    r"its|their|his|her|after|before|over|under|into|about|than|this|these|those|be|been|will|would|said))+$",
    re.IGNORECASE,
)


def headline_from(sentence: str, max_words: int) -> str:
    """A headline-like phrase: the lead sentence's first clause, cut to ``max_words`` and tidied."""
    clause = re.split(r"[,;:—–]|\s-\s", sentence, maxsplit=1)[0]
    if len(clause.split()) < 5:  # "At first, ..." is no headline: take the sentence instead
        clause = sentence
    words = [w.strip('"“”‘’()') for w in clause.split()[:max_words]]
    text = " ".join(w for w in words if w)
    text = _HEADLINE_TAIL.sub("", text.rstrip(".!?"))
    return text[:1].upper() + text[1:]


def _syndicated_headline(original: str, lead: str, rng: random.Random) -> str:
    """The headline another outlet gives the story: always different from the original."""
    variants = [
        f"UPDATE 1-{original}",
        headline_from(lead, rng.randint(6, 8)),
        f"{original} - sources",
        " ".join(w if w.isupper() else w.capitalize() for w in original.split()),
        f"What we know: {original[:1].lower()}{original[1:]}",
    ]
    rng.shuffle(variants)
    return next(v for v in variants if v != original)


def straighten_quotes(text: str) -> str:
    return text.translate(str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'"}))


def curl_quotes(text: str) -> str:
    """Typographic quotes as a sub-editor's software sets them: opening after space or start."""
    text = re.sub(r'(^|[\s(\[—-])"', "\\1“", text)
    text = text.replace('"', "”")
    text = re.sub(r"(^|[\s(\[—-])'", "\\1‘", text)
    return text.replace("'", "’")


def syndicate(original: Article, story_outlets: set[int], rng: random.Random, story: int) -> Article:
    """A copy of ``original`` as another outlet publishes it, with its edits listed in ``edits``."""
    outlet = rng.choice([i for i in range(len(OUTLETS)) if i not in story_outlets])
    paragraphs = [list(p) for p in original.paragraphs]
    edits = ["chrome", "headline"]
    published = original.published_at + dt.timedelta(minutes=rng.randint(*COPY_DELAY_MINUTES))
    wire = rng.choice(WIRES).format(city=rng.choice(WIRE_CITIES), month=published.strftime("%B"), day=published.day)
    paragraphs[0][0] = wire + paragraphs[0][0]
    edits.append("wire_tag")
    text_has_curly = any(ch in "“”’" for p in paragraphs for s in p for ch in s)
    if rng.random() < 0.7:
        convert = straighten_quotes if text_has_curly else curl_quotes
        paragraphs = [[convert(s) for s in p] for p in paragraphs]
        edits.append("straight_quotes" if text_has_curly else "curly_quotes")
    if rng.random() < 0.5 and sum(len(p) for p in paragraphs) > 2:
        paragraphs[-1].pop()
        if not paragraphs[-1]:
            paragraphs.pop()
        edits.append("last_sentence_dropped")
    else:
        name, _, town = OUTLETS[outlet]
        local = rng.choice(LOCAL_PARAGRAPHS).format(
            town=town, outlet=name, person=rng.choice(AUTHORS), weekday=rng.choice(("Monday", "Tuesday", "Thursday"))
        )
        paragraphs.append([local])
        edits.append("local_paragraph")
    author = original.author if rng.random() < 0.5 else "Reuters staff"
    return Article(
        story=story,
        paragraphs=paragraphs,
        title=_syndicated_headline(original.title, original.paragraphs[0][0], rng),
        author=author,
        outlet=outlet,
        section=original.section,
        published_at=published,
        edits=edits,
    )


# ---------------------------------------------------------------- pages


def article_words(article: Article) -> int:
    return sum(len(sentence.split()) for paragraph in article.paragraphs for sentence in paragraph)


def _slug(text: str, words: int = 8) -> str:
    return "-".join(_WORD.findall(text.casefold())[:words]) or "story"


def page_url(article: Article, index: int) -> str:
    _, domain, _ = OUTLETS[article.outlet]
    day = article.published_at
    return f"https://www.{domain}/{article.section.lower()}/{day:%Y/%m/%d}/{_slug(article.title, 6)}-{index:06d}"


def render_page(article: Article, url: str, other_titles: list[str], rng: random.Random) -> str:
    """The article in its outlet's page chrome (about 9 KB of HTML)."""
    name, domain, town = OUTLETS[article.outlet]
    outlet_rng = random.Random(article.outlet)  # an outlet's chrome is the same on all its pages
    body_class = outlet_rng.choice(BODY_CLASSES)
    nav = outlet_rng.sample(NAV_ITEMS, 6)
    cookie = outlet_rng.choice(COOKIE_NOTICES)
    newsletter = outlet_rng.choice(NEWSLETTERS)
    e = html.escape
    published = article.published_at.isoformat()
    human_date = f"{article.published_at:%A %d %B %Y %H:%M} GMT"
    texts = [" ".join(p) for p in article.paragraphs]
    related = rng.sample(other_titles, min(3, len(other_titles)))
    most_read = rng.sample(other_titles, min(5, len(other_titles)))
    promo_at = min(len(texts) - 1, rng.randint(3, 6))
    body_lines = []
    for i, paragraph in enumerate(texts):
        body_lines.append(f"      <p>{e(paragraph)}</p>")
        if i == promo_at:
            body_lines.append(f"      <p><strong>{e(newsletter)}</strong></p>")
    author_slug = _slug(article.author)

    def links(titles: list[str], css: str) -> str:
        return "\n".join(f'        <li class="{css}"><a href="/news/{_slug(t, 6)}">{e(t)}</a></li>' for t in titles)

    nav_html = "\n".join(f'        <li><a href="/{item.lower()}/">{item}</a></li>' for item in nav)
    footer_html = " |\n      ".join(
        f'<a href="/{_slug(link)}/">{link}</a>' for link in outlet_rng.sample(FOOTER_LINKS, 7)
    )
    json_ld = json.dumps(
        {
            "@context": "https://schema.org",
            "@type": "NewsArticle",
            "headline": article.title,
            "datePublished": published,
            "author": {"@type": "Person", "name": article.author},
            "publisher": {"@type": "Organization", "name": name},
        },
        ensure_ascii=False,
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{e(article.title)} | {e(name)}</title>
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <meta name="author" content="{e(article.author)}">
  <meta property="og:site_name" content="{e(name)}">
  <meta property="og:type" content="article">
  <meta property="og:url" content="{url}">
  <meta property="article:published_time" content="{published}">
  <meta property="article:section" content="{article.section}">
  <link rel="canonical" href="{url}">
  <link rel="stylesheet" href="https://static.{domain}/css/site.min.css">
  <script type="application/ld+json">{json_ld}</script>
</head>
<body class="article-page section-{article.section.lower()}">
  <div id="cookie-consent" class="cookie-banner" role="dialog">
    <p>{cookie}</p>
    <button class="accept">Accept all</button> <button class="manage">Manage preferences</button>
  </div>
  <header class="site-header">
    <a class="logo" href="/">{e(name)}</a>
    <nav class="primary-nav">
      <ul>
{nav_html}
      </ul>
    </nav>
    <form class="search" action="/search"><input type="search" name="q" placeholder="Search"></form>
    <a class="subscribe-button" href="/subscribe">Subscribe</a>
  </header>
  <main class="layout">
    <article class="story">
      <p class="kicker"><a href="/{article.section.lower()}/">{article.section}</a></p>
      <h1 class="headline">{e(article.title)}</h1>
      <div class="byline">By <a rel="author" href="/authors/{author_slug}">{e(article.author)}</a>
        <time datetime="{published}">{human_date}</time></div>
      <div class="{body_class}">
{chr(10).join(body_lines)}
      </div>
      <div class="share-bar">Share this article: <a href="#">Facebook</a> <a href="#">X</a> <a href="#">Email</a></div>
      <section class="related">
        <h2>Related stories</h2>
        <ul>
{links(related, "related-item")}
        </ul>
      </section>
    </article>
    <aside class="sidebar">
      <h2>Most read</h2>
      <ol class="most-read">
{links(most_read, "most-read-item")}
      </ol>
      <div class="ad-slot" data-slot="sidebar-mpu">Advertisement</div>
    </aside>
  </main>
  <footer class="site-footer">
    <p>
      {footer_html}
    </p>
    <p>{e(name)}, 1 Market Square, {e(town)}. &copy; 2024 {e(name)}. All rights reserved.</p>
  </footer>
  <script src="https://static.{domain}/js/analytics.js" async></script>
  <script>window.dataLayer=window.dataLayer||[];dataLayer.push({{"pageType":"article","section":"{article.section}","wordCount":{article_words(article)}}});</script>
</body>
</html>
"""


# ---------------------------------------------------------------- the corpus


def compose_articles(
    n: int, copy_share: float, pool: SentencePool, rng: random.Random
) -> tuple[list[Article], PassageDealer]:
    """``n`` articles: originals dealt from ``pool`` and ``round(n * copy_share)`` planted copies.

    Returns the articles in shuffled order (so copies are not all at the end) and the dealer,
    which counts the verbatim and respun sentences.
    """
    if n < 1:
        raise ValueError("n must be at least 1")
    copies = round(n * copy_share) if n > 1 else 0
    originals = n - copies
    dealer = PassageDealer(pool, rng)
    span_minutes = PUBLISHING_DAYS * 24 * 60 - COPY_DELAY_MINUTES[1]
    articles: list[Article] = []
    for index in range(originals):
        paragraphs = dealer.deal_article(rng.randint(*BODY_WORDS))
        lead = paragraphs[0][0]
        articles.append(
            Article(
                story=index,
                paragraphs=paragraphs,
                title=headline_from(lead, rng.randint(7, 11)),
                author=rng.choice(AUTHORS),
                outlet=rng.randrange(len(OUTLETS)),
                section=rng.choice(SECTIONS),
                published_at=FIRST_PUBLISHED + dt.timedelta(minutes=rng.randrange(span_minutes)),
            )
        )
    story_outlets = {i: {a.outlet} for i, a in enumerate(articles)}
    for _ in range(copies):
        story = rng.randrange(originals)
        copy = syndicate(articles[story], story_outlets[story], rng, story)
        copy.copy_of = story
        story_outlets[story].add(copy.outlet)
        articles.append(copy)
    rng.shuffle(articles)
    return articles, dealer


def generate_corpus(
    n: int,
    out_dir: str | Path,
    copy_share: float = 0.10,
    seed: int = DEFAULT_SEED,
    seeds_dir: Path = SEEDS_DIR,
    eval_dir: Path | None = EVAL_DIR,
) -> dict:
    """Write ``n`` pages to ``out_dir/pages/`` and the truth to ``out_dir/truth.json``; returns the truth.

    Truth: ``{"pages": [{"file", "story", "copy_of", "outlet", "url", "title", "author",
    "published_at", "words", "html_bytes", "edits"}], "copies": [...files], ...}``; ``copy_of``
    is the original's file name.
    """
    rng = random.Random(seed)
    pool = build_sentence_pool(load_source_documents(seeds_dir, eval_dir), rng)
    articles, dealer = compose_articles(n, copy_share, pool, rng)
    pages_dir = Path(out_dir) / PAGES_DIR
    if pages_dir.is_dir() and any(pages_dir.iterdir()):
        # Pages of an earlier corpus would be read too and spoil the ground truth.
        raise FileExistsError(f"{pages_dir} is not empty; give an empty or new folder")
    pages_dir.mkdir(parents=True, exist_ok=True)
    names = [f"{i:05d}-{_slug(OUTLETS[a.outlet][0], 4)}.html" for i, a in enumerate(articles)]
    file_of_story = {a.story: names[i] for i, a in enumerate(articles) if a.copy_of is None}
    titles = [a.title for a in articles]
    pages = []
    for i, article in enumerate(articles):
        url = page_url(article, i)
        others = titles[max(0, i - 20) : i] + titles[i + 1 : i + 21]
        page = render_page(article, url, others or [article.title], rng)
        (pages_dir / names[i]).write_text(page, encoding="utf-8")
        pages.append(
            {
                "file": names[i],
                "story": f"s{article.story:05d}",
                "copy_of": file_of_story[article.copy_of] if article.copy_of is not None else None,
                "outlet": OUTLETS[article.outlet][0],
                "url": url,
                "title": article.title,
                "author": article.author,
                "published_at": article.published_at.isoformat(),
                "words": article_words(article),
                "html_bytes": len(page.encode("utf-8")),
                "edits": article.edits,
            }
        )
    truth = {
        "seed": seed,
        "n": n,
        "copy_share": copy_share,
        "originals": sum(1 for p in pages if p["copy_of"] is None),
        "copies": sorted(p["file"] for p in pages if p["copy_of"] is not None),
        "sources": pool.sources,
        "pool_sentences": len(pool.sentences),
        "pool_passages": len(pool.passages),
        "verbatim_sentences": dealer.verbatim,
        "respun_sentences": dealer.respun,
        "pages_dir": str(pages_dir),
        "pages": pages,
    }
    with open(Path(out_dir) / TRUTH_FILE, "w", encoding="utf-8") as handle:
        json.dump(truth, handle, indent=1, ensure_ascii=False)
    return truth


def load_truth(out_dir: str | Path) -> dict:
    with open(Path(out_dir) / TRUTH_FILE, encoding="utf-8") as handle:
        return json.load(handle)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write a deterministic benchmark corpus of news pages.")
    parser.add_argument("n", type=int, help="pages to write, planted copies included")
    parser.add_argument("out_dir", help="folder for pages/ and truth.json")
    parser.add_argument("--copies", type=float, default=0.10, help="share of the pages that are planted copies")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--seeds-only", action="store_true", help="ignore ../shared/eval even when present")
    args = parser.parse_args(argv)
    truth = generate_corpus(
        args.n, args.out_dir, args.copies, args.seed, eval_dir=None if args.seeds_only else EVAL_DIR
    )
    print(
        f"{truth['n']} pages ({truth['originals']} originals, {len(truth['copies'])} planted copies) in "
        f"{truth['pages_dir']}; sentence pool {truth['pool_sentences']} from {truth['sources']}"
    )
    print(f"sentences: {truth['verbatim_sentences']} verbatim, {truth['respun_sentences']} respun")
    return 0


if __name__ == "__main__":
    sys.exit(main())
