"""Lexical matching: words as search terms, BM25 over passages, and how much of a question
a sentence covers. Dense vectors miss names and numbers that words catch, and vice versa.
"""

from __future__ import annotations

import functools
import math
import re
from array import array
from collections.abc import Iterable, Sequence
from pathlib import Path
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


@functools.lru_cache(maxsize=1 << 17)  # a corpus repeats its words: six regexes once per word
def american(word: str) -> str:
    """The American spelling of a British-spelt word ("licence" → "license")."""
    for pattern, replacement in _SPELLINGS:
        word = pattern.sub(replacement, word)
    return word


def terms(text: str) -> list[str]:
    """Lower-cased, stemmed content words, spelt the American way."""
    return _stemmer().stemWords([american(w) for w in words(text)])


# The BM25 index's files in a build's data folder (bm25s's own format, memory-mapped when
# loaded): built once with the index, so start-up does not grow with the corpus.
BM25_FILES = {
    "data_name": "bm25.data.npy",
    "indices_name": "bm25.indices.npy",
    "indptr_name": "bm25.indptr.npy",
    "vocab_name": "bm25.vocab.json",
    "params_name": "bm25.params.json",
    "nnoc_name": "bm25.nonoccurrence.npy",
}


class Lexicon:
    """The terms of passages added one at a time, kept as integers (4 bytes a term, not a
    string each), then indexed by BM25 in one go."""

    def __init__(self) -> None:
        self.vocab: dict[str, int] = {}
        self.passages: list[array] = []

    def add(self, passage: str) -> None:
        # An empty passage still needs a term, so BM25's rows line up with chunk rows.
        found = terms(passage) or ["\x00"]
        vocab = self.vocab
        self.passages.append(array("i", [vocab.setdefault(t, len(vocab)) for t in found]))

    def build(self) -> LexicalIndex:
        import bm25s

        bm25 = bm25s.BM25()
        bm25.index((self.passages, self.vocab), show_progress=False)
        return LexicalIndex(bm25, len(self.passages))


class LexicalIndex:
    """BM25 over passages (bm25s), plus document frequencies for coverage scores."""

    def __init__(self, bm25: Any, size: int):
        import numpy as np

        self.bm25 = bm25
        self.size = size
        # A term's document frequency is its column's length in BM25's sparse matrix.
        counts = np.diff(np.asarray(bm25.scores["indptr"]))
        # (bm25s adds an empty term to its vocabulary, with no column.)
        self.df: dict[str, int] = {
            t: int(counts[i]) for t, i in bm25.vocab_dict.items() if i < len(counts)
        }

    @classmethod
    def build(cls, passages: Iterable[str]) -> LexicalIndex:
        lexicon = Lexicon()
        for passage in passages:
            lexicon.add(passage)
        return lexicon.build()

    def save(self, folder: Path) -> None:
        self.bm25.save(str(folder), show_progress=False, **BM25_FILES)

    @classmethod
    def load(cls, folder: Path, size: int) -> LexicalIndex:
        """The index a build saved in `folder`, its arrays memory-mapped."""
        import bm25s

        bm25 = bm25s.BM25.load(str(folder), mmap=True, show_progress=False, **BM25_FILES)
        return cls(bm25, size)

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
