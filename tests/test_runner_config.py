"""Harness configs are validated on load, and errors name the file, the key and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from medlc.runner.config import ConfigError, load_config, packaged_config, parse_config

MINIMAL = """
roster:
  - name: tiny
    kind: general
    pretrained: /models/tiny
tasks: [medlc_closedbook]
"""


def parse(text: str, overrides: tuple[str, ...] = ()):
    return parse_config(Path("cfg.yaml"), text, overrides)


@pytest.mark.parametrize("name", ["default", "ci_regression"])  # study files: test_study_config.py
def test_every_shipped_config_validates(name):
    config = load_config(packaged_config(name))
    assert config.roster and config.tasks


def test_defaults_fill_unwritten_settings():
    settings = parse(MINIMAL).settings
    written = (settings.backend, settings.batch_size, settings.limit, settings.apply_chat_template)
    assert written == ("medlc-hf", 1, None, False)


def test_unknown_kind_names_file_key_and_choices():
    expected = (
        r"cfg\.yaml: roster\[0\]\.kind: "
        r"expected one of \['general', 'medical', 'mixture', 'baseline'\], got 'base'"
    )
    with pytest.raises(ConfigError, match=expected):
        parse(MINIMAL.replace("kind: general", "kind: base"))


def test_misspelt_setting_is_rejected_not_ignored():
    with pytest.raises(ConfigError, match=r"settings\.limt.*unknown"):
        parse(MINIMAL + "settings: {limt: 5}\n")


def test_boolean_is_not_accepted_as_a_limit():
    expected = r"settings\.limit: expected a positive count or a fraction in \(0, 1\], got True"
    with pytest.raises(ConfigError, match=expected):
        parse(MINIMAL + "settings: {limit: true}\n")


def test_fractional_limit_above_one_is_rejected():
    with pytest.raises(ConfigError, match=r"settings\.limit"):
        parse(MINIMAL + "settings: {limit: 1.5}\n")


def test_model_needs_pretrained_or_checkpoints():
    with pytest.raises(ConfigError, match=r"roster\[0\]\.pretrained: expected a model"):
        parse(MINIMAL.replace("    pretrained: /models/tiny\n", ""))


def test_checkpoint_glob_must_be_kind_mixture():
    text = MINIMAL.replace("pretrained: /models/tiny", "checkpoints: runs/*/adapter")
    with pytest.raises(ConfigError, match=r"roster\[0\]\.kind: expected 'mixture'"):
        parse(text)


def test_pretrained_inside_model_args_is_refused():
    with pytest.raises(ConfigError, match=r"roster\[0\]\.model_args\.pretrained"):
        parse(
            MINIMAL.replace(
                "    pretrained: /models/tiny\n",
                "    pretrained: /models/tiny\n    model_args: {pretrained: x}\n",
            )
        )


def test_duplicate_display_names_are_refused():
    text = MINIMAL.replace("tasks:", "  - name: tiny\n    kind: medical\n    pretrained: /m/other\ntasks:")
    with pytest.raises(ConfigError, match=r"roster\[1\]\.name: expected a unique display name"):
        parse(text)


def test_empty_task_list_is_refused():
    with pytest.raises(ConfigError, match=r"cfg\.yaml: tasks: expected a non-empty list"):
        parse(MINIMAL.replace("[medlc_closedbook]", "[]"))


def test_set_override_edits_a_nested_key():
    config = parse(MINIMAL, ("settings.limit=50", "roster.0.pretrained=/models/other"))
    assert config.settings.limit == 50
    assert config.roster[0].pretrained == "/models/other"


def test_override_changes_the_recorded_config_hash():
    assert parse(MINIMAL).sha256 != parse(MINIMAL, ("settings.limit=50",)).sha256


def test_override_of_missing_list_index_names_the_key():
    with pytest.raises(ConfigError, match=r"--set roster\.3: expected a list index below 1"):
        parse(MINIMAL, ("roster.3.pretrained=x",))


def test_yaml_syntax_error_names_the_file():
    with pytest.raises(ConfigError, match=r"cfg\.yaml: not valid YAML"):
        parse("roster: [\n")
