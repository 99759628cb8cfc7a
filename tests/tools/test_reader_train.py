"""`qabot train` end to end on the smallest documents (--quick: real mining with qabot's own
retrieval, real PyTorch training, a real int8 ONNX export the bot then answers with), and the
labelling of mined pairs."""

from __future__ import annotations

import json
import re

from hypothesis import given
from hypothesis import strategies as st

from bot.core.answering.selector import FEATURES, READER_FEATURES
from bot.tools.reader_data import answer_span
from tests.conftest import REPO, run_cli

CORPORA = ["--corpus", str(REPO / "eval" / "corpus.yaml")]
CORPORA += ["--corpus", str(REPO / "eval" / "reader" / "corpus.yaml")]


def test_quick_training_writes_a_reader_the_bot_answers_with(capfd, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    out = tmp_path / "reader"
    code, stdout, err = run_cli(capfd, "train", "--quick", "--out", str(out), *CORPORA)
    assert code == 0, err
    assert stdout.startswith(f"Reader written to {out} (48 pairs of")
    assert {p.name for p in out.iterdir()} == {"reader.onnx", "tokenizer.json", "reader.json"}
    config = json.loads((out / "reader.json").read_text())
    assert 0.0 <= config["threshold"] <= 1.0 and config["layers"] == 1
    assert config["training"]["train_pairs"] == 48
    assert "Traceback" not in err and "UNEXPECTED" not in err
    # Its own selector, fitted on dev: the rules' features and the reader's.
    selector = config["selector"]
    assert selector["features"] == list(FEATURES + READER_FEATURES)
    assert len(selector["weights"]) == len(FEATURES + READER_FEATURES)
    assert 0.0 <= selector["threshold"] <= 1.0
    assert stdout.rstrip().endswith(f"threshold {selector['threshold']:.2f} chosen on dev)")

    # --reuse-model: the same model, its threshold and selector chosen again.
    model = (out / "reader.onnx").read_bytes()
    code, stdout, err = run_cli(
        capfd, "train", "--quick", "--reuse-model", "--out", str(out), *CORPORA
    )
    assert code == 0, err
    assert "keeping the model trained in" in err and "training on" not in err
    assert (out / "reader.onnx").read_bytes() == model
    assert json.loads((out / "reader.json").read_text())["selector"] == selector

    monkeypatch.setenv("QABOT_READER", str(out))
    monkeypatch.setenv("QABOT_READER_THRESHOLD", "0")  # a tiny model: always answer
    code, stdout, err = run_cli(capfd, "ask", "--json", "Who is China's ambassador to Japan?")
    assert code == 0, err
    answer = json.loads(stdout)
    assert not answer["abstained"] and answer["citations"]
    span = answer["span"]
    if span is not None:  # where it is, the document's own words
        quoted = answer["citations"][0]["text"]
        assert re.sub(r"\s+", " ", span["text"]) in re.sub(r"\s+", " ", quoted)


words = st.lists(st.from_regex(r"[A-Za-z0-9]{1,8}", fullmatch=True), min_size=1, max_size=12)


@given(words=words, data=st.data())
def test_an_answer_in_a_sentence_is_found_whatever_its_case_and_spacing(words, data):
    start = data.draw(st.integers(0, len(words) - 1))
    end = data.draw(st.integers(start + 1, len(words)))
    glue = data.draw(st.sampled_from([" ", ", ", " - ", "  "]))
    sentence = glue.join(words) + "."
    answer = " ".join(words[start:end]).upper()
    found = answer_span(sentence, ("not there at all zzz", answer))
    assert found is not None
    got = sentence[found[0] : found[1]]
    assert re.findall(r"\w+", got.lower()) == [w.lower() for w in words[start:end]]
