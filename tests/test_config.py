"""Any value in a config file is either a setting qabot can work with or a one-line error
naming it: never a traceback, a number read from `true`, or chunks smaller than their minimum."""

from __future__ import annotations

import dataclasses
import os
import re
import resource
import subprocess
import sys

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.config import Settings, TelegramSettings, load_settings
from bot.config_file import MAX_CONFIG_BYTES
from bot.core.errors import ConfigError
from bot.core.settings import SETTINGS_CLASSES, user_settings
from bot.service.mapping import core_settings
from tests.conftest import REPO

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3), max_leaves=5)
NUMBERS = [
    name
    for name, field in Settings.model_fields.items()
    if field.annotation in (int, float, float | None, "int", "float", "float | None")
]


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    values=st.dictionaries(
        st.sampled_from([*sorted(Settings.model_fields), "unknown_thing"]), VALUES, max_size=4
    ),
    telegram=st.dictionaries(
        st.sampled_from(sorted(TelegramSettings.model_fields)), VALUES, max_size=3
    ),
)
def test_any_config_file_loads_or_says_what_is_wrong(tmp_path, values, telegram):
    if telegram:
        values = {**values, "telegram": telegram}
    path = tmp_path / "qabot.yaml"
    path.write_text(yaml.safe_dump(values), encoding="utf-8")
    try:
        loaded = load_settings(path)
    except ConfigError as exc:
        message = str(exc)
        assert "\n" not in message and message.startswith("bad setting")
        return
    for name in NUMBERS:
        assert not isinstance(getattr(loaded, name), bool), name
    assert loaded.min_chunk_tokens <= loaded.max_chunk_tokens


def test_true_is_not_a_number_and_sizes_must_agree(tmp_path):
    path = tmp_path / "qabot.yaml"
    for text, expected in (
        ("top_k: true\n", "bad setting 'top_k': must be a number, not true or false"),
        ("min_chunk_tokens: 300\nmax_chunk_tokens: 100\n", "min_chunk_tokens (300) must not"),
    ):
        path.write_text(text, encoding="utf-8")
        try:
            load_settings(path)
        except ConfigError as exc:
            assert expected in str(exc)
        else:
            raise AssertionError(f"{text!r} was accepted")


# --- files that are not a page of settings -------------------------------------------------

MEMORY_LIMIT = 2 * 2**30  # the address space a qabot that reads a config file needs, and more


def _fifo(tmp_path):
    os.mkfifo(tmp_path / "pipe.yaml")  # nobody writes: opening it would wait forever
    return tmp_path / "pipe.yaml"


def _huge(tmp_path):
    path = tmp_path / "huge.yaml"
    with open(path, "wb") as fh:
        fh.truncate(3 * 2**30 // 2)  # 1.5 GB, sparse: no disk, and over the memory limit
    return path


def _deep(tmp_path):
    path = tmp_path / "deep.yaml"
    path.write_text("[" * 50_000, encoding="utf-8")
    return path


@pytest.mark.parametrize("given", ["--config", "QABOT_CONFIG"])
@pytest.mark.parametrize(
    ("kind", "make", "reason"),
    [
        ("fifo", _fifo, "not a regular file"),
        ("device", lambda _t: "/dev/zero", "not a regular file"),
        ("too large", _huge, f"is over the {MAX_CONFIG_BYTES // 2**20} MB limit"),
        ("deep", _deep, "nested too deeply"),
    ],
)
def test_a_config_that_is_no_page_of_settings_is_refused_before_it_is_read(
    tmp_path, given, kind, make, reason
):
    """Never read whole, never waited on: one line and exit 1, in a process whose memory is
    bounded (reading /dev/zero to its end would exhaust any) and whose time is."""
    path = str(make(tmp_path))
    args, env = ["ask", "x"], dict(os.environ)
    if given == "--config":
        args = ["--config", path, *args]
    else:
        env["QABOT_CONFIG"] = path
    result = subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT)),
    )
    lines = result.stderr.splitlines()
    assert result.returncode == 1, result.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith(f"error: config file {path}: "), lines
    assert reason in lines[0]
    assert "Traceback" not in result.stderr and "unexpected" not in result.stderr


