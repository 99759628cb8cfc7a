"""The QA corpus itself: enough documents, kinds and questions to tell generalisation from
fitting, split by document, every item checked against its document, and the two texts
reserved for acceptance tests nowhere in it."""

from __future__ import annotations

from collections import Counter

import pytest

from bot.tools.corpus import load_corpus
from bot.tools.evaluation import check_qa_set
from tests.conftest import REPO

ENTRIES = load_corpus(REPO / "eval" / "corpus.yaml")


def questions(entry) -> int:
    return len(entry.qa_set.questions) + sum(len(c) for c in entry.qa_set.conversations)


def test_the_corpus_is_broad_enough():
    assert len(ENTRIES) >= 20
    assert len({e.kind for e in ENTRIES}) >= 5
    assert sum(questions(e) for e in ENTRIES) >= 1500


def test_splits_are_by_document_and_held_out_is_broad():
    documents = Counter(e.qa_set.document for e in ENTRIES)
    assert max(documents.values()) == 1  # one QA set, so one split, per document
    held_out = [e for e in ENTRIES if e.split == "held-out"]
    assert len(held_out) >= 6 and len({e.kind for e in held_out}) >= 4
    assert {e.split for e in ENTRIES} == {"train", "dev", "held-out"}


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.name)
def test_every_set_checks_against_its_document(entry):
    assert check_qa_set(entry.qa_set) == []
    assert entry.qa_set.conversations, "each document has two-turn follow-ups"


def test_the_acceptance_texts_are_in_no_set():
    for entry in ENTRIES:
        text = entry.qa_set.document.read_text(encoding="utf-8")
        assert "Apache License" not in text or "Version 2.0, January 2004" not in text
        assert "module exposes a global API for scheduling functions" not in text
        assert entry.qa_set.document.name not in {"timers.md", "Apache-2.0", "LICENSE-2.0.txt"}
