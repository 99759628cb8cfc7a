"""What a question asks for, and which sentences can supply it."""

from __future__ import annotations

import pytest

from bot.core.answering.questions import expectation, supplies


@pytest.mark.parametrize(
    ("question", "kind", "focus"),
    [
        ("How old is Xi Jinping?", "age", ()),
        ("What day of the week does he arrive?", "weekday", ()),
        ("How long will the visit last?", "duration", ()),
        ("For how long has America been an ally?", "duration", ()),
        ("When did the thaw begin?", "date", ()),
        ("And when was that?", "date", ()),
        ("In what year did they first meet?", "year", ()),
        ("How many soldiers serve in the army?", "number", ("soldiers",)),
        ("What is the population of Tokyo?", "number", ("population",)),
        ("Which hotel will Abe stay at?", None, ("hotel",)),
        ("What gift did Xi give Abe?", None, ("gift",)),
        ("What is Abe's favourite food?", None, ("favourite", "food")),
        ("Which US ally got an exemption from the tariffs?", None, ("us", "ally")),
        ("Which Chinese premier met Emperor Akihito?", None, ("chinese", "premier")),
        ("What happens to my rights if I break the terms?", None, ()),
        ("What counts as source code?", None, ()),
        ("Which sea lies between Japan and China?", None, ("sea", "lies")),
        ("What is the capital of France?", None, ("capital",)),
        ("What does Trump want Japan to buy?", None, ()),  # "what" is the object
        ("What are the islands called in Japan?", None, ()),
        ("What is the Chinese name of the islands?", None, ()),  # too vague to check
        ("Who is Lu Kang?", None, ()),
    ],
)
def test_expectation(question, kind, focus):
    got = expectation(question)
    assert (got.kind, got.focus) == (kind, focus)


@pytest.mark.parametrize(
    ("kind", "sentence", "expected"),
    [
        ("age", "Xi, 65, is the president.", False),
        ("age", "The 65-year-old leader arrived.", True),
        ("weekday", "He arrives in Beijing Thursday.", True),
        ("weekday", "It began in September 2017.", False),
        ("duration", "They have been allies for more than 70 years.", True),
        ("duration", "He arrives for his first visit in years.", False),
        ("duration", "Four years later, he arrives.", False),
        ("year", "They first met in 2014.", True),
        ("year", "Version 2.0 applies when you distribute it.", False),
        ("number", "The feud began in 2012.", False),
        ("date", "They first met in 2014.", True),
        ("date", "Both men looked grim.", False),
        ("number", "A trade surplus of nearly $70 billion.", True),
        ("number", "Japan has many friends.", True),
        ("number", "Subject to Section 3.1, you may distribute it.", False),
        (None, "Anything at all.", True),
    ],
)
def test_supplies(kind, sentence, expected):
    assert supplies(kind, sentence) is expected