def test_a_config_file_of_the_most_settings_allowed_is_read(tmp_path):
    path = tmp_path / "qabot.yaml"
    text = "top_k: 7\n"
    path.write_text(text + "#" * (MAX_CONFIG_BYTES - len(text) - 1) + "\n", encoding="utf-8")
    assert path.stat().st_size == MAX_CONFIG_BYTES
    assert load_settings(path).top_k == 7
    path.write_text(path.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="over the 1 MB limit"):
        load_settings(path)


def test_a_misspelt_setting_is_named_with_the_one_meant(tmp_path):
    path = tmp_path / "qabot.yaml"
    for text, expected in (
        ("topk: 3\n", "bad setting 'topk': unknown setting, did you mean 'top_k'?"),
        ("telegram:\n  alowed_users: [1]\n", "did you mean 'allowed_users'?"),
    ):
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigError, match=re.escape(expected)):
            load_settings(path)


# --- one definition per setting ------------------------------------------------------------


def test_the_core_settings_are_settings_and_mapped_back_by_name():
    """Each field of the core's classes marked setting(...) is a setting with the core's
    default, and bot.service builds the class back from it by name, not by position."""
    for cls in SETTINGS_CLASSES:
        for name, field in user_settings(cls).items():
            assert Settings.model_fields[name].default == field.default, name
            marker = object()  # not a valid value: only where it lands matters here
            built = core_settings(cls, Settings.model_construct(**{name: marker}))
            assert getattr(built, field.name) is marker, name
            others = [f.name for f in dataclasses.fields(cls) if f.name != field.name]
            assert all(getattr(built, other) is not marker for other in others), name


def _settings():
    """(name as documented, default) of every setting, the `telegram:` ones included."""
    for name, field in Settings.model_fields.items():
        if name != "telegram":
            yield name, field.get_default(call_default_factory=True)
    for name, field in TelegramSettings.model_fields.items():
        yield f"telegram.{name}", field.get_default(call_default_factory=True)


def _shown(default) -> str:
    """A default as docs/settings.md's table writes it."""
    if isinstance(default, bool):
        return str(default).lower()
    if isinstance(default, int | float):
        return f"{default:g}"
    return f"`{default}`"


def test_the_settings_table_names_every_setting_with_its_default():
    page = (REPO / "docs" / "settings.md").read_text(encoding="utf-8")
    lines = page.split("\n| setting | default | meaning |\n", 1)[1].split("\n\n", 1)[0]
    rows = [line.split(" | ") for line in lines.splitlines() if line.startswith("| `")]
    table: dict[str, str] = {}
    for names, defaults, _meaning in rows:
        names = re.findall(r"`([^`]+)`", names)
        shown = defaults.split(" / ") if len(names) > 1 and " / " in defaults else [defaults]
        table.update(zip(names, shown * len(names) if len(shown) == 1 else shown, strict=True))
    settings = dict(_settings())
    assert set(table) == set(settings), set(table) ^ set(settings)
    for name, default in settings.items():
        if default is None:  # unset: the row says what that means
            continue
        if default == []:
            assert table[name].startswith("empty"), name
        else:
            assert table[name] == _shown(default), name


def test_the_example_config_shows_every_setting_at_its_default():
    text = (REPO / "config.example.yaml").read_text(encoding="utf-8")
    example = yaml.safe_load(text)
    written = {f"telegram.{k}": v for k, v in example.pop("telegram").items()} | example
    settings = dict(_settings())
    assert set(written) <= set(settings), set(written) - set(settings)
    for name, default in settings.items():
        key = name.removeprefix("telegram.")
        if default is None:  # unset: shown as a commented-out example
            assert name not in written and re.search(rf"^\s*# {key}:", text, re.M), name
        else:
            assert written.get(name) == (str(default) if name == "index_dir" else default), name
