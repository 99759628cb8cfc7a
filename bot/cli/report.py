"""Tables of figures: `qabot eval` reports and `qabot bench` results (Rich)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from bot.cli.render import preview
from bot.cli.safe import json_safe, styled

if TYPE_CHECKING:
    from collections.abc import Callable

    from rich.console import Console
    from rich.table import Table

    from bot.tools.evaluation import Report

# --- evaluation reports ---------------------------------------------------------------------

_COLUMNS = (
    ("recall@1", "R@1"),
    ("recall@3", "R@3"),
    ("recall@5", "R@5"),
    ("mrr", "MRR"),
    ("answer_hit", "hit"),
    ("span_hit", "span"),
    ("citation_precision", "cite"),
    ("abstention", "abstain"),
    ("false_abstention", "false abst."),
    ("follow_up_accuracy", "follow-up"),
)


def render_report(console: Console, report: Report, show_misses: bool = True) -> None:
    from rich.table import Table

    m = report.metrics()
    console.print(
        styled(
            (str(report.qa_set.path), "bold"),
            " on ",
            report.qa_set.document.name,
            f": {m['answerable']} answerable, {m['unanswerable']} unanswerable, "
            f"{m['follow_ups']} follow-ups",
        )
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
        ("span_hit", "span hit rate (the marked words hold an answer)"),
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
        console.print(styled("\n", (f"Misses ({len(misses)})", "bold")))
        for o in misses:
            rank = f", evidence at rank {o.evidence_rank}" if o.evidence_rank else ""
            turn = " (follow-up)" if o.turn else ""
            console.print(styled("- ", o.item.question, f"{turn}: ", (o.verdict, "yellow"), rank))
            if o.item.answers:
                console.print(styled("  ", ("expected:", "dim"), " ", " | ".join(o.item.answers)))
            console.print(styled("  ", ("got:", "dim"), " ", preview(o.answer.text, 110)))
            console.print(styled("  ", ("why:", "dim"), " ", o.answer.reason))


def render_table(console: Console, title: str, rows: list[tuple[str, Report]]) -> None:
    """Several runs side by side: one row each, the main metrics as columns."""
    from rich.table import Table

    # A Text title is shown as it is, so it takes the style Rich gives a string title.
    table = Table(
        title=styled(title, style="table.title"),
        title_justify="left",
        box=None,
        header_style="bold",
    )
    table.add_column("")
    for _, label in _COLUMNS:
        table.add_column(label, justify="right")
    for name, report in rows:
        m = report.metrics()
        table.add_row(styled(name), *(f"{m[key]:.2f}" for key, _ in _COLUMNS))
    console.print(table)


def reports_json(rows: list[tuple[str, Report]]) -> str:
    return json_safe(
        json.dumps(
            [{"name": name, "metrics": report.metrics()} for name, report in rows],
            ensure_ascii=False,
        )
    )


# --- benchmark ------------------------------------------------------------------------------


def render_bench(console: Console, r: dict) -> None:
    """The bench figures next to their floors and targets."""
    m = r["machine"]
    console.print(
        styled(
            ("qabot bench", "bold"),
            " on ",
            m["cpu"],
            f", {m['cores']} cores (torch {m['torch']}, "
            f"{m['torch_threads']} threads; faiss {m['faiss']}; Python {m['python']})",
        )
    )
    console.print(_targets_table(r))
    console.print()
    console.print(_backends_table(r["backends"]))
    console.print()
    console.print(_scale_table(r["scale"]))


def _table(columns: tuple[str, ...], left: tuple[str, ...], title: str | None = None) -> Table:
    from rich.table import Table

    table = Table(title=title, title_justify="left", box=None, header_style="bold", pad_edge=False)
    for name in columns:
        table.add_column(name, justify="left" if name in left else "right")
    return table


def _targets_table(r: dict) -> Table:
    table = _table(("measure", "qabot", "floor", "ratio", "target", "met"), ("measure", "target"))

    def row(name: str, value: str, floor: str, ratio: str, target: str, met: bool) -> None:
        # Cells as Text: a skipped measure's reason is an error message, not markup.
        cells = (styled(c) for c in (name, value, floor, ratio, target))
        table.add_row(*cells, styled("yes") if met else styled(("no", "red")))

    s, c, w, b = r["startup"], r["cold_ask"], r["warm"], r["build"]
    row("qabot --help", f"{s['help_s']:.2f} s", "", "", "< 0.3 s", s["help_s"] < 0.3)
    status_s = s["index_status_s"]
    row("qabot index status", f"{status_s:.2f} s", "", "", "< 0.3 s", status_s < 0.3)
    row(
        "cold qabot ask",
        f"{c['ask_s']:.2f} s",
        f"{c['floor_s']:.2f} s",
        f"{c['ratio']:.2f}",
        "≤ 0.25× torch floor, < 1 s",
        c["ratio"] <= 0.25 and c["ask_s"] < 1.0,
    )
    if "import_floor_s" in c:
        row(
            "  against importing its libraries",
            f"{c['ask_s']:.2f} s",
            f"{c['import_floor_s']:.2f} s",
            f"{c['import_ratio']:.2f}",
            "≤ 2.5× import",
            c["import_ratio"] <= 2.5,
        )
    row(
        "warm answer p50",
        f"{w['p50_ms']:.1f} ms",
        f"{w['floor_p50_ms']:.1f} ms",
        f"{w['ratio_p50']:.2f}",
        "≤ 1.0× torch floor",
        w["ratio_p50"] <= 1.0,
    )
    row("warm answer p95", f"{w['p95_ms']:.1f} ms", f"{w['floor_p95_ms']:.1f} ms", "", "", True)
    row(
        f"build ({len(b['documents'])} documents, {b['passages']} passages)",
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
    memory = f"{rss['rss_mb']:.0f} / {rss['peak_mb']:.0f} MB"
    row("REPL memory (RSS / peak)", memory, "", "", "RSS ≤ 250 MB", rss["rss_mb"] <= 250)
    _telegram_rows(r.get("telegram") or {"skipped": "not measured"}, row)
    if r.get("corpus"):
        _corpus_rows(r["corpus"], row)
    return table


def _corpus_rows(k: dict, row: Callable[..., None]) -> None:
    """`--corpus FOLDER`: a folder of many documents, against the article alone."""
    row(
        f"build {k['documents']} documents ({k['text_mb']:.0f} MB, {k['passages']:,} passages)",
        f"{k['build_passages_per_s']:.0f}/s",
        f"{k['encode_passages_per_s']:.0f}/s",
        f"{k['ratio']:.2f}",
        "≥ 0.9× encode",
        k["ratio"] >= 0.9,
    )
    row(
        "  its peak memory",
        f"{k['peak_mb']:,} MB",
        f"{k['one_document_peak_mb']:,} MB one document",
        f"+{k['over_one_document_mb']:,} MB",
        "< 1 GB",
        k["peak_mb"] < 1024,
    )
    row(
        "  cold qabot ask over it",
        f"{k['cold_ask_s']:.2f} s",
        f"{k['cold_ask_one_document_s']:.2f} s one document",
        f"{k['cold_ratio']:.2f}",
        "≤ 1.15× one document, < 2 s",
        k["cold_ratio"] <= 1.15 and k["cold_ask_s"] < 2,
    )
    row(
        "  warm answer p50 over it",
        f"{k['warm_p50_ms']:.1f} ms",
        "",
        "",
        "< 50 ms",
        k["warm_p50_ms"] < 50,
    )


# The Telegram load run before the query path left torch: 28 answers a second, which was
# already python-telegram-bot's pacing at Telegram's limit (30 messages a second).
LOAD_BEFORE_PER_S = 28


def _telegram_rows(t: dict, row: Callable[..., None]) -> None:
    if "skipped" in t:
        row("Telegram", f"skipped: {t['skipped']}", "", "", "", True)
        return
    p = t["process"]
    memory = f"{p['rss_mb']:.0f} / {p['peak_mb']:.0f} MB"
    row("Telegram bot memory (RSS / peak)", memory, "", "", "RSS ≤ 250 MB", p["rss_mb"] <= 250)
    for name, run in (("unpaced", t["unpaced"]), ("paced at 30/s", t["paced"])):
        intact = run["lost"] == run["duplicated"] == run["misdelivered"] == 0
        fast = run["throughput_per_s"] >= 2 * LOAD_BEFORE_PER_S if name == "unpaced" else True
        row(
            f"Telegram load, {run['sent']} questions, {name}",
            f"{run['throughput_per_s']:.0f}/s",
            f"{LOAD_BEFORE_PER_S}/s before",
            f"{run['throughput_per_s'] / LOAD_BEFORE_PER_S:.1f}",
            "≥ 2× before, none lost" if name == "unpaced" else "none lost",
            intact and fast,
        )


def _backends_table(backends: dict) -> Table:
    title = (
        f"Backends (passage vectors: cosine to torch's {backends['passage_cosine_mean']:.3f} "
        f"mean, {backends['passage_cosine_min']:.3f} min)"
    )
    table = _table(("backend", "build", "warm answer p50", "floor p50"), ("backend",), title)
    for b in backends["rows"]:
        table.add_row(
            b["backend"],
            f"{b['build_s']:.1f} s ({b['passages']} passages)",
            f"{b['answer_p50_ms']:.1f} ms",
            f"{b['floor_p50_ms']:.1f} ms",
        )
    return table


def _scale_table(rows: list[dict]) -> Table:
    title = "Scale (synthetic unit vectors, 384 dims, intrinsic dimension 48)"
    columns = ("vectors", "type", "build", "memory", "search p50", "recall@10")
    table = _table(columns, ("type",), title)
    for s in rows:
        table.add_row(
            f"{s['vectors']:,}",
            s["type"],
            f"{s['build_s']:.1f} s",
            f"{s['memory_mb']:.0f} MB",
            f"{s['search_p50_ms']:.2f} ms",
            f"{s['recall_at_10']:.3f}",
        )
    return table
