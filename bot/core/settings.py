"""The core's own settings: small frozen dataclasses, each default defined here once.

Front ends never build these by hand from their own defaults: `bot.config.Settings` takes its
defaults from these classes, and `bot.service` maps one onto the other.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_BACKEND = "torch"

# Bumped when the same settings cut a text differently, so that indexes built by the old
# rules count as stale. 2: a quote said by "he"/"she" joins the paragraph naming the speaker.
# 3: Markdown layout (HTML tags, images, rules, tables of contents) is not prose.
# 4: a passage's heading is its heading path ("Usage › Install › Linux"), not the nearest one.
CHUNKING_RULES = 4


@dataclass(frozen=True)
class EmbedderSettings:
    model: str = DEFAULT_MODEL  # a sentence-transformers name or a local folder
    device: str = "cpu"
    batch_size: int = 32  # texts per forward pass while building
    backend: str = DEFAULT_BACKEND  # or "torch-int8": Linear layers quantised after loading
    # Questions are encoded through ONNX Runtime: "fp32" gives sentence-transformers' vectors,
    # "int8" a quantised export (smaller, faster, slightly different vectors).
    query_precision: str = "fp32"


@dataclass(frozen=True)
class ChunkerSettings:
    max_tokens: int = 200  # word pieces; the model reads 256
    min_tokens: int = 24  # a shorter paragraph merges with its neighbour in the section

    def as_dict(self) -> dict[str, int]:
        return {**asdict(self), "rules": CHUNKING_RULES}


@dataclass(frozen=True)
class IndexSettings:
    index_type: str = "auto"  # "flat", "hnsw", "ivf"; auto: flat under AUTO_FLAT_LIMIT
    auto_rebuild: bool = True  # rebuild a stale index on open; False: report it


@dataclass(frozen=True)
class AnswerSettings:
    top_k: int = 5
    abstain_threshold: float = 0.32  # chosen on the dev documents (11 to 180 passages)
    # Searching more passages than that raises the threshold by abstain_rise per tenfold
    # (QAEngine.threshold_for): the best unrelated sentence scores higher among more of them.
    # 0.025: the largest rise at which the train and dev QA sets, asked of one index of their
    # documents and 989 others (40,000 passages), abstain on no more answerable questions
    # than in their own indexes (README, "A folder of 1,000 documents").
    abstain_calibrated: int = 200
    abstain_rise: float = 0.025
    max_sentences: int = 3
    history_turns: int = 3
    # Sentences scoring within this margin of the best one join the answer.
    margin: float = 0.08
    # A sentence whose vector is this close to one already in the answer says the same.
    same_meaning: float = 0.9
    retrieval: str = "hybrid"  # or "dense": the plain vector-search baseline
    # A sentence's score mixes its own similarity to the question, its passage's, and how
    # much of the question's wording it (with its passage heading) contains.
    w_sentence: float = 0.5
    w_passage: float = 0.25
    w_coverage: float = 0.25
    rrf_k: int = 60
    answer_depth: int = 15  # passages whose sentences compete for the answer
    answer_checks: bool = True  # the expected-kind and focus checks (bot.core.answering.questions)
    # A "which X" question whose X the quoted passage neither names nor nearly names (word
    # similarity under focus_similarity) is answered only if the sentence scores at least
    # confident_score: an on-topic sentence about something else is not the answer.
    focus_similarity: float = 0.55
    confident_score: float = 0.5
    focus_passages: int = 3  # passages whose words are compared with the focus by similarity
    # With an answer selector (bot.core.answering.selector): it reads the best `selector_depth`
    # sentences by the score above, and the answer is given only if it rates one of them at
    # least `selector_threshold` (None: the threshold it was trained with).
    selector_depth: int = 12
    selector_threshold: float | None = None
    # With a reader (bot.core.answering.reader): it reads the best `reader_depth` sentences by the
    # score above (more, from a second search, after a previous turn) and the answer is the
    # sentence it rates likeliest to answer, if at least `reader_threshold` (None: the
    # threshold chosen on dev when it was trained); a second one joins only if it passes too.
    reader_depth: int = 8
    reader_threshold: float | None = None
