"""Lexical matching: words as search terms, BM25 over passages, and how much of a question
a sentence covers. Dense vectors miss names and numbers that words catch, and vice versa.
"""

from __future__ import annotations

import functools
import math
import re
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
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


# The BM25 index's files in a build's data folder (bm25s's own format, its arrays
# memory-mapped when loaded): built once with the index, so start-up does not grow with the
# corpus.
BM25_FILES = {
    "data_name": "bm25.data.npy",
    "indices_name": "bm25.indices.npy",
    "indptr_name": "bm25.indptr.npy",
    "vocab_name": "bm25.vocab.json",
    "params_name": "bm25.params.json",
    "nnoc_name": "bm25.nonoccurrence.npy",
}
# Each term's document frequency, by its id (memory-mapped when loaded): coverage weighs a
# question's terms by IDF, and bm25s has no public way to give a term's document frequency.
DF_FILE = "bm25.df.npy"
LEXICAL_FILES = frozenset(BM25_FILES.values()) | {DF_FILE}


class Lexicon:
    """The terms of passages added one at a time, kept as integers (4 bytes a term, not a
    string each), then indexed by BM25 in one go."""

    def __init__(self) -> None:
        self.vocab: dict[str, int] = {}
        self.passages: list[array] = []
        self.df = array("q")  # passages holding each term, by its id

    def add(self, passage: str) -> None:
        # An empty passage still needs a term, so BM25's rows line up with chunk rows.
        found = terms(passage) or ["\x00"]
        vocab = self.vocab
        ids = array("i", [vocab.setdefault(t, len(vocab)) for t in found])
        self.df.extend([0] * (len(vocab) - len(self.df)))
        for term in set(ids):
            self.df[term] += 1
        self.passages.append(ids)

    def build(self) -> LexicalIndex:
        import bm25s
        import numpy as np

        bm25 = bm25s.BM25()
        # bm25s takes the passages as term ids with the vocabulary that names them, so its
        # ids are the Lexicon's (it adds an empty term of its own, after them).
        bm25.index((self.passages, self.vocab), show_progress=False)
        return LexicalIndex(bm25, len(self.passages), np.array(self.df, dtype=np.int64))


class TermCounts(Mapping[str, int]):
    """How many passages hold each term (its document frequency), a term at a time: looked
    up in bm25s's vocabulary, counted in an array by term id (memory-mapped when loaded), so
    nothing is read for the terms no question asks about."""

    def __init__(self, bm25: Any, counts: Any):
        self.bm25 = bm25
        self.counts = counts  # by term id

    def __getitem__(self, term: str) -> int:
        ids = self.bm25.get_tokens_ids([term])
        # (bm25s adds an empty term to its vocabulary, after the passages' terms: no count.)
        if not ids or ids[0] >= len(self.counts):
            raise KeyError(term)
        return int(self.counts[ids[0]])

    def __iter__(self) -> Iterator[str]:
        return (t for t, i in self.bm25.vocab_dict.items() if i < len(self.counts))

    def __len__(self) -> int:
        return len(self.counts)


class LexicalIndex:
    """BM25 over passages (bm25s), plus document frequencies for coverage scores."""

    def __init__(self, bm25: Any, size: int, counts: Any):
        self.bm25 = bm25
        self.size = size
        self.df = TermCounts(bm25, counts)

    @classmethod
    def build(cls, passages: Iterable[str]) -> LexicalIndex:
        lexicon = Lexicon()
        for passage in passages:
            lexicon.add(passage)
        return lexicon.build()

    def save(self, folder: Path) -> None:
        import numpy as np

        self.bm25.save(str(folder), show_progress=False, **BM25_FILES)
        np.save(folder / DF_FILE, self.df.counts, allow_pickle=False)

    @classmethod
    def load(cls, folder: Path, size: int) -> LexicalIndex:
        """The index a build saved in `folder`, its arrays memory-mapped (OSError when a file
        is missing: an index built before bm25.df.npy)."""
        import bm25s
        import numpy as np

        bm25 = bm25s.BM25.load(str(folder), mmap=True, show_progress=False, **BM25_FILES)
        counts = np.load(folder / DF_FILE, mmap_mode="r", allow_pickle=False)
        if counts.dtype != np.int64 or counts.ndim != 1:
            raise ValueError(f"{DF_FILE} is not a list of counts")
        return cls(bm25, size, counts)

    def idf(self, term: str) -> float:
        return math.log(1 + (self.size + 1) / (self.df.get(term, 0) + 0.5))

    def scores(self, query_terms: Sequence[str], within: range | None = None) -> Any:
        """Each passage's BM25 score for the query; 0 outside `within` when given."""
        import numpy as np

        known = [t for t in query_terms if t in self.df]
        if not known:
            return np.zeros(self.size, dtype=np.float32)
        mask = None
        if within is not None:
            mask = np.zeros(self.size, dtype=np.float32)
            mask[within.start : within.stop] = 1
        return self.bm25.get_scores(known, weight_mask=mask)

    def coverage(self, query_terms: Sequence[str], text_terms: Iterable[str]) -> float:
        """Share of the question's IDF weight whose terms the text contains (0..1)."""
        unique = set(query_terms)
        if not unique:
            return 0.0
        present = set(text_terms)
        weights = {t: self.idf(t) for t in unique}
        total = sum(weights.values())
        return sum(w for t, w in weights.items() if t in present) / total
