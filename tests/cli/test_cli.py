"""The qabot command end to end: ask, repl (piped and --json), index rebuild and status,
settings precedence, and errors as one line with a non-zero exit."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ARTICLE, heavy_imports, run_cli

DATA = Path(__file__).parents[1] / "data"


def run(capsys, *args, stdin: str | None = None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    return run_cli(capsys, *args)


def test_ask_json(capsys, index_dir):
    code, out, _ = run(capsys, "ask", "--json", "Who is China's ambassador to Japan?")
    assert code == 0
    data = json.loads(out)
    assert "Cheng Yonghua" in data["answer"] and not data["abstained"]
    citation = data["citations"][0]
    text = ARTICLE.read_text(encoding="utf-8")
    assert text[citation["start"] : citation["end"]] == citation["text"]
    assert set(data["timings_ms"]) >= {"total"}


def test_ask_plain_and_abstain(capsys, index_dir):
    code, out, _ = run(capsys, "ask", "Which university does Koichi Nakano teach at?")
    assert code == 0 and "Sophia University" in out and "Sources" in out and "[1]" in out
    code, out, _ = run(capsys, "ask", "--top-k", "3", "How do I bake sourdough bread?")
    assert code == 0 and "The document doesn't say." in out and "Sources" not in out


def test_repl_piped_keeps_the_conversation(capsys, index_dir, monkeypatch):
    lines = "Who is Koichi Nakano?\nWhich university is he at?\n:reset\n\nWhere?\n"
    code, out, _ = run(capsys, "repl", stdin=lines, monkeypatch=monkeypatch)
    assert code == 0
    assert out.count("? ") >= 3 and "Sophia University" in out


def test_repl_json_prints_one_object_per_question(capsys, index_dir, monkeypatch):
    lines = "Who is the Chinese ambassador to Japan?\nWho did he give an interview to?\n"
    code, out, _ = run(capsys, "repl", "--json", stdin=lines, monkeypatch=monkeypatch)
    assert code == 0
    objects = [json.loads(line) for line in out.splitlines()]
    assert len(objects) == 2
    assert "South China Morning Post" in objects[1]["answer"]
    keys = {"question", "answer", "abstained", "span", "citations", "timings_ms"}
    assert set(objects[0]) - {"closest"} == keys  # closest: after "doesn't say", if any


def test_index_rebuild_other_document_then_ask(capsys, tmp_path, monkeypatch):
    doc = tmp_path / "ferry.md"
    doc.write_text(
        "# The island ferry\n\nThe ferry to Nettle Island leaves the harbour at noon and "
        "returns at six in the evening.\n\nTickets cost four pounds for adults and are sold "
        "at the kiosk beside the lighthouse.\n",
        encoding="utf-8",
    )
    target = tmp_path / "other-index"
    code, out, _ = run(capsys, "index", "rebuild", "--source", str(doc), "--index-dir", str(target))
    assert code == 0 and "Indexed 1 passages (2 sentences)" in out and str(target) in out
    code, out, _ = run(capsys, "--index-dir", str(target), "ask", "--json", "How much is a ticket?")
    data = json.loads(out)
    assert "four pounds" in data["answer"] and data["citations"][0]["chunk_id"] == "ferry#p2-3"
    code, out, _ = run(capsys, "index", "status", "--index-dir", str(target))
    assert code == 0 and "up to date" in out and "ferry.md" in out and "KiB" in out

    doc.write_text("Completely different text about trains now.\n", encoding="utf-8")
    code, out, _ = run(capsys, "index", "status", "--index-dir", str(target), "--json")
    status = json.loads(out)
    assert status["up_to_date"] is False and "changed" in status["stale_reasons"][0]


def test_settings_precedence(capsys, tmp_path, index_dir, monkeypatch):
    config = tmp_path / "qabot.yaml"
    config.write_text("index_dir: nowhere\ntop_k: 2\n")
    # environment (QABOT_INDEX_DIR, set by the fixture) beats the config file ...
    code, out, _ = run(capsys, "--config", str(config), "index", "status")
    assert code == 0 and str(index_dir) in out
    # ... and the flag beats the environment.
    code, _, err = run(capsys, "--config", str(config), "index", "status", "--index-dir", "x")
    assert code == 1 and "no index in x" in err


def test_index_status_knows_the_backend(capsys, index_dir, monkeypatch):
    monkeypatch.setenv("QABOT_BACKEND", "torch-int8")
    code, out, _ = run(capsys, "index", "status", "--json")
    status = json.loads(out)
    assert code == 0 and status["stale_reasons"] == [
        "the model changed (sentence-transformers/all-MiniLM-L6-v2 -> "
        "sentence-transformers/all-MiniLM-L6-v2 (torch-int8))"
    ]


@pytest.mark.parametrize(
    ("args", "config", "message", "exit_code"),
    [
        (["index", "rebuild", "--source", "missing.txt"], None, "missing.txt: no such file", 1),
        (["index", "status"], "top_k: lots\n", "bad setting 'top_k'", 1),
        (["index", "status"], "topk: 3\n", "bad setting 'topk': unknown setting", 1),
        (["index", "status"], "[not, a, mapping]\n", "expected a mapping", 1),
        (["frobnicate"], None, "No such command", 2),
        (["ask"], None, "Missing argument", 2),
        (["ask", "-what now?"], None, 'goes after --: qabot ask -- "-v or -h?"', 2),
        (["--index-dir", "/etc/passwd", "ask", "Hi?"], None, "is a file, not an index", 1),
        (["index", "status"], "top_k: true\n", "must be a number, not true or false", 1),
    ],
)
def test_user_errors_are_one_line(capsys, tmp_path, args, config, message, exit_code):
    prefix = []
    if config is not None:
        (tmp_path / "bad.yaml").write_text(config)
        prefix = ["--config", str(tmp_path / "bad.yaml")]
    code, out, err = run(capsys, *prefix, *args)
    assert code == exit_code
    assert message in err
    assert "Traceback" not in err + out


def test_binary_source_error(capsys, tmp_path):
    (tmp_path / "photo.txt").write_bytes(b"\x89PNG\x00\x00binary")
    code, _, err = run(capsys, "index", "rebuild", "--source", "photo.txt")
    assert (
        code == 1
        and err.strip()
        == "error: photo.txt: looks like a binary file; "
        "qabot reads text, Markdown, HTML, PDF and Word .docx"
    )


def qabot(*args, env=None, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
        **kwargs,
    )


def test_real_process_cold_ask_and_fast_paths(index_dir):
    result = qabot("ask", "What did Trump tweet about Japan in April?")
    assert result.returncode == 0, result.stderr
    assert "hit us hard on trade" in result.stdout
    # no weight-loading bars or warnings: only the line saying the demo article answered
    assert result.stderr.startswith("Answered from the bundled demo article;")
    assert len(result.stderr.splitlines()) == 1

    # --help and index status never import torch, faiss or sentence-transformers.
    for args in (["--help"], ["index", "status"]):
        assert heavy_imports(args, {"torch", "faiss", "sentence_transformers"}) == set()


def test_debug_shows_the_traceback(tmp_path):
    result = qabot("--debug", "index", "rebuild", "--source", "missing.txt", cwd=tmp_path)
    assert result.returncode != 0 and "Traceback" in result.stderr
    result = qabot("index", "rebuild", "--source", "missing.txt", cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip() == "error: missing.txt: no such file"


def test_ask_explain_shows_scores_and_the_reason(capsys, index_dir):
    code, out, _ = run(capsys, "ask", "--explain", "Which university does Koichi Nakano teach at?")
    assert code == 0 and "Sophia University" in out
    assert "dense" in out and "bm25" in out and "rrf" in out
    assert "answered: the best sentence scores" in out
    code, out, _ = run(capsys, "ask", "--json", "--explain", "How old is Xi Jinping?")
    data = json.loads(out)
    assert data["abstained"] and data["explain"]["expects"] == "age"
    assert "asks for an age" in data["explain"]["reason"]
    first = data["explain"]["retrieved"][0]
    assert {"chunk_id", "dense", "lexical", "fused", "best_sentence"} <= set(first)


def test_repl_piped_explain(capsys, index_dir, monkeypatch):
    lines = "Who is China's ambassador to Japan?\n:explain\n"
    code, out, _ = run(capsys, "repl", stdin=lines, monkeypatch=monkeypatch)
    assert code == 0 and "Cheng Yonghua" in out and "answered:" in out
    code, out, _ = run(capsys, "repl", "--json", stdin=lines, monkeypatch=monkeypatch)
    assert code == 0 and len(out.splitlines()) == 1  # :explain adds nothing to JSON output


def test_repl_piped_runs_every_colon_command(capsys, index_dir, monkeypatch):
    lines = "Who is China's ambassador to Japan?\n:sources 1\n:frobnicate\n:quit\nNot asked?\n"
    code, out, _ = run(capsys, "repl", stdin=lines, monkeypatch=monkeypatch)
    assert code == 0
    assert "id article#p39-40" in out  # the cited passage, whole, with its id
    assert "Unknown command :frobnicate" in out
    assert "Not asked?" not in out and out.count("? ") == 1  # :quit leaves


QA_SET = f"""
document: {ARTICLE}
questions:
  - q: Which university does Koichi Nakano teach at?
    answers: [Sophia University]
    evidence: Tokyo’s Sophia University
  - q: What subject does the ambassador teach?
    answers: [chemistry]
    evidence: professor of chemistry
