"""A QA set: the YAML file `qabot eval` reads (format in docs/quality.md), and what a set
must hold before it can measure anything.

A QA set names a document, answerable questions with accepted answers and the evidence text
that settles them, unanswerable questions, and multi-turn conversations. `load_qa_set` turns
a file into a `QASet` or says, in one line, which field of which file is wrong; `check_qa_set`
finds, without the model, the answers and evidence the document does not hold.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.core.errors import ConfigError


@dataclass(frozen=True)
class Item:
    question: str
    answerable: bool
    answers: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()


@dataclass(frozen=True)
class QASet:
    path: Path
    document: Path
    questions: tuple[Item, ...]
    conversations: tuple[tuple[Item, ...], ...]

    @property
    def summary(self) -> str:
        unanswerable = sum(not q.answerable for q in self.questions)
        return (
            f"{len(self.questions) - unanswerable} answerable, {unanswerable} unanswerable, "
            f"{len(self.conversations)} conversations"
        )


def fold(text: str) -> str:
    """Compare case-, punctuation- and quote-insensitively."""
    text = text.replace("’", "'").replace("‘", "'").lower()
    return " ".join(re.sub(r"[^\w\s$%']", " ", text).split())


def _item(raw: Any, answerable: bool, where: str) -> Item:
    if not isinstance(raw, dict) or not isinstance(raw.get("q"), str):
        raise ConfigError(f"{where}: each question needs a 'q' text")
    question = raw["q"]
    answers = _texts(raw.get("answers"), "answers", question, where)
    evidence = _texts(raw.get("evidence"), "evidence", question, where)
    answerable = raw.get("answerable", answerable)
    if not isinstance(answerable, bool):
        raise ConfigError(f"{where}: {question!r}: 'answerable' is true or false")
    if answerable and not (answers and evidence):
        raise ConfigError(f"{where}: {question!r} needs 'answers' and 'evidence'")
    return Item(question, answerable, answers, evidence)


def _texts(value: Any, field: str, question: str, where: str) -> tuple[str, ...]:
    """A question's 'answers' or 'evidence': one text or a list of texts (none: empty)."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ConfigError(
        f"{where}: {question!r}: '{field}' is a text or a list of texts, not {_kind(value)}"
    )


def _list(value: Any, field: str, where: str) -> list[Any]:
    """A list the QA set holds under `field` (absent or empty: none)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ConfigError(f"{where}: '{field}' is a list, not {_kind(value)}")
    return value


def _kind(value: Any) -> str:
    """What a YAML value is, in a message's words."""
    names = {bool: "true/false", int: "a number", float: "a number", str: "a text"}
    names |= {dict: "a mapping", list: "a list"}
    return names.get(type(value), type(value).__name__)


def load_qa_set(path: Path) -> QASet:
    """A QA set from its YAML file; ConfigError (one line naming the file and the field)
    when it cannot be read or a field holds the wrong kind of value."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: not a readable YAML QA set ({type(exc).__name__})") from None
    if not isinstance(data, dict) or "document" not in data:
        raise ConfigError(f"{path}: a QA set is a mapping with a 'document' key")
    where = str(path)
    if not isinstance(data["document"], str):
        raise ConfigError(f"{where}: 'document' is a file name, not {_kind(data['document'])}")
    if not data["document"].strip():
        raise ConfigError(f"{where}: 'document' is empty; it names the document's file")
    document = (Path(path).parent / data["document"]).resolve()
    questions = [_item(q, True, where) for q in _list(data.get("questions"), "questions", where)]
    unanswerable = _list(data.get("unanswerable"), "unanswerable", where)
    questions += [_item(q, False, where) for q in unanswerable]
    conversations = []
    for conv in _list(data.get("conversations"), "conversations", where):
        if not isinstance(conv, dict):
            raise ConfigError(f"{where}: each conversation is a mapping with 'turns'")
        turns = _list(conv.get("turns"), "turns", where)
        conversations.append(tuple(_item(t, True, where) for t in turns))
    return QASet(Path(path), document, tuple(questions), tuple(conversations))


def check_qa_set(qa_set: QASet) -> list[str]:
    """What is wrong with a QA set, without running the bot: evidence or answers that are not
    in the document, too few unanswerable questions, conversations of one turn."""
    text = fold(qa_set.document.read_text(encoding="utf-8-sig"))
    problems = []
    answerable = [i for i in qa_set.questions if i.answerable]
    for conversation in qa_set.conversations:
        if len(conversation) < 2:
            problems.append(f"conversation {conversation[0].question!r} has one turn only")
        answerable += list(conversation)
    for item in answerable:
        if not any(fold(e) in text for e in item.evidence):
            problems.append(f"{item.question!r}: no evidence text occurs in the document")
        if not any(fold(a) in text for a in item.answers):
            problems.append(f"{item.question!r}: no accepted answer occurs in the document")
    unanswerable = sum(not i.answerable for i in qa_set.questions)
    if unanswerable < 0.2 * len(qa_set.questions):
        problems.append(
            f"{unanswerable} unanswerable of {len(qa_set.questions)} questions (under 20%)"
        )
    return problems
