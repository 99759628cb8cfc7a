"""The README and docs/ stay honest: every `qabot …` command line they show names a real
command and only that command's options (checked against click's own objects), every
setting and `QABOT_*` variable they name exists, every config example loads, every relative
link and repository path points at something that is there, and the README stays a front
door (at most 250 lines). The settings table itself is checked in tests/test_config.py."""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
import yaml

from bot.cli.main import cli
from bot.config import Settings, TelegramSettings, load_settings
from tests.conftest import REPO

PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
README_MAX_LINES = 250

# Options documented before the code that adds them is merged, by command path. Each entry is
# used only while click does not know the option, so it expires by itself once it is merged;
# then delete it. (`--keep-demo`: the demo article kept beside the first documents added;
# the service has it, bot/service/index.py, the CLI flag is on its way.)
NOT_YET_IN_CLI: dict[tuple[str, ...], set[str]] = {}

# Repository paths the docs name that are not there on purpose.
ABSENT_ON_PURPOSE = ("bot/models/reader",)  # where a trained reader ships; none does yet


@dataclass(frozen=True)
class Page:
    """A Markdown page split into its fenced code blocks and the prose around them."""

    path: Path
    prose: str  # the text with every code block replaced by blank lines
    blocks: list[tuple[str, str]]  # (language, body)


_FENCE = re.compile(r"^(\s*)(```|~~~)\s*([\w-]*)")


def parse(path: Path, text: str | None = None) -> Page:
    text = path.read_text(encoding="utf-8") if text is None else text
    prose: list[str] = []
    blocks: list[tuple[str, str]] = []
    fence: str | None = None
    language, body = "", []
    for line in text.splitlines():
        match = _FENCE.match(line)
        if fence is None and match:
            fence, language, body = match.group(2), match.group(3), []
            prose.append("")
        elif fence is not None and line.strip().startswith(fence) and not line.strip(fence + " "):
            blocks.append((language, "\n".join(body)))
            fence = None
            prose.append("")
        elif fence is not None:
            body.append(line)
            prose.append("")
        else:
            prose.append(line)
    return Page(path, "\n".join(prose), blocks)


def inline_code(page: Page) -> Iterator[str]:
    """The page's inline code spans, white space (line breaks too) made single spaces and a
    table's escaped `\\|` made `|`."""
    for match in re.finditer(r"`([^`]+)`", page.prose):
        yield " ".join(match.group(1).replace("\\|", "|").split())


# --- qabot command lines ---------------------------------------------------------------------

_SHELL = {"sh", "bash", "shell", "console"}
_PATH_QABOT = re.compile(r"(?:^|\s)\S*/bin/qabot(?=\s|$)")


def command_lines(page: Page) -> Iterator[str]:
    """Every `qabot …` invocation the page shows: after a `$ ` prompt in any code block; in a
    shell block, a line that runs `qabot` or `…/bin/qabot` (continued lines joined); and an
    inline code span that starts with `qabot `. Each is returned from `qabot` on."""
    for language, body in page.blocks:
        for line in body.replace("\\\n", " ").splitlines():
            line = line.split(" #", 1)[0].strip()  # without a shell comment
            if line.startswith("$ "):
                line = line[2:].strip()
            elif language not in _SHELL:
                continue
            found = _PATH_QABOT.search(line)
            if found:
                yield "qabot" + line[found.end() :]
            elif line.startswith("qabot "):
                yield line
    for span in inline_code(page):
        if span.startswith("qabot "):
            yield span


def _tokens(line: str) -> list[str]:
    try:
        words = shlex.split(line, comments=True)
    except ValueError:  # an apostrophe outside quotes
        words = line.split()
    tokens = []
    for word in words:
        word = word.strip("[]").removesuffix("…").removesuffix("...").strip("[]")
        if word and word not in {"|", "…", "..."}:
            tokens.append(word)
    return tokens


def _option(command: click.Command, name: str) -> click.Option | None:
    for param in command.params:
        if isinstance(param, click.Option) and name in (*param.opts, *param.secondary_opts):
            return param
    return None


