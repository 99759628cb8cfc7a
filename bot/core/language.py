"""The English word lists qabot's rules read, in one place: tunable data, each with a note of
what it is for. Code that uses a list imports it from here; nothing else defines words.

A list here holds a class of words (function words, abbreviations, auxiliaries), never an
entry added to make one question of a QA set pass: such entries flatter the sets they were
fitted on and help no other document.
"""

from __future__ import annotations


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Function words, and the words questions are built from: they carry no topic, so they are
# neither search terms nor counted when a sentence "covers" a question.
STOPWORDS = _words(
    "a about above after again against all also am an and any are aren't as at be because "
    "been before being below between both but by can could did didn't do does doesn't doing "
    "don't down during each few for from further had has have having he her here hers herself "
    "him himself his how i if in into is isn't it it's its itself just me more most my myself "
    "no nor not now of off on once only or other our ours ourselves out over own same she "
    "should so some such than that that's the their theirs them themselves then there these "
    "they this those through to too under until up very was wasn't we were weren't what when "
    "where which while who whom why will with would you your yours yourself yourselves"
)

# Words after which a full stop does not end a sentence.
ABBREVIATIONS = _words(
    "mr mrs ms dr prof sr jr st mt ft vs etc e.g i.e cf al inc ltd co corp no nos fig figs "
    "gen gov sen rep col lt sgt capt cmdr adm pres dept univ approx est jan feb mar apr jun "
    "jul aug sep sept oct nov dec art sec ch vol pp p ed eds u.s u.k u.n a.m p.m"
)


# --- question analysis (bot.core.answering.questions) ------------------------------

# Auxiliary verbs: a "which X" phrase ends before them ("Which hotel will Abe stay at?").
AUXILIARIES = _words(
    "is are was were be been being am did does do has have had will would can could shall "
    "should may might must"
)
# Prepositions end a question's focus phrase ("which port of ...").
PREPOSITIONS = _words(
    "of in at on to for with from by about between among into over under after before "
    "during against as than"
)
# Head nouns a focus check cannot use: general nouns (thing, kind, reason, name: they stand
# for almost anything) and nouns that only restate the kind of answer wanted (year, number),
# which the kind check already covers.
VAGUE = _words(
    "thing things kind kinds type types sort sorts way ways one ones part parts reason "
    "reasons role roles name names word words term terms example examples point points "
    "aspect aspects issue issues matter matters fact facts question questions "
    "year years month months day days date dates time times decade decades century "
    "number numbers amount percentage proportion share age"
)
# "What is the X of Y": the copula after "what" introduces the focus phrase.
COPULAS = _words("is are was were")
# Determiners and pronouns start a new noun phrase: a focus phrase ends before them.
DETERMINERS = _words(
    "a an the this that these those he she they it we you i his her their its our my your "
    "him them me"  # not "us": it is also the US
)
# A follow-up leans on the turn before when it holds one of these: the pronoun or phrase
# refers back, so the previous question's words join the search.
ANAPHORA = _words(
    "he him his she her hers they them their theirs it its this that these those there then "
    "both such"
) | {"the two", "the same"}
