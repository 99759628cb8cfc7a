"""Lexical matching: words as search terms, BM25 over passages, and how much of a question
a sentence covers. Dense vectors miss names and numbers that words catch, and vice versa.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from bot.core.language import STOPWORDS

_TOKEN = re.compile(r"\w+(?:['’]\w+)?")


@functools.lru_cache(maxsize=1)
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")


def words(text: str) -> list[str]:
    """Lower-cased content words, possessive 's dropped."""
    found = [w.replace("’", "'") for w in _TOKEN.findall(text.lower())]
    found = [w[:-2] if w.endswith("'s") else w for w in found]
    return [w for w in found if w not in STOPWORDS]


# British and American spellings of a word must meet as one term: people ask about a
# "licence" in a text that says "license". Applied to questions and passages alike, so a
# rule that also catches an unrelated word ("otherwise") changes nothing that matters.
_SPELLINGS = tuple(
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        (r"(?<=[a-z]{3})is(e|es|ed|ing|er|ers|ation|ations)$", r"iz\1"),
        (r"(?<=[a-z]{2})ys(e|es|ed|ing)$", r"yz\1"),
        (r"(?<=[a-z]{3})our(s|ed|ing|ite|ites|able|er|ers)?$", r"or\1"),
        (r"(?<=[a-z]{3})tre(s)?$", r"ter\1"),
        (r"^(lic|def|off|pret)ence(s)?$", r"\1ense\2"),
        (r"(?<=[a-z]{3})ogue(s)?$", r"og\1"),
    )
)


def american(word: str) -> str:
    """The American spelling of a British-spelt word ("licence" → "license")."""
    for pattern, replacement in _SPELLINGS:
        word = pattern.sub(replacement, word)
    return word


def terms(text: str) -> list[str]:
    """Lower-cased, stemmed content words, spelt the American way."""
    return _stemmer().stemWords([american(w) for w in words(text)])


class LexicalIndex:
    """BM25 over passages (bm25s), plus document frequencies for coverage scores."""

    def __init__(self, passages: Sequence[str]):
        import bm25s

        tokenized = [terms(p) for p in passages]
        self.size = len(tokenized)
        self.df: Counter[str] = Counter()
        for toks in tokenized:
            self.df.update(set(toks))
        self.bm25 = bm25s.BM25()
        # An empty passage still needs a row so rows line up with chunk rows.
        self.bm25.index([t or ["\x00"] for t in tokenized], show_progress=False)

    def idf(self, term: str) -> float:
        return math.log(1 + (self.size + 1) / (self.df.get(term, 0) + 0.5))

    def scores(self, query_terms: Sequence[str]) -> Any:
        import numpy as np

        known = [t for t in query_terms if t in self.df]
        if not known:
            return np.zeros(self.size, dtype=np.float32)
        return self.bm25.get_scores(known)

    def coverage(self, query_terms: Sequence[str], text_terms: Iterable[str]) -> float:
        """Share of the question's IDF weight whose terms the text contains (0..1)."""
        unique = set(query_terms)
        if not unique:
            return 0.0
        present = set(text_terms)
        total = sum(self.idf(t) for t in unique)
        return sum(self.idf(t) for t in unique if t in present) / total
