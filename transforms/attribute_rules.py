"""The model's attribute rules (tag -> POS and morphology, a few word exceptions), applied by
looking each token's candidate rules up in an index instead of running spaCy's Matcher.

spaCy's ``attribute_ruler`` tries every one of its rules (179 in en_core_web_sm) at every
token; in the number-sentence pass that cost as much as the dependency parser (3.7 ms of a
14.5 ms pass per 640-word article). Its rules are fixed-length patterns whose first token names
a tag, a lower-case word or a dependency: indexed by that (and by tag and word together where
a rule names both), a token is tested against the few rules that can start at it (1.4 ms for
the same pass; the tag-and-word index then took matching from 3.5 to 3.1 us per token, and
deciding tag-only rules without a Token object, remembering the unindexed rules' verdicts per
row of token attributes, to 1.7 us). Rules
this module does not read (``OP`` operators, attributes other than those in ``_READERS``) go
through a Matcher of their own. The result is the ruler's to the letter: rules apply in the
ruler's order, a later rule overriding an earlier one, all matched on the tokens as they were
before any was applied (tests/test_attribute_rules.py compares every token's POS, morphology
and lemma with the original's).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable

ATTRIBUTE_RULES = "newsbeam_attribute_rules"
_SPACY_RULER = "attribute_ruler"

# Token attributes a rule may test here, as the Matcher reads them, and those a rule's first
# token can be looked up by (in this order of preference).
_READERS: dict[str, Callable] = {
    "ORTH": lambda token: token.text,
    "TEXT": lambda token: token.text,
    "LOWER": lambda token: token.lower_,
    "TAG": lambda token: token.tag_,
    "DEP": lambda token: token.dep_,
    "POS": lambda token: token.pos_,
    "IS_SPACE": lambda token: token.is_space,
}
_INDEXED_BY = ("TAG", "LOWER", "DEP")

Tests = list[tuple[Callable, Callable]]  # (read an attribute of a token, test its value)


def _value_test(value) -> Callable | None:
    """A test of one attribute value as the Matcher applies it; None for forms not handled here."""
    if isinstance(value, (str, bool, int)):
        return lambda found: found == value
    if isinstance(value, dict) and len(value) == 1:
        ((operator, argument),) = value.items()
        if operator in ("IN", "NOT_IN") and isinstance(argument, list):
            values = frozenset(argument)
            return (lambda found: found in values) if operator == "IN" else (lambda found: found not in values)
        if operator == "REGEX" and isinstance(argument, str):
            search = re.compile(argument).search
            return lambda found: isinstance(found, str) and search(found) is not None
    return None


def _index_values(value) -> frozenset | None:
    """The values an attribute may take under an equality or IN test; None for other tests."""
    if isinstance(value, str):
        return frozenset([value])
    if isinstance(value, dict) and list(value) == ["IN"] and isinstance(value["IN"], list):
        return frozenset(value["IN"])
    return None


def compile_pattern(pattern: list[dict]) -> tuple[str | None, frozenset, frozenset | None, list[Tests]] | None:
    """(the attribute of its first token the rule is looked up by, or None; the values it is
    looked up under; for a rule looked up by tag, the lower-case forms its first token must
    have, or None; each token's remaining tests) of a fixed-length pattern, or None when the
    pattern needs the Matcher (operators such as ``OP``, attributes not handled here)."""
    specs = []
    for token_spec in pattern:
        spec = {}
        for key, value in token_spec.items():
            key = key.upper()
            if key not in _READERS or key in spec:
                return None
            spec[key] = value
        specs.append(spec)
    if not specs:
        return None
    index_key, index_values = None, frozenset()
    for key in _INDEXED_BY:
        values = _index_values(specs[0][key]) if key in specs[0] else None
        if values is not None:
            index_key, index_values = key, values
            del specs[0][key]
            break
    # Most rules looked up by a tag are for a few words ("PRP" with "me", "it", ...: 29 rules
    # under "PRP" in en_core_web_sm): looked up by the word too, a token meets only its own.
    lower_values = None
    if index_key == "TAG" and "LOWER" in specs[0]:
        lower_values = _index_values(specs[0]["LOWER"])
        if lower_values is not None:
            del specs[0]["LOWER"]
    compiled = []
    for spec in specs:
        tests = [(_READERS[key], _value_test(value)) for key, value in spec.items()]
        if any(test is None for _read, test in tests):
            return None
        compiled.append(tests)
    return index_key, index_values, lower_values, compiled


def _passes(token, tests: Tests) -> bool:
    for read, test in tests:
        if not test(read(token)):
            return False
    return True


def _rest_passes(doc, start: int, specs: list[Tests]) -> bool:
    """Whether the tokens after ``start`` pass a rule's tests for its second token on."""
    return all(_passes(doc[start + offset], specs[offset]) for offset in range(1, len(specs)))


def _split(rules: list[tuple[int, list[Tests]]]) -> tuple[tuple[int, ...], tuple[tuple[int, list[Tests]], ...]]:
    """(ids of the one-token rules with no test beyond their lookup key, the other rules)."""
    decided = tuple(rule_id for rule_id, specs in rules if len(specs) == 1 and not specs[0])
    tested = tuple((rule_id, specs) for rule_id, specs in rules if len(specs) != 1 or specs[0])
    return decided, tested


# A token's row of attributes as ``Doc.to_array`` gives them: the three lookup keys first, then
# the rest of what ``_READERS`` can read (ORTH stands for TEXT too), so that two tokens with
# the same row pass the same tests.
_TOKEN_ROW = ("TAG", "LOWER", "DEP", "ORTH", "POS", "IS_SPACE")
_MAX_REMEMBERED = 200_000


class IndexedAttributeRules:
    """A pipeline component doing what a spaCy ``AttributeRuler`` does, with its rules indexed."""

    def __init__(self, ruler) -> None:
        from spacy.matcher import Matcher

        self._attrs = list(ruler.attrs)
        self._indices = list(ruler.indices)
        # Rules by the tag, lower-case form or dependency their first token needs, and those
        # needing none of these; each with its tokens' remaining tests.
        indexes: dict[str, dict[str, list[tuple[int, list[Tests]]]]] = {key: defaultdict(list) for key in _INDEXED_BY}
        by_tag_and_lower: dict[tuple[str, str], list[tuple[int, list[Tests]]]] = defaultdict(list)
        self._unindexed: list[tuple[int, list[Tests]]] = []
        self._matcher = Matcher(ruler.vocab)
        self._strings = ruler.vocab.strings
        for rule_id, rule in enumerate(ruler.patterns):
            matcher_patterns = []
            for pattern in rule["patterns"]:
                compiled = compile_pattern(pattern)
                if compiled is None:
                    matcher_patterns.append(pattern)
                    continue
                index_key, values, lower_values, specs = compiled
                if index_key is None:
                    self._unindexed.append((rule_id, specs))
                for value in values:
                    if lower_values is None:
                        indexes[index_key][value].append((rule_id, specs))
                    else:
                        for lower in lower_values:
                            by_tag_and_lower[value, lower].append((rule_id, specs))
            if matcher_patterns:
                self._matcher.add(str(rule_id), matcher_patterns)
        # Looked up by the strings' hashes, which ``Doc.to_array`` gives for all tokens at once,
        # each entry split into the rules the lookup alone decides and those with tests left.
        strings = self._strings
        self._by_hash = [
            {strings.add(value): _split(rules) for value, rules in indexes[key].items()} for key in _INDEXED_BY
        ]
        self._by_tag_and_lower = {
            (strings.add(tag), strings.add(lower)): _split(rules) for (tag, lower), rules in by_tag_and_lower.items()
        }
        # Which unindexed rules a token passes the first test of, by every attribute a test can
        # read: those rules were tried at every token, and a text repeats its words.
        self._first_passes: dict[tuple, tuple[int, ...]] = {}

    def matches(self, doc) -> list[tuple[int, int, int]]:
        """(rule, start, end) of every rule that matches ``doc``, in the order they apply."""
        found = set()
        by_tag, by_lower, by_dep = self._by_hash
        by_tag_and_lower = self._by_tag_and_lower
        unindexed, first_passes, nothing = self._unindexed, self._first_passes, ((), ())
        length = len(doc)
        rows = doc.to_array(list(_TOKEN_ROW)).tolist() if length else []
        for start, row in enumerate(rows):
            tag, lower, dep = row[0], row[1], row[2]
            token = None  # made only for a rule with tests left (most rules need just a tag)
            for decided, tested in (
                by_tag.get(tag, nothing),
                by_tag_and_lower.get((tag, lower), nothing),
                by_lower.get(lower, nothing),
                by_dep.get(dep, nothing),
            ):
                for rule_id in decided:
                    found.add((rule_id, start, start + 1))
                for rule_id, specs in tested:
                    end = start + len(specs)
                    if end > length:
                        continue
                    if token is None:
                        token = doc[start]
                    if _passes(token, specs[0]) and _rest_passes(doc, start, specs):
                        found.add((rule_id, start, end))
            if unindexed:
                key = tuple(row)
                passing = first_passes.get(key)
                if passing is None:
                    if len(first_passes) >= _MAX_REMEMBERED:
                        first_passes.clear()
                    if token is None:
                        token = doc[start]
                    passing = first_passes[key] = tuple(
                        i for i, (_rule_id, specs) in enumerate(unindexed) if _passes(token, specs[0])
                    )
                for i in passing:
                    rule_id, specs = unindexed[i]
                    end = start + len(specs)
                    if end <= length and _rest_passes(doc, start, specs):
                        found.add((rule_id, start, end))
        if len(self._matcher):
            strings = self._strings
            for match_id, start, end in self._matcher(doc, allow_missing=True):
                found.add((int(strings[match_id]), start, end))
        return sorted(found)

    def __call__(self, doc):
        from spacy.tokens._retokenize import set_token_attrs

        indices, attrs = self._indices, self._attrs
        for rule_id, start, end in self.matches(doc):
            # The token ``doc[start:end][index]`` names, without making the Span (a rule's
            # index counts from the match's end when negative, as in a Python slice).
            index = indices[rule_id]
            set_token_attrs(doc[start + index if index >= 0 else end + index], attrs[rule_id])
        return doc


def use_indexed_attribute_rules(nlp) -> bool:
    """Put ``IndexedAttributeRules`` in place of the pipeline's ``attribute_ruler`` (which stays,
    disabled); False when the pipeline has none."""
    if _SPACY_RULER not in nlp.pipe_names:
        return False
    from spacy.language import Language

    if not Language.has_factory(ATTRIBUTE_RULES):

        @Language.factory(ATTRIBUTE_RULES, default_config={"source": _SPACY_RULER})
        def make_indexed_attribute_rules(nlp, name: str, source: str) -> IndexedAttributeRules:
            return IndexedAttributeRules(nlp.get_pipe(source))

    nlp.add_pipe(ATTRIBUTE_RULES, after=_SPACY_RULER)
    nlp.disable_pipe(_SPACY_RULER)
    return True
