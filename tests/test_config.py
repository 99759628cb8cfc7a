"""Any value in a config file is either a setting qabot can work with or a one-line error
naming it: never a traceback, a number read from `true`, or chunks smaller than their minimum."""

from __future__ import annotations

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.config import Settings, TelegramSettings, load_settings
from bot.core.errors import ConfigError

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
