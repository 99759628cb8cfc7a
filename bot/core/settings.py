"""The core's own settings: small frozen dataclasses, each default defined here once.

The fields a user sets are marked with `setting(...)`: the user's name for the field where it
differs, and the bounds and choices a value must keep to. That mark is plain data, so the
core stays free of pydantic; `bot.config.Settings` builds one validated field from each
(`user_settings`), with this type and default, and `bot.service` builds these classes back
from a `Settings` field by field, by name. A field added here with `setting(...)` (in a
class of SETTINGS_CLASSES) is thereby a setting: in the config file, as a `QABOT_*` variable,
validated, with nothing repeated elsewhere in the code; the tests then ask for its line in
config.example.yaml and docs/settings.md. Fields without the mark are the core's own tuning,
which no user setting reaches.
"""

from __future__ import annotations

from dataclasses import Field, asdict, dataclass, field, fields
from typing import Any

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_BACKEND = "torch"

# Bumped when the same settings cut a text differently, so that indexes built by the old
# rules count as stale. 2: a quote said by "he"/"she" joins the paragraph naming the speaker.
# 3: Markdown layout (HTML tags, images, rules, tables of contents) is not prose.
# 4: a passage's heading is its heading path ("Usage › Install › Linux"), not the nearest one.
# 5: in a .docx only heading styles make headings, and a `<tag>` in HTML or Word text is a
# word, not layout; a passage without a section says its lines ("¶24, lines 88-93").
CHUNKING_RULES = 5


SETTING = "setting"  # the metadata key of a field the user sets


def setting(
    default: Any,
    name: str | None = None,
    *,
    ge: float | None = None,
    le: float | None = None,
    choices: tuple[str, ...] = (),
) -> Any:
    """A dataclass field the user sets: under `name` (None: the field's own), a number within
    [ge, le], a string one of `choices`."""
    mark = {"name": name, "ge": ge, "le": le, "choices": choices}
    return field(default=default, metadata={SETTING: mark})


def user_settings(cls: type) -> dict[str, Field[Any]]:
    """The fields of one of these classes that the user sets, by the user's name for each."""
    marked = [f for f in fields(cls) if SETTING in f.metadata]
    return {f.metadata[SETTING]["name"] or f.name: f for f in marked}


@dataclass(frozen=True)
class EmbedderSettings:
    model: str = setting(DEFAULT_MODEL)  # a sentence-transformers name or a local folder
    device: str = setting("cpu")
    batch_size: int = setting(32, ge=1, le=4096)  # texts per forward pass while building
    # Or "torch-int8": the model's Linear layers quantised after loading (CPU only).
    backend: str = setting(DEFAULT_BACKEND, choices=("torch", "torch-int8"))
    # Questions are encoded through ONNX Runtime: "fp32" gives sentence-transformers' vectors,
    # "int8" a quantised export (smaller, faster, slightly different vectors).
    query_precision: str = setting("fp32", choices=("fp32", "int8"))


@dataclass(frozen=True)
class ChunkerSettings:
    # Word pieces; the model reads 256.
    max_tokens: int = setting(200, "max_chunk_tokens", ge=16, le=1024)
    # A shorter paragraph merges with its neighbour in the section.
    min_tokens: int = setting(24, "min_chunk_tokens", ge=0, le=1024)

    def as_dict(self) -> dict[str, int]:
        return {**asdict(self), "rules": CHUNKING_RULES}


@dataclass(frozen=True)
class IndexSettings:
    # flat (exact), hnsw or ivf (approximate); auto: flat under AUTO_FLAT_LIMIT, else hnsw.
    index_type: str = setting("auto", choices=("auto", "flat", "hnsw", "ivf"))
    auto_rebuild: bool = setting(True)  # rebuild a stale index on open; False: report it


@dataclass(frozen=True)
class AnswerSettings:
    top_k: int = setting(5, ge=1, le=100)
    # Chosen on the dev documents (11 to 180 passages).
    abstain_threshold: float = setting(0.32, ge=-1.0, le=1.0)
    # Searching more passages than that raises the threshold by abstain_rise per tenfold
    # (QAEngine.threshold_for): the best unrelated sentence scores higher among more of them.
    # 0.025: the largest rise at which the train and dev QA sets, asked of one index of their
    # documents and 989 others (40,000 passages), abstain on no more answerable questions
    # than in their own indexes (docs/quality.md, "Abstention in a large, varied index").
    abstain_calibrated: int = 200
    abstain_rise: float = setting(0.025, ge=0.0, le=1.0)
    max_sentences: int = setting(3, "max_answer_sentences", ge=1, le=10)
    history_turns: int = setting(3, ge=0, le=50)
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
    selector_threshold: float | None = setting(None, ge=0.0, le=1.0)
    # With a reader (bot.core.answering.reader): it reads the best `reader_depth` sentences by the
    # score above (more, from a second search, after a previous turn) and the answer is the
    # sentence it rates likeliest to answer, if at least `reader_threshold` (None: the
    # threshold chosen on dev when it was trained); a second one joins only if it passes too.
    reader_depth: int = 8
    reader_threshold: float | None = setting(None, ge=0.0, le=1.0)


# Every class above: bot.config offers the user settings of each.
SETTINGS_CLASSES = (EmbedderSettings, ChunkerSettings, IndexSettings, AnswerSettings)
