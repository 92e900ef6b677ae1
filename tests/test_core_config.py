"""The one YAML-to-dataclass reader: a schema written as dataclasses, errors that name the
file, the key path and what was expected, and `--set` edits checked like written values."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import pytest

from medlc_core.config import (
    NOT_IN_FILE,
    ConfigError,
    apply_sets,
    build,
    describe,
    expect,
    parse_yaml,
    read_yaml,
)
from medlc_core.errors import UserError


@dataclass
class Inner:
    size: int
    mode: Literal["fast", "slow", "no"] = "fast"


@dataclass
class Outer:
    name: str
    inner: Inner
    items: list[Inner] = field(default_factory=list)
    tags: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)
    rate: float = 0.1
    limit: int | float | None = field(default=None, metadata=expect("a count or a fraction"))
    where: str = field(default="", metadata=NOT_IN_FILE)


def test_nested_mappings_lists_and_tuples_become_dataclasses():
    built = build(
        Outer,
        {"name": "x", "inner": {"size": 2}, "items": [{"size": 3, "mode": "slow"}], "tags": ["a", "b"]},
        "f.yaml",
    )
    assert built == Outer("x", Inner(2), [Inner(3, "slow")], ("a", "b"))


def test_wrong_type_in_a_list_item_names_its_index():
    with pytest.raises(ConfigError, match=r"^f\.yaml: items\[1\]\.size: expected an integer, got 'big'$"):
        build(Outer, {"name": "x", "inner": {"size": 1}, "items": [{"size": 1}, {"size": "big"}]}, "f.yaml")


def test_unknown_key_is_refused_with_the_allowed_keys():
    expected = r"^f\.yaml: inner\.sise: unknown key; expected one of \['mode', 'size'\]$"
    with pytest.raises(ConfigError, match=expected):
        build(Outer, {"name": "x", "inner": {"sise": 1}}, "f.yaml")


def test_missing_required_key_says_what_it_takes():
    with pytest.raises(ConfigError, match=r"^f\.yaml: inner\.size: missing; expected an integer$"):
        build(Outer, {"name": "x", "inner": {}}, "f.yaml")


def test_choice_error_lists_the_choices():
    expected = r"inner\.mode: expected one of \['fast', 'slow', 'no'\], got 'quick'"
    with pytest.raises(ConfigError, match=expected):
        build(Outer, {"name": "x", "inner": {"size": 1, "mode": "quick"}}, "f.yaml")


def test_a_field_can_say_in_words_what_it_expects():
    with pytest.raises(ConfigError, match=r"limit: expected a count or a fraction, got 'all'"):
        build(Outer, {"name": "x", "inner": {"size": 1}, "limit": "all"}, "f.yaml")


def test_true_is_not_a_number():
    with pytest.raises(ConfigError, match=r"inner\.size: expected an integer, got True"):
        build(Outer, {"name": "x", "inner": {"size": True}}, "f.yaml")


def test_scientific_notation_string_is_a_float():
    # PyYAML reads `1e-4` as a string; a learning rate is commonly written that way.
    data = parse_yaml("{name: x, inner: {size: 1}, rate: 1e-4}", "f.yaml")
    assert build(Outer, data, "f.yaml").rate == 1e-4


def test_bare_yaml_no_is_the_choice_no():
    data = parse_yaml("{name: x, inner: {size: 1, mode: no}}", "f.yaml")
    assert build(Outer, data, "f.yaml").inner.mode == "no"


def test_fields_not_in_the_file_are_refused_there_and_passed_by_the_loader():
    with pytest.raises(ConfigError, match=r"where: unknown key"):
        build(Outer, {"name": "x", "inner": {"size": 1}, "where": "y"}, "f.yaml")
    assert build(Outer, {"name": "x", "inner": {"size": 1}}, "f.yaml", where="y").where == "y"


def test_top_level_that_is_not_a_mapping_is_refused():
    with pytest.raises(ConfigError, match=r"^f\.yaml: \(top level\): expected a mapping with keys \["):
        build(Outer, ["a"], "f.yaml")


def test_describe_reads_a_type_hint_in_words():
    assert describe(list[int]) == "a list of an integer"
    assert describe(str | None) == "a string or null"


def test_set_edits_nested_keys_and_list_items_with_yaml_values():
    data = apply_sets(
        {"inner": {"size": 1}, "items": [{"size": 1}]},
        ["inner.size=5", "items.0.mode=slow", "tags=[a, b]", "new.key=null"],
        "f.yaml",
    )
    assert data == {
        "inner": {"size": 5},
        "items": [{"size": 1, "mode": "slow"}],
        "tags": ["a", "b"],
        "new": {"key": None},
    }


def test_set_value_is_validated_like_a_written_one():
    data = apply_sets({"name": "x", "inner": {"size": 1}}, ["inner.size=big"], "f.yaml")
    with pytest.raises(ConfigError, match=r"f\.yaml: inner\.size: expected an integer, got 'big'"):
        build(Outer, data, "f.yaml")


def test_set_past_the_end_of_a_list_names_the_key():
    with pytest.raises(ConfigError, match=r"^f\.yaml: --set items\.3: expected a list index below 1$"):
        apply_sets({"items": [{}]}, ["items.3.size=1"], "f.yaml")


def test_set_into_a_scalar_names_it():
    with pytest.raises(ConfigError, match=r"--set name\.first: name is 'x', not a mapping or list"):
        apply_sets({"name": "x"}, ["name.first=y"], "f.yaml")


def test_set_without_equals_sign_is_explained():
    with pytest.raises(ConfigError, match=r"--set 'inner\.size': expected KEY=VALUE"):
        apply_sets({}, ["inner.size"], "f.yaml")


def test_yaml_syntax_error_is_one_line_with_its_position():
    with pytest.raises(ConfigError) as err:
        parse_yaml("a: [1,\nb: 2\n", "f.yaml")
    assert "\n" not in str(err.value)
    assert str(err.value).startswith("f.yaml: not valid YAML at line ")


def test_missing_file_is_a_user_error_naming_it(tmp_path):
    with pytest.raises(UserError, match=r"nope\.yaml: no such sweep file"):
        read_yaml(tmp_path / "nope.yaml", "sweep file")


def test_non_utf8_file_is_refused(tmp_path):
    path = tmp_path / "gbk.yaml"
    path.write_bytes("名字: 甲\n".encode("gb18030"))
    with pytest.raises(ConfigError, match=r"gbk\.yaml: expected UTF-8 text"):
        read_yaml(path)
