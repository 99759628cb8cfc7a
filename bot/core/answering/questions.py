"""What a question asks for, and whether a sentence can supply it.

No reading-comprehension model ships offline, so answers are the document's own sentences,
chosen by similarity. Similarity alone happily quotes a sentence that is on topic but cannot
be the answer ("How old is Xi?" → a sentence about Xi). Two cheap checks catch most of that:
a question that asks for a date, a number, a duration, an age or a weekday is answered only
by a sentence holding one; and the thing a "which X" / "what is the X of" question names
(its focus) must be present in the passage quoted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.core.language import (
    ANAPHORA,
    AUXILIARIES,
    COPULAS,
    DETERMINERS,
    PREPOSITIONS,
    STOPWORDS,
    VAGUE,
)
from bot.core.types import Expectation, Turn

_NUMBER_WORDS = (
    r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|"
    r"fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|"
    r"eighty|ninety|hundred|thousand|million|billion|trillion|dozen|dozens|half|twice|"
    r"double|triple|once|a few|several|many"
)
_NUMBER = rf"(?:\d[\d,.]*|{_NUMBER_WORDS})"
_UNIT = r"(?:second|minute|hour|day|night|week|month|year|decade|century|centuries)s?"
_WEEKDAY = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
_MONTH = (
    r"(?:january|february|march|april|may|june|july|august|september|october|november|"
    r"december|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec)\.?"
)
# A bare number inside a cross-reference ("Section 3.1", "Exhibit A") is not a quantity.
_REFERENCE = re.compile(r"\b(?:sections?|paragraphs?|articles?|clauses?|§)\s*[\d.()a-z]+", re.I)

# What each kind of question needs to find in a sentence.
_SUPPLIES = {
    "weekday": re.compile(
        rf"\b{_WEEKDAY}\b|\b{_MONTH}\s+\d{{1,2}}\b|\b\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTH}", re.I
    ),
    "date": re.compile(
        rf"\b(?:1[5-9]\d\d|20\d\d)s?\b|\b\d0s\b|\b{_MONTH}\b|\b{_WEEKDAY}\b|"
        r"\b(?:today|yesterday|tomorrow|ago|recently|earlier|later|now|since|until|"
        r"when|after|before|during|upon|once|within|if|unless|then)\b|"
        rf"\b(?:last|next|this|that|same|previous|following) (?:{_UNIT}|spring|summer|"
        r"autumn|fall|winter|time)\b",
        re.I,
    ),
    "year": re.compile(r"\b(?:1[5-9]\d\d|20\d\d)s?\b|\b\d0s\b"),
    "number": re.compile(rf"\b{_NUMBER}\b|[$€£¥%]", re.I),
    "duration": re.compile(
        rf"\b{_NUMBER}[- ](?:more |)(?:{_UNIT})\b|\b(?:a|an) {_UNIT}\b|"
        rf"\b(?:several|few|many|some) {_UNIT}\b|\bsince\b|\buntil\b|\bfor ever\b|"
        r"\bforever\b|\bindefinitely\b|\bperpetual\b",
        re.I,
    ),
    "age": re.compile(
        r"\b\d{1,3}[- ]years?[- ]old\b|\baged? \d{1,3}\b|\bage of \d{1,3}\b|\bborn\b", re.I
    ),
}

# What looks like the kind but is not: a year is no count of things, and "four years
# later" is a point in time, not a length of it.
_NOT_IT = {
    "number": re.compile(r"\b(?:1[5-9]\d\d|20\d\d)s?\b"),
    "duration": re.compile(rf"\b{_NUMBER}[- ]{_UNIT}\s+(?:later|ago|earlier)\b", re.I),
}

# Checked in order: the first pattern that matches the question sets the kind.
_KINDS = (
    ("age", re.compile(r"\bhow old\b|\b(?:what|which) age\b", re.I)),
    ("weekday", re.compile(r"\b(?:what|which) day of the week\b|\bwhich day\b", re.I)),
    ("duration", re.compile(r"\bhow long\b|\bfor how many\b", re.I)),
    ("year", re.compile(r"\b(?:what|which) (?:year|decade|century)\b", re.I)),
    (
        "date",
        re.compile(
            r"^\s*(?:and |but |so )?when\b|\bsince when\b|"
            r"\b(?:what|which) (?:month|date|day)\b",
            re.I,
        ),
    ),
    (
        "number",
        re.compile(
            r"\bhow (?:many|much|large|big|high|far)\b|\bpopulation\b|"
            r"\b(?:what|which) (?:percentage|proportion|share|number|amount|sum|fraction|"
            r"price|cost|figure|size)\b",
            re.I,
        ),
    ),
)


_WORD = re.compile(r"[\w’'-]+")


def expectation(question: str) -> Expectation:
    kind = next((name for name, pattern in _KINDS if pattern.search(question)), None)
    return Expectation(kind, _focus(question))


def supplies(kind: str | None, sentence: str) -> bool:
    """Whether the sentence holds the kind of thing the question asks for."""
    if kind is None:
        return True
    sentence = _REFERENCE.sub(" ", sentence)
    if kind in _NOT_IT:
        sentence = _NOT_IT[kind].sub(" ", sentence)
    return bool(_SUPPLIES[kind].search(sentence))


def _focus(question: str) -> tuple[str, ...]:
    """The head noun a "which"/"what"/"how many" question is about: "Which hotel will…" →
    hotel, "What is Abe's favourite food?" → food, "What is the population of…" → population."""
    words = _WORD.findall(question)
    for i, word in enumerate(words):
        if word.lower() in ("many", "much") and i and words[i - 1].lower() == "how":
            # "how many X verb…": the noun counted comes straight after
            following = words[i + 1 : i + 2]
            return _head([following[0].lower()]) if following else ()
        if word.lower() not in ("which", "what"):
            continue
        rest = words[i + 1 :]
        if rest and rest[0].lower() in COPULAS:
            return _copula_focus(rest[1:])
        phrase = _determiner_phrase(rest)
        if word.lower() == "what" and _verb_after_what(phrase, rest):
            return ()
        return _head(phrase)
    return ()


def _verb_after_what(phrase: list[str], rest: list[str]) -> bool:
    """ "What happens to…", "What counts as…": a verb, not a noun, follows "what"."""
    if len(phrase) != 1 or not phrase[0].endswith(("s", "ed")):
        return False
    following = rest[1].lower() if len(rest) > 1 else ""
    return following in PREPOSITIONS or following in DETERMINERS


def _copula_focus(rest: list[str]) -> tuple[str, ...]:
    # "what is the X of Y" / "what is Y's X": the phrase runs to "of" or to the end.
    if not rest or not (rest[0].lower() in ("the", "a", "an") or _possessive(rest[0])):
        return ()
    phrase = []
    for word in rest[1:]:
        lower = word.lower()
        if lower in PREPOSITIONS:
            if lower not in ("of", "for", "between"):
                return ()
            break
        if lower in AUXILIARIES:
            return ()
        phrase.append(lower)
    return _head(phrase)


def _determiner_phrase(rest: list[str]) -> list[str]:
    # "which X Y verb …": up to three words, ending at a verb, preposition or determiner.
    # A verb is seldom recognisable by its form, but it is the word before an object: a
    # determiner or a capitalised name after a lower-case word ("Which US ally got an…").
    phrase: list[str] = []
    for word in rest:
        lower = word.lower()
        if lower in AUXILIARIES or lower in PREPOSITIONS or _possessive(word):
            break
        if lower in DETERMINERS or (phrase and word[:1].isupper() and phrase[-1].islower()):
            if len(phrase) >= 2:
                phrase.pop()
            break
        if len(phrase) == 3:
            break
        phrase.append(word)
    return [w.lower() for w in phrase]


def _head(phrase: list[str]) -> tuple[str, ...]:
    # The head noun (English noun phrases end in it) decides whether the phrase is too vague
    # to check; its modifiers ("world leader") count as naming it too.
    phrase = [w for w in phrase if w not in STOPWORDS]
    if not phrase or phrase[-1] in VAGUE:
        return ()
    return tuple(phrase)


def _possessive(word: str) -> bool:
    return word.endswith(("'s", "’s", "s'", "s’"))


# --- follow-up questions -------------------------------------------------------------------

_ANAPHORA = re.compile(r"\b(" + "|".join(sorted(ANAPHORA)) + r")\b", re.I)
_SELF_REFERENCE = re.compile(r"\b(this|the) (article|document|text|story|piece|file)\b", re.I)
_CONTINUATION = re.compile(r"^\s*(and|but|so|also|what about|how about|then|why not)\b", re.I)
_PLAIN_WORD = re.compile(r"\w+")


def is_follow_up(question: str) -> bool:
    """A question that leans on the one before: a pronoun, a leading 'and', or very short."""
    stripped = _SELF_REFERENCE.sub("", question)
    return bool(
        _ANAPHORA.search(stripped)
        or _CONTINUATION.match(stripped)
        or len(_PLAIN_WORD.findall(question)) <= 3
    )


def contextualize(question: str, history: Sequence[Turn], turns: int, always: bool = False) -> str:
    """The text to search: a follow-up carries the previous turn's question along (`always`:
    whether or not the question reads as one, for a reader that decides that itself)."""
    if not history or turns == 0 or not (always or is_follow_up(question)):
        return question
    previous = history[-1]
    # The previous query already holds its own antecedent; keep the tail so it stays short.
    context = previous.answer.query if previous.answer else previous.question
    return f"{context[-300:]} {question}"


# Characters no question means: controls (ESC sequences among them), and lone surrogates,
# which is what bytes that were not UTF-8 become in a command-line argument or a piped line.
_NOT_TEXT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def tidy(question: str) -> str:
    """The question as text: what is not text becomes a space (the model's tokenizer
    refuses lone surrogates, and a control character is never part of what was asked)."""
    return _NOT_TEXT.sub(" ", question)
