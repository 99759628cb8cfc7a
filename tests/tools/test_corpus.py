"""QA sets checked against their documents, and a corpus evaluated per document, kind and
split, through the real pipeline."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_cli

LIGHTHOUSE = (
    "The lighthouse keeper lit the lamp at dusk every evening.\n\nShe kept a cat named Pepper.\n"
)
FERRY = "The ferry leaves the harbour at noon.\n\nIt carries forty cars and a café.\n"


run = run_cli


def write_set(folder, name, document, questions, unanswerable):
    (folder / f"{name}.txt").write_text(document, encoding="utf-8")
    lines = [f"document: {name}.txt", "questions:"]
    for q, answer, evidence in questions:
        lines += [f"  - q: {q}", f"    answers: [{answer!r}]", f"    evidence: {evidence!r}"]
    lines += ["unanswerable:"] + [f"  - q: {q}" for q in unanswerable]
    (folder / f"{name}.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture
def corpus(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    write_set(
        tmp_path,
        "lighthouse",
        LIGHTHOUSE,
        [("Who lit the lamp?", "lighthouse keeper", "The lighthouse keeper lit the lamp")],
        ["How tall is the lighthouse?"],
    )
    write_set(
        tmp_path,
        "ferry",
        FERRY,
        [("How many cars fit on the ferry?", "forty cars", "It carries forty cars")],
        ["What does a ferry ticket cost?"],
    )
    (tmp_path / "corpus.yaml").write_text(
        "sets:\n"
        "  - {file: lighthouse.yaml, kind: story, split: dev}\n"
        "  - {file: ferry.yaml, kind: notice, split: held-out}\n",
        encoding="utf-8",
    )
    return tmp_path


def test_a_corpus_is_reported_per_document_kind_and_split(capsys, corpus):
    code, out, err = run(capsys, "eval", str(corpus / "corpus.yaml"), "--json")
    assert code == 0, err
    rows = {row["name"]: row["metrics"] for row in json.loads(out)}
    assert set(rows) == {
        "dev  lighthouse",
        "held-out  ferry",
        "kind  story (1)",
        "kind  notice (1)",
        "dev (1 documents)",
        "held-out (1 documents)",
    }
    assert (
        rows["dev  lighthouse"]["answerable"] == 1 and rows["dev  lighthouse"]["unanswerable"] == 1
    )

    code, out, _ = run(capsys, "eval", str(corpus / "corpus.yaml"), "--split", "dev", "--json")
    assert code == 0
    assert json.loads(out)[0]["name"] == "dev  lighthouse"
    assert not any("ferry" in row["name"] for row in json.loads(out))


def test_check_finds_evidence_and_answers_the_document_lacks(capsys, corpus):
    code, out, _ = run(capsys, "eval", str(corpus / "lighthouse.yaml"), "--check")
    assert code == 0 and "ok (1 answerable, 1 unanswerable, 0 conversations)" in out
    text = (corpus / "lighthouse.yaml").read_text(encoding="utf-8")
    (corpus / "lighthouse.yaml").write_text(
        text.replace("The lighthouse keeper lit the lamp", "The keeper lit a torch"),
        encoding="utf-8",
    )
    code, out, err = run(capsys, "eval", str(corpus / "lighthouse.yaml"), "--check")
    assert code == 1
    assert "no evidence text occurs in the document" in out
    assert err.count("\n") == 1 and err.startswith("error: ")
