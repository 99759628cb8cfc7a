"""The QA corpus itself: enough documents, kinds and questions to tell generalisation from
fitting, split by document, every item checked against its document, and the two texts
reserved for acceptance tests nowhere in it."""

from __future__ import annotations

import copy
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core.errors import ConfigError
from bot.tools.corpus import load_corpus
from bot.tools.qaset import check_qa_set, load_qa_set
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


# A QA set whose every field holds what it should; each test below spoils one of them.
GOOD_SET = {
    "document": "doc.txt",
    "questions": [{"q": "Who keeps the light?", "answers": ["the keeper"], "evidence": "keeper"}],
    "unanswerable": [{"q": "How tall is the tower?"}],
    "conversations": [
        {
            "turns": [
                {"q": "Who keeps the light?", "answers": "the keeper", "evidence": ["keeper"]},
                {"q": "When does he light it?", "answers": ["at dusk"], "evidence": "dusk"},
            ]
        }
    ],
}
FIELDS = {  # where each field is in GOOD_SET, as keys and list indices
    "document": ("document",),
    "questions": ("questions",),
    "unanswerable": ("unanswerable",),
    "conversations": ("conversations",),
    "turns": ("conversations", 0, "turns"),
    "answers": ("questions", 0, "answers"),
    "evidence": ("conversations", 0, "turns", 1, "evidence"),
    "answerable": ("questions", 0, "answerable"),
}
# Any value YAML can hold: scalars of every kind, and lists and mappings of them.
YAML_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=5), inner, max_size=3
        )
    ),
    max_leaves=8,
)


def _with(field: str, value: Any) -> dict:
    data = copy.deepcopy(GOOD_SET)
    *path, last = FIELDS[field]
    target = data
    for step in path:
        target = target[step]
    target[last] = value
    return data


def _write(tmp_path, data: dict) -> Path:
    import yaml

    (tmp_path / "doc.txt").write_text("The keeper lights the lamp at dusk.\n", encoding="utf-8")
    path = tmp_path / "qa.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_the_well_formed_set_loads(tmp_path):
    qa_set = load_qa_set(_write(tmp_path, GOOD_SET))
    assert qa_set.summary == "1 answerable, 1 unanswerable, 1 conversations"
    assert qa_set.conversations[0][0].answers == ("the keeper",)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("questions", 5),
        ("questions", "Who keeps the light?"),
        ("unanswerable", {"q": "How tall?"}),
        ("conversations", 5),
        ("turns", "Who?"),
        ("answers", 5),
        ("answers", [1939]),
        ("evidence", {"text": "keeper"}),
        ("document", 5),
        ("answerable", "yes"),
    ],
)
def test_a_field_of_the_wrong_kind_is_one_line_naming_it(tmp_path, field, value):
    with pytest.raises(ConfigError) as caught:
        load_qa_set(_write(tmp_path, _with(field, value)))
    message = str(caught.value)
    assert f"'{field}'" in message and "\n" not in message


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(field=st.sampled_from(sorted(FIELDS)), value=YAML_VALUES)
def test_any_value_in_any_field_loads_or_is_one_line(tmp_path, field, value):
    """Whatever a field holds: the set loads (its texts are texts), or ConfigError names
    the file in one line; never a TypeError from deep inside."""
    path = _write(tmp_path, _with(field, value))
    try:
        qa_set = load_qa_set(path)
    except ConfigError as exc:
        assert str(exc).startswith(str(path)) and "\n" not in str(exc)
        return
    for item in [*qa_set.questions, *(t for c in qa_set.conversations for t in c)]:
        assert isinstance(item.question, str) and isinstance(item.answerable, bool)
        assert all(isinstance(t, str) for t in (*item.answers, *item.evidence))


def test_eval_of_a_wrong_kind_is_one_line_and_exit_1(tmp_path):
    """`qabot eval --check` of such a set, as a real command: one line, exit 1."""
    import subprocess
    import sys

    path = _write(tmp_path, _with("questions", 5))
    result = subprocess.run(
        [sys.executable, "-m", "bot", "eval", "--check", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: {path}: 'questions' is a list, not a number"
    ]