def problem(line: str) -> str | None:
    """What is wrong with one `qabot …` line, or None: every word that is not an option
    must name a subcommand until a command is reached, and every option must be one of the
    command reached so far (global options go before the subcommand), as click parses it."""
    tokens = _tokens(line)
    assert tokens and tokens[0] == "qabot", line
    command: click.Command = cli
    path: list[str] = []
    words = iter(tokens[1:])
    for word in words:
        if word == "--":
            break
        if word.startswith("-") and len(word) > 1:
            name = word.split("=", 1)[0]
            if name in ("-h", "--help"):
                continue
            option = _option(command, name)
            if option is None:
                if name in NOT_YET_IN_CLI.get(tuple(path), ()):
                    continue
                return f"`qabot {' '.join(path)}` has no option {name} (in: {line})"
            if not (option.is_flag or option.count) and "=" not in word:
                next(words, None)  # its value
            continue
        if isinstance(command, click.Group):
            if word.isupper():  # a placeholder such as COMMAND: any command
                return None
            sub = command.commands.get(word)
            if sub is None:
                return f"`qabot {' '.join(path)}` has no command {word!r} (in: {line})"
            command = sub
            path.append(word)
        # else: an argument of the command reached
    return None


def all_command_lines() -> list[tuple[str, str]]:
    return [
        (page.name, line)
        for page in PAGES
        for line in dict.fromkeys(command_lines(parse(page)))  # each once, in order
    ]


@pytest.mark.parametrize(("page", "line"), all_command_lines())
def test_every_command_line_shown_is_one_qabot_accepts(page, line):
    assert problem(line) is None, f"{page}: {problem(line)}"


def test_the_command_lines_are_found_where_they_are_shown():
    """The extraction itself works: prompts, shell blocks with a path to qabot, inline spans."""
    found = {line for _page, line in all_command_lines()}
    assert len(found) > 40
    assert 'qabot ask "How big is Japan\'s trade surplus with the US?"' in found  # after `$ `
    assert "qabot telegram --check" in found  # `/opt/qabot/.venv/bin/qabot telegram --check`
    assert any(line.startswith("qabot index rebuild") for line in found)
    assert any(line.startswith("qabot eval eval/corpus.yaml --split dev") for line in found)


@pytest.mark.parametrize(
    "line",
    [
        "qabot ask --made-up QUESTION",  # no such option
        "qabot index purge",  # no such command
        "qabot telegarm --check",
        "qabot --nope ask QUESTION",  # no such global option
        "qabot repl --doc NAME",  # an option of another command (ask)
        "qabot index rebuild --config FILE",  # a global option after the command
        "qabot index list --keep-demo",  # the pending option belongs to index add only
    ],
)
def test_a_made_up_command_or_option_is_caught(line):
    assert problem(line) is not None


@pytest.mark.parametrize(
    "line",
    [
        "qabot --index-dir /tmp/i index add a.md b.md",
        "qabot --config=qabot.yaml ask --top-k 3 --doc pyenv.md QUESTION",
        "qabot telegram -v --mode webhook",
        "qabot eval FILE [--json] [--split S] [--among FOLDER]",
        "qabot ask -- -5 degrees?",
        "qabot COMMAND --help",
    ],
)
def test_a_real_command_line_passes(line):
    assert problem(line) is None


def test_a_page_with_a_made_up_option_fails(tmp_path):
    """The whole path, from a page's text to the check, catches what a writer could invent."""
    text = (
        "Run `qabot index purge` first.\n\n"
        '```text\n$ qabot ask --made-up "Why?"\nThe document doesn\'t say.\n```\n\n'
        "```sh\nsudo -u qabot -H /opt/qabot/.venv/bin/qabot telegram --health --quiet\n```\n"
    )
    lines = list(command_lines(parse(tmp_path / "page.md", text)))
    assert lines == [
        'qabot ask --made-up "Why?"',
        "qabot telegram --health --quiet",
        "qabot index purge",
    ]
    assert all(problem(line) for line in lines)


# --- settings ----------------------------------------------------------------------------------


def _env_names() -> set[str]:
    names = {"QABOT_CONFIG"}
    names |= {f"QABOT_{name.upper()}" for name in Settings.model_fields if name != "telegram"}
    names |= {f"QABOT_TELEGRAM_{name.upper()}" for name in TelegramSettings.model_fields}
    return names


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_setting_and_variable_named_is_real(page):
    text = page.read_text(encoding="utf-8")
    # QABOT_<NAME> and QABOT_TELEGRAM_<NAME> are placeholders, not names.
    variables = set(re.findall(r"QABOT_[A-Z0-9_]+(?![A-Za-z0-9_<])", text))
    assert variables <= _env_names(), variables - _env_names()
    named = {
        span.split()[0].split("`")[0].rstrip(".,:;)")
        for span in inline_code(parse(page))
        if span.startswith("telegram.")
    }
    telegram = {f"telegram.{name}" for name in TelegramSettings.model_fields}
    assert named <= telegram, named - telegram