unanswerable:
  - q: How do I bake sourdough bread?
conversations:
  - turns:
      - q: Who is Koichi Nakano?
        answers: [professor of political science]
        evidence: professor of political science
      - q: Which university is he at?
        answers: [Sophia University]
        evidence: Tokyo’s Sophia University
"""


def test_eval_command(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    qa = tmp_path / "qa.yaml"
    qa.write_text(QA_SET, encoding="utf-8")
    code, out, err = run(capsys, "eval", str(qa))
    assert code == 0, err
    assert "retrieval recall@1" in out and "follow-up accuracy" in out
    assert "Misses (1)" in out and "What subject does the ambassador teach?" in out
    assert list((tmp_path / "cache" / "qabot" / "eval").iterdir())  # its index is cached

    code, out, _ = run(capsys, "eval", "--json", str(qa))
    data = json.loads(out)
    assert data["metrics"]["answerable"] == 2 and data["metrics"]["abstention"] == 1.0
    assert data["metrics"]["answer_hit"] == 0.5 and data["metrics"]["follow_up_accuracy"] == 1.0
    assert [m["question"] for m in data["misses"]] == ["What subject does the ambassador teach?"]

    code, out, _ = run(capsys, "eval", "--json", "--steps", "--sweep", str(qa))
    rows = json.loads(out)
    assert rows[0]["name"] == "dense top-k (baseline)" and len(rows) == 5 + 16
    assert rows[0]["metrics"]["follow_up_accuracy"] <= rows[4]["metrics"]["follow_up_accuracy"]


def test_eval_among_other_documents_asks_one_index_holding_them_all(capsys, tmp_path, monkeypatch):
    """`--among FOLDER`: the QA set is asked of an index holding its document and every
    document in the folder, built once and cached; answers may then come from any of them."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    qa = tmp_path / "qa.yaml"
    qa.write_text(QA_SET, encoding="utf-8")
    folder = tmp_path / "others"
    (folder / "formats").mkdir(parents=True)
    for name in ("guide.docx", "two-pages.pdf"):
        shutil.copyfile(DATA / "formats" / name, folder / "formats" / name)
    code, out, err = run(capsys, "eval", "--json", "--among", str(folder), str(qa))
    assert code == 0, err
    assert json.loads(out)["metrics"]["answerable"] == 2
    (cached,) = (tmp_path / "cache" / "qabot" / "eval").iterdir()
    from bot.core.index.snapshot import read_manifest

    assert sorted(s.name for s in read_manifest(cached).sources) == [
        "article.txt",
        "guide.docx",
        "two-pages.pdf",
    ]
    code, _, err = run(capsys, "eval", "--among", str(tmp_path / "missing"), str(qa))
    assert code == 2 and "missing" in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("- just a list\n", "a QA set is a mapping with a 'document' key"),
        ("document: nowhere.txt\n", "nowhere.txt"),
        (f"document: {ARTICLE}\nquestions:\n  - q: Who?\n", "needs 'answers' and 'evidence'"),
    ],
)
def test_eval_bad_qa_set(capsys, tmp_path, content, message):
    qa = tmp_path / "qa.yaml"
    if content is not None:
        qa.write_text(content, encoding="utf-8")
    code, out, err = run(capsys, "eval", str(qa))
    assert code == 1 and out == ""
    assert message in err and len(err.strip().splitlines()) == 1


