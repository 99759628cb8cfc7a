"""A QA corpus: many QA sets, one per document, each with the document's kind and split.

    sets:
      - {file: article.yaml, kind: news, split: dev}

The split is by document: `train` may be fitted and trained on, `dev` chooses between
designs, `held-out` is run only when a change is final and never chooses anything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.core.errors import ConfigError
from bot.tools.evaluation import Report, evaluate, evaluate_steps
from bot.tools.qaset import QASet, load_qa_set

if TYPE_CHECKING:
    from bot.service import QAService

SPLITS = ("train", "dev", "held-out")


@dataclass(frozen=True)
class Entry:
    qa_set: QASet
    kind: str
    split: str

    @property
    def name(self) -> str:
        return self.qa_set.path.stem


def is_corpus(path: Path) -> bool:
    """Whether a YAML file is a corpus (a `sets` list) rather than one QA set."""
    return isinstance(_read(path), dict) and "sets" in _read(path)


def _read(path: Path) -> Any:
    import yaml

    try:
        return yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: not a readable YAML file ({type(exc).__name__})") from None


def load_corpus(path: Path, splits: Iterable[str] = SPLITS) -> list[Entry]:
    """The corpus's QA sets in the given splits, in the file's order."""
    wanted = set(splits)
    entries = []
    for n, raw in enumerate(_read(path)["sets"] or [], start=1):
        if not isinstance(raw, dict) or not {"file", "kind", "split"} <= raw.keys():
            raise ConfigError(f"{path}: set {n} needs 'file', 'kind' and 'split'")
        if raw["split"] not in SPLITS:
            raise ConfigError(f"{path}: set {n} has split {raw['split']!r}, not one of {SPLITS}")
        if raw["split"] in wanted:
            qa_set = load_qa_set(Path(path).parent / raw["file"])
            entries.append(Entry(qa_set, str(raw["kind"]), raw["split"]))
    return entries


def evaluate_corpus(
    entries: list[Entry], open_for: Callable[[Path], QAService], steps: bool = False
) -> list[tuple[Entry, list[tuple[str, Report]]]]:
    """Each document's reports: the final pipeline, or each step of it with `steps`."""
    results = []
    for entry in entries:
        service = open_for(entry.qa_set.document)
        rows = (
            evaluate_steps(service, entry.qa_set)
            if steps
            else [("qabot", evaluate(service, entry.qa_set))]
        )
        results.append((entry, rows))
    return results


def pooled(reports: list[Report]) -> Report:
    """One report over every item of several: metrics weigh each question once."""
    return Report(reports[0].qa_set, [o for r in reports for o in r.outcomes])


def summary_rows(
    results: list[tuple[Entry, list[tuple[str, Report]]]],
) -> list[tuple[str, Report]]:
    """Rows for a table: per document, per kind and per split, each pooled over its items;
    with several steps, one row per step for each split."""
    steps = [name for name, _ in results[0][1]] if results else []
    rows: list[tuple[str, Report]] = []
    if len(steps) == 1:
        rows += [(f"{e.split}  {e.name}", reps[0][1]) for e, reps in results]
        for kind in dict.fromkeys(e.kind for e, _ in results):
            group = [reps[0][1] for e, reps in results if e.kind == kind]
            rows.append((f"kind  {kind} ({len(group)})", pooled(group)))
    for split in SPLITS:
        members = [(e, reps) for e, reps in results if e.split == split]
        for i, step in enumerate(steps):
            group = [reps[i][1] for _, reps in members]
            if group:
                label = f"{split} ({len(group)} documents)" + (
                    f": {step}" if len(steps) > 1 else ""
                )
                rows.append((label, pooled(group)))
    return rows