def _config_examples() -> Iterator[tuple[str, str]]:
    for page in PAGES:
        for language, body in parse(page).blocks:
            if language not in {"yaml", "yml"}:
                continue
            data = yaml.safe_load(body)
            if isinstance(data, dict) and not {"questions", "document", "turns"} & set(data):
                yield page.name, body  # a config file, not a QA set


@pytest.mark.parametrize(("page", "body"), list(_config_examples()))
def test_every_config_example_loads(page, body, tmp_path, monkeypatch):
    for name in list(os.environ):
        if name.startswith("QABOT_") or name.startswith("TELEGRAM_"):
            monkeypatch.delenv(name)
    example = tmp_path / "qabot.yaml"
    example.write_text(body, encoding="utf-8")
    load_settings(example)  # a ConfigError names what is wrong


def test_config_examples_are_found():
    assert len(list(_config_examples())) >= 3


# --- links and paths -----------------------------------------------------------------------------


def _anchor(heading: str) -> str:
    """GitHub's id for a heading: lower case, punctuation dropped, spaces made hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    prose = parse(path).prose
    return {_anchor(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.+?)\s*$", prose, re.M)}


def _links(page: Path) -> Iterator[str]:
    for match in re.finditer(r"\]\(([^)\s]+)\)", parse(page).prose):
        target = match.group(1)
        if not re.match(r"[a-z][a-z0-9+.-]*:", target):  # not https:, mailto:, …
            yield target


def broken_links(page: Path) -> list[str]:
    """The page's relative links to a file that is not there, or to a heading that is not."""
    broken = []
    for target in _links(page):
        file, _, anchor = target.partition("#")
        where = (page.parent / file).resolve() if file else page
        if not where.exists():
            broken.append(f"{target}: no such file")
        elif anchor and where.suffix == ".md" and anchor not in _anchors(where):
            broken.append(f"{target}: no such heading")
    return broken


@pytest.mark.parametrize("page", [*PAGES, REPO / "ARCHITECTURE.md"], ids=lambda p: p.name)
def test_every_relative_link_points_at_a_file_and_heading_that_exist(page):
    assert broken_links(page) == []


def test_a_broken_link_is_caught(tmp_path):
    (tmp_path / "there.md").write_text("# There\n\n## A section\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](there.md#a-section), [no file](gone.md), [no heading](there.md#elsewhere), "
        "[web](https://example.org/x.md), [here](#nowhere)\n\n```text\n[code](not-a-link.md)\n```\n"
    )
    assert broken_links(page) == [
        "gone.md: no such file",
        "there.md#elsewhere: no such heading",
        "#nowhere: no such heading",
    ]
    assert "docs/settings.md" in set(_links(REPO / "README.md"))
    assert _anchor("`qabot bench`") == "qabot-bench"
    assert _anchor("3. The index") == "3-the-index"
    assert _anchor("The answer selector (opt-in)") == "the-answer-selector-opt-in"


_REPO_PATH = re.compile(r"(?:bot|tests|deploy|eval|docs|\.ci)/[\w./-]*(?:::\w+)?")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_repository_path_named_is_there(page):
    """`bot/…`, `tests/…` and the like in inline code exist; `file.py::test_x` names a test
    that file defines."""
    for span in inline_code(parse(page)):
        for name in span.split(", "):
            if not _REPO_PATH.fullmatch(name) or name.startswith(ABSENT_ON_PURPOSE):
                continue
            file, _, function = name.partition("::")
            assert (REPO / file).exists(), f"{page.name}: {name} is not there"
            if function:
                source = (REPO / file).read_text(encoding="utf-8")
                assert f"def {function}(" in source, f"{page.name}: {name} is not there"


# --- the front door ------------------------------------------------------------------------------


def test_the_readme_is_a_front_door():
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"{len(lines)} lines: move the details to docs/"


def test_the_readme_keeps_its_test_command_and_links_every_page():
    """.ci/run runs `make test`, the README's test command; every docs page is one link away."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "make run" in readme and "make test" in readme
    assert "make test" in (REPO / ".ci" / "run").read_text(encoding="utf-8")
    linked = {target.partition("#")[0] for target in _links(REPO / "README.md")}
    for page in PAGES[1:]:
        assert f"docs/{page.name}" in linked, page.name