def test_bench_quick_writes_every_figure(capsys, index_dir, tmp_path):
    out = tmp_path / "bench.json"
    code, text, err = run(capsys, "bench", "--quick", "--sizes", "2000", "--out", str(out))
    assert code == 0, err
    data = json.loads(out.read_text())
    assert set(data) == {
        "machine",
        "startup",
        "cold_ask",
        "warm",
        "build",
        "backends",
        "repl_rss_mb",
        "telegram",
        "scale",
    }
    assert data["cold_ask"]["floor_s"] > 0 and data["warm"]["floor_p50_ms"] > 0
    assert data["build"]["passages"] > 34 and data["repl_rss_mb"]["rss_mb"] > 50
    assert 0 < data["build"]["rebuild_after_edit_s"] < data["build"]["build_s"]
    assert [(s["vectors"], s["type"]) for s in data["scale"]] == [
        (2000, "flat"),
        (2000, "hnsw"),
        (2000, "ivf"),
    ]
    assert data["scale"][0]["recall_at_10"] == 1.0
    assert [b["backend"] for b in data["backends"]["rows"]] == ["torch", "torch-int8"]
    assert 0.8 < data["backends"]["passage_cosine_mean"] < 1
    assert "cold qabot ask" in text and "recall@10" in text and "torch-int8" in text
    telegram = data["telegram"]
    for run_ in (telegram["paced"], telegram["unpaced"]):
        assert run_["sent"] == run_["replied"] == 100 and run_["lost"] == run_["duplicated"] == 0
    assert telegram["process"]["answered"] == 20 and telegram["process"]["rss_mb"] > 50
    assert "Telegram bot memory" in text


