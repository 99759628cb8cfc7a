"""How answers, sources and progress look in a terminal (Rich); shared by `ask` and `repl`."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape

from bot.documents import normalize_space

if TYPE_CHECKING:
    from rich.progress import Progress as RichProgressBar

    from bot.answering import Answer, Citation
    from bot.evaluation import Report

_MARKER = re.compile(r"\[(\d+)\]")


def para_label(paragraphs: tuple[int, ...]) -> str:
    first, last = paragraphs[0], paragraphs[-1]
    return f"¶{first}" if first == last else f"¶{first}-{last}"


def preview(text: str, width: int = 90) -> str:
    flat = normalize_space(text)
    return flat if len(flat) <= width else flat[: width - 1].rstrip() + "…"


def render_answer(console: Console, answer: Answer) -> None:
    if answer.abstained:
        console.print(f"[bold]{escape(answer.text)}[/]")
        console.print(f"[dim]({escape(answer.reason)})[/]")
        return
    console.print(_MARKER.sub(r"[bold cyan]\g<0>[/]", escape(answer.text)), highlight=False)
    console.print()
    console.print("[bold]Sources[/]")
    for c in answer.citations:
        render_source_line(console, c)


def render_source_line(console: Console, c: Citation) -> None:
    console.print(
        f"  [bold cyan]\\[{c.n}][/] [green]{c.doc_id} {para_label(c.paragraphs)}[/] "
        f"[dim]({c.score:.2f})[/] {escape(preview(c.text))}",
        highlight=False,
    )


def render_passage(console: Console, c: Citation) -> None:
    console.print(
        f"[bold cyan]\\[{c.n}][/] [green]{c.doc_id} {para_label(c.paragraphs)}[/] "
        f"[dim]chars {c.start}-{c.end}, id {c.chunk_id}[/]",
        highlight=False,
    )
    console.print(escape(c.text), highlight=False, soft_wrap=False)


def answer_json(answer: Answer, explain: bool = False) -> str:
    data = answer.to_dict()
    if explain:
        data["explain"] = explain_dict(answer)
    return json.dumps(data, ensure_ascii=False)


def explain_dict(answer: Answer) -> dict:
    return {
        "query": answer.query,
        "expects": answer.expected.kind,
        "focus": " ".join(answer.expected.focus) or None,
        "score": round(answer.score, 4),
        "threshold": answer.threshold,
        "reason": answer.reason,
        "retrieved": [
            {
                "chunk_id": r.chunk_id,
                "paragraphs": list(r.paragraphs),
                "dense": round(r.dense, 4),
                "lexical": round(r.lexical, 4),
                "fused": round(r.fused, 4),
                "best_sentence_score": round(r.best_sentence_score, 4),
                "best_sentence": r.best_sentence,
            }
            for r in answer.retrieved
        ],
    }


def render_explain(console: Console, answer: Answer) -> None:
    """Why the bot answered or abstained: what it searched, what it found, how it scored."""
    from rich.table import Table

    if answer.query != answer.question:
        console.print(f"[dim]searched:[/] {escape(answer.query)}")
    wanted = answer.expected.kind or "anything"
    focus = f", about '{' '.join(answer.expected.focus)}'" if answer.expected.focus else ""
    console.print(f"[dim]the question asks for:[/] {wanted}{escape(focus)}")
    table = Table(box=None, pad_edge=False, header_style="bold")
    for name, justify in (
        ("#", "right"),
        ("passage", "left"),
        ("dense", "right"),
        ("bm25", "right"),
        ("rrf", "right"),
        ("best", "right"),
        ("best sentence", "left"),
    ):
        table.add_column(name, justify=justify, no_wrap=name != "best sentence")
    for rank, r in enumerate(answer.retrieved, start=1):
        table.add_row(
            str(rank),
            f"{r.chunk_id.split('#')[-1]} {para_label(r.paragraphs)}",
            f"{r.dense:.2f}",
            f"{r.lexical:.2f}",
            f"{r.fused:.3f}",
            f"{r.best_sentence_score:.2f}",
            escape(preview(r.best_sentence, 70)),
        )
    console.print(table)
    verdict = "abstained" if answer.abstained else "answered"
    console.print(f"[bold]{verdict}:[/] {escape(answer.reason)}")


# --- evaluation reports ---------------------------------------------------------------------

_COLUMNS = (
    ("recall@1", "R@1"),
    ("recall@3", "R@3"),
    ("recall@5", "R@5"),
    ("mrr", "MRR"),
    ("answer_hit", "hit"),
    ("citation_precision", "cite"),
    ("abstention", "abstain"),
    ("false_abstention", "false abst."),
    ("follow_up_accuracy", "follow-up"),
)


def render_report(console: Console, report: Report, show_misses: bool = True) -> None:
    from rich.table import Table

    m = report.metrics()
    console.print(
        f"[bold]{escape(str(report.qa_set.path))}[/] on {escape(report.qa_set.document.name)}: "
        f"{m['answerable']} answerable, {m['unanswerable']} unanswerable, "
        f"{m['follow_ups']} follow-ups"
    )
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, label in (
        ("recall@1", "retrieval recall@1"),
        ("recall@3", "retrieval recall@3"),
        ("recall@5", "retrieval recall@5"),
        ("mrr", "MRR"),
        ("answer_hit", "answer hit rate"),
        ("citation_precision", "citation precision"),
        ("abstention", "abstention (unanswerable)"),
        ("false_abstention", "false abstention (answerable)"),
        ("follow_up_accuracy", "follow-up accuracy"),
        ("latency_p50_ms", "latency p50 (ms)"),
        ("latency_p95_ms", "latency p95 (ms)"),
    ):
        if key in m:
            table.add_row(label, f"{m[key]:.2f}" if "latency" in key else f"{m[key]:.3f}")
    console.print(table)
    misses = report.misses()
    if show_misses and misses:
        console.print(f"\n[bold]Misses ({len(misses)})[/]")
        for o in misses:
            rank = f", evidence at rank {o.evidence_rank}" if o.evidence_rank else ""
            turn = " (follow-up)" if o.turn else ""
            console.print(f"- {escape(o.item.question)}{turn}: [yellow]{o.verdict}[/]{rank}")
            if o.item.answers:
                console.print(f"  [dim]expected:[/] {escape(' | '.join(o.item.answers))}")
            console.print(f"  [dim]got:[/] {escape(preview(o.answer.text, 110))}")
            console.print(f"  [dim]why:[/] {escape(o.answer.reason)}")


def render_table(console: Console, title: str, rows: list[tuple[str, Report]]) -> None:
    """Several runs side by side: one row each, the main metrics as columns."""
    from rich.table import Table

    table = Table(title=title, title_justify="left", box=None, header_style="bold")
    table.add_column("")
    for _, label in _COLUMNS:
        table.add_column(label, justify="right")
    for name, report in rows:
        m = report.metrics()
        table.add_row(name, *(f"{m[key]:.2f}" for key, _ in _COLUMNS))
    console.print(table)


def reports_json(rows: list[tuple[str, Report]]) -> str:
    return json.dumps(
        [{"name": name, "metrics": report.metrics()} for name, report in rows], ensure_ascii=False
    )


class BuildProgress:
    """A progress bar on a terminal; on a pipe, nothing (the caller prints a summary)."""

    def __init__(self, console: Console):
        self.console = console
        self.bar: RichProgressBar | None = None
        self.task = None

    def start(self, total: int, description: str) -> None:
        if not self.console.is_terminal:
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )
        self.bar.start()
        self.task = self.bar.add_task(description, total=total)

    def advance(self, n: int) -> None:
        if self.bar is not None:
            self.bar.advance(self.task, n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


# --- benchmark ------------------------------------------------------------------------------


def render_bench(console: Console, r: dict) -> None:
    """The bench figures next to their floors and targets."""
    from rich.table import Table

    m = r["machine"]
    console.print(
        f"[bold]qabot bench[/] on {m['cpu']}, {m['cores']} cores (torch {m['torch']}, "
        f"{m['torch_threads']} threads; faiss {m['faiss']}; Python {m['python']})"
    )
    table = Table(box=None, header_style="bold", pad_edge=False)
    for name in ("measure", "qabot", "floor", "ratio", "target", "met"):
        table.add_column(name, justify="left" if name in ("measure", "target") else "right")

    def row(name: str, value: str, floor: str, ratio: str, target: str, met: bool) -> None:
        table.add_row(name, value, floor, ratio, target, "yes" if met else "[red]no[/]")

    s, c, w, b = r["startup"], r["cold_ask"], r["warm"], r["build"]
    row("qabot --help", f"{s['help_s']:.2f} s", "", "", "< 0.3 s", s["help_s"] < 0.3)
    row(
        "qabot index status",
        f"{s['index_status_s']:.2f} s",
        "",
        "",
        "< 0.3 s",
        s["index_status_s"] < 0.3,
    )
    row(
        "cold qabot ask",
        f"{c['ask_s']:.2f} s",
        f"{c['floor_s']:.2f} s",
        f"{c['ratio']:.2f}",
        "≤ 1.3× floor",
        c["ratio"] <= 1.3,
    )
    row(
        "warm answer p50",
        f"{w['p50_ms']:.1f} ms",
        f"{w['floor_p50_ms']:.1f} ms",
        f"{w['ratio_p50']:.2f}",
        "≤ 1.3× floor, < 30 ms",
        w["ratio_p50"] <= 1.3 and w["p50_ms"] < 30,
    )
    row("warm answer p95", f"{w['p95_ms']:.1f} ms", f"{w['floor_p95_ms']:.1f} ms", "", "", True)
    row(
        f"build ({b['passages']} passages)",
        f"{b['build_passages_per_s']:.0f}/s",
        f"{b['encode_passages_per_s']:.0f}/s",
        f"{b['ratio']:.2f}",
        "≥ 0.9× encode",
        b["ratio"] >= 0.9,
    )
    row(
        "rebuild after a one-sentence edit",
        f"{b['rebuild_after_edit_s']:.1f} s",
        f"{b['build_s']:.1f} s full",
        f"{b['rebuild_ratio']:.2f}",
        "re-embeds only the edit",
        b["rebuild_ratio"] < 0.5,
    )
    rss = r["repl_rss_mb"]
    row(
        "REPL memory (RSS / peak)",
        f"{rss['rss_mb']:.0f} / {rss['peak_mb']:.0f} MB",
        "",
        "",
        "",
        True,
    )
    console.print(table)

    backends = r["backends"]
    speed = Table(
        title=f"Backends (passage vectors: cosine to torch's {backends['passage_cosine_mean']:.3f} "
        f"mean, {backends['passage_cosine_min']:.3f} min)",
        title_justify="left",
        box=None,
        header_style="bold",
        pad_edge=False,
    )
    for name in ("backend", "build", "warm answer p50", "floor p50"):
        speed.add_column(name, justify="left" if name == "backend" else "right")
    for b in backends["rows"]:
        speed.add_row(
            b["backend"],
            f"{b['build_s']:.1f} s ({b['passages']} passages)",
            f"{b['answer_p50_ms']:.1f} ms",
            f"{b['floor_p50_ms']:.1f} ms",
        )
    console.print()
    console.print(speed)

    scale = Table(
        title="Scale (synthetic unit vectors, 384 dims, intrinsic dimension 48)",
        title_justify="left",
        box=None,
        header_style="bold",
        pad_edge=False,
    )
    for name in ("vectors", "type", "build", "memory", "search p50", "recall@10"):
        scale.add_column(name, justify="left" if name == "type" else "right")
    for s in r["scale"]:
        scale.add_row(
            f"{s['vectors']:,}",
            s["type"],
            f"{s['build_s']:.1f} s",
            f"{s['memory_mb']:.0f} MB",
            f"{s['search_p50_ms']:.2f} ms",
            f"{s['recall_at_10']:.3f}",
        )
    console.print()
    console.print(scale)
