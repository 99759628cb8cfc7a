"""The `qabot` command: the group and its global options, ask, repl and telegram; the other
commands are in their own modules (index, eval, train and bench).

Heavy libraries (torch, sentence-transformers, faiss, python-telegram-bot) load only inside
the commands that need them, so `qabot --help` and `qabot index status` answer at once.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from bot import __version__
from bot.cli.common import (
    DEMO_HINT,
    State,
    index_dir_option,
    notice,
    open_service,
    stderr_console,
    stdout_console,
)
from bot.cli.evaluate import eval_command
from bot.cli.index import index
from bot.cli.safe import echo, echo_json
from bot.cli.tools import bench, train
from bot.core.errors import ConfigError, QABotError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    help="YAML config file [env QABOT_CONFIG; default ./qabot.yaml if present].",
)
@index_dir_option
@click.option("--model", help="Embedding model: a name or a local path [env QABOT_MODEL].")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.version_option(__version__, prog_name="qabot")
@click.pass_context
def cli(
    ctx: click.Context, config: Path | None, index_dir: Path | None, model: str | None, debug: bool
) -> None:
    """Ask questions about a document; get short answers with numbered citations.

    With no index yet, the first question builds one from the bundled news article.
    """
    ctx.obj = State(config, index_dir, model)


@cli.command()
@click.argument("question")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--top-k", type=click.IntRange(1, 100), help="Passages to retrieve.")
@click.option(
    "--explain", is_flag=True, help="Show the passages found, their scores, and why it answered."
)
@click.option(
    "--timings", is_flag=True, help="Show where the time went (stderr): load, encode, search…"
)
@click.option("--doc", "document", help="Search only this document (a name from index list).")
@index_dir_option
@click.pass_obj
def ask(
    state: State,
    question: str,
    as_json: bool,
    top_k: int | None,
    explain: bool,
    timings: bool,
    document: str | None,
    index_dir: Path | None,
) -> None:
    """Answer one QUESTION and exit."""
    import time

    from bot.cli.render import answer_json, render_answer, render_explain

    started = time.perf_counter()
    service = open_service(state.settings(top_k=top_k, index_dir=index_dir or state.index_dir))
    loaded = time.perf_counter()
    answer = service.ask(question, document=document)
    spent = {"load": (loaded - started) * 1000, **answer.timings_ms}
    rendering = time.perf_counter()
    if as_json:
        echo_json(answer_json(answer, explain=explain))
    else:
        console = stdout_console()
        render_answer(console, answer)
        if explain:
            console.print()
            render_explain(console, answer)
        if service.demo_only:  # asked before adding anything: say where the answer is from
            notice(stderr_console())(f"Answered from {DEMO_HINT}")
    spent["render"] = (time.perf_counter() - rendering) * 1000
    if timings or explain:
        names = {"load": "load", "embed": "encode", "search": "search", "select": "select"}
        names["render"] = "render"
        parts = ", ".join(f"{label} {spent[key]:.1f} ms" for key, label in names.items())
        echo(f"timings: {parts}", err=True)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Piped input only: one JSON object a line.")
@click.option("--top-k", type=click.IntRange(1, 100), help="Passages to retrieve.")
@index_dir_option
@click.pass_obj
def repl(state: State, as_json: bool, top_k: int | None, index_dir: Path | None) -> None:
    """Ask questions in a loop; follow-up questions use the conversation so far.

    On a terminal: a prompt with line editing and history (:help lists the commands).
    Piped: one question per line, one answer each (a line ':reset' starts over).
    """
    from bot.cli import repl as repl_module

    service = open_service(state.settings(top_k=top_k, index_dir=index_dir or state.index_dir))
    if sys.stdin.isatty() and not as_json:
        repl_module.interactive(service, stdout_console())
    else:
        repl_module.piped(service, sys.stdin, stdout_console(), as_json)


@cli.command()
@click.option(
    "--mode",
    type=click.Choice(["polling", "webhook"]),
    help="How updates arrive [env QABOT_TELEGRAM_MODE; default polling].",
)
@click.option("-v", "--verbose", is_flag=True, help="Debug log lines (secrets stay redacted).")
@click.option(
    "--check",
    is_flag=True,
    help="Check the settings, the token (getMe) and the index, print one line, exit 0 or 1.",
)
@click.option(
    "--health",
    is_flag=True,
    help="Exit 0 if the running bot's health file (telegram.health_file) is fresh, else 1.",
)
@click.pass_obj
def telegram(state: State, mode: str | None, verbose: bool, check: bool, health: bool) -> None:
    """Run the Telegram bot until Ctrl-C or SIGTERM.

    The token comes from TELEGRAM_BOT_TOKEN (or telegram.token in the config file); the
    README tells how to get one from @BotFather.
    """
    if check and health:
        raise click.UsageError("--check and --health are two different checks: give one")
    settings = state.settings(**({"telegram": {"mode": mode}} if mode else {}))
    from bot.telegram.redact import protect

    tg = settings.telegram
    protect(s.get_secret_value() if s else None for s in (tg.token, tg.secret_token))
    if health:
        from bot.telegram.health import check_health  # no python-telegram-bot: it is quick

        if settings.telegram.health_file is None:
            raise ConfigError("telegram.health_file is not set: there is no health file to check")
        echo(check_health(settings.telegram.health_file))
        return
    if check:
        from bot.telegram.check import check as check_bot

        echo(check_bot(settings))
        return
    from bot.telegram.app import serve  # python-telegram-bot loads only for this command

    serve(settings, open_service, verbose)


cli.add_command(index)
cli.add_command(eval_command)
cli.add_command(train)
cli.add_command(bench)


def main(argv: list[str] | None = None) -> None:
    """Entry point: one-line errors and exit codes instead of tracebacks (unless --debug)."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args or os.environ.get("QABOT_DEBUG") == "1"
    try:
        cli.main(args, prog_name="qabot", standalone_mode=False)
    except click.exceptions.Abort:
        echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        if debug:
            raise
        exc.show()
        if isinstance(exc, click.NoSuchOption) and "ask" in args:
            # `qabot ask "-v or -h?"`: the question was read as an option.
            echo(
                'A question that starts with "-" goes after --: qabot ask -- "-v or -h?"', err=True
            )
        sys.exit(exc.exit_code)
    except QABotError as exc:
        if debug:
            raise
        echo(f"error: {exc}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        echo("Interrupted.", err=True)
        sys.exit(130)
    except BrokenPipeError:
        # A reader that stopped early (`| head`) is not an error worth a traceback.
        sys.stderr.close()
        sys.exit(1)
    except Exception as exc:
        if debug:
            raise
        echo(
            f"error: unexpected {type(exc).__name__}: {exc} (run with --debug for details)",
            err=True,
        )
        sys.exit(1)
    sys.exit(0)