def test_timings_say_where_the_time_went(capsys, index_dir):
    code, out, err = run(capsys, "ask", "--timings", "Who is Lu Kang?")
    assert code == 0 and "Lu Kang" in out
    [demo, line] = err.splitlines()
    assert demo.startswith("Answered from the bundled demo article;")
    assert line.startswith("timings: load ")
    for part in ("encode", "search", "select", "render"):
        assert f", {part} " in line and line.count(" ms") == 5


def test_every_setting_is_documented():
    from bot.config import Settings
    from tests.conftest import REPO

    example = (REPO / "config.example.yaml").read_text(encoding="utf-8")
    page = (REPO / "docs" / "settings.md").read_text(encoding="utf-8")
    for name in Settings.model_fields:
        assert f"{name}:" in example, name
        assert f"`{name}`" in page, name


def test_a_build_with_an_overlong_sentence_says_nothing_on_stderr(tmp_path):
    # One 700-word "sentence" (a table row, a run-on list): the chunker cuts it to fit, so a
    # tokenizer warning about "indexing errors" would only alarm the user.
    doc = tmp_path / "long.txt"
    doc.write_text("The table lists " + ", ".join(f"item{i} value{i}" for i in range(350)) + ".\n")
    result = qabot("index", "rebuild", "--source", str(doc), "--index-dir", str(tmp_path / "i"))
    assert result.returncode == 0, result.stderr
    assert result.stderr == "" and "Indexed" in result.stdout


MARKUP_LINES = [":[/]", ":[link=https://example.com]x", ":doc [bold]nope:smile:"]


def test_repl_piped_prints_what_is_typed_never_markup(capsys, index_dir, monkeypatch):
    """`:[/]` once raised Rich's MarkupError and ended the session; `[link=…]` made a live
    hyperlink. Now each is text, and the question after them is answered."""
    lines = "\n".join([*MARKUP_LINES, "Who is China's ambassador to Japan?"]) + "\n"
    code, out, err = run(capsys, "repl", stdin=lines, monkeypatch=monkeypatch)
    assert code == 0, err
    assert "Unknown command :[/]; :help lists them." in out
    assert "Unknown command :[link=https://example.com]x; :help lists them." in out
    assert "[bold]nope:smile:" in out  # the :doc error quotes the name as typed
    assert "Cheng Yonghua" in out and "unexpected" not in err
