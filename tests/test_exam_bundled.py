"""The bundled exam: built once into the cache, valid, and as large and varied as promised."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from medlc_tasks.exam.bundled import BUNDLED_SOURCE_DIR, bundled_exam_dir, resolve_exam_dir
from medlc_tasks.exam.store import ExamDirError, read_manifest
from medlc_tasks.exam.validate import validate_exam

FIXTURES = Path(__file__).parent / "fixtures"
SMALL = {"s": 500, "m": 1000}


@pytest.fixture(scope="module")
def bundled(tmp_path_factory) -> Path:
    """The real bundled exam, all six buckets, built into a private cache."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MEDLC_CACHE", str(tmp_path_factory.mktemp("cache")))
        return bundled_exam_dir()


@pytest.fixture
def fake_sources(tmp_path) -> Path:
    """A stand-in bundled source directory made of the small test fixtures."""
    source = tmp_path / "bundled"
    source.mkdir()
    shutil.copy(FIXTURES / "exam_items.jsonl", source / "items_test.jsonl")
    shutil.copy(FIXTURES / "exam_reference.txt", source / "reference_test.txt")
    return source


def test_bundled_exam_validates_with_zero_problems(bundled):
    assert validate_exam(bundled) == []


def test_bundled_exam_has_at_least_200_items(bundled):
    assert read_manifest(bundled)["counts"]["items_kept"] >= 200


def test_bundled_exam_spans_at_least_8_departments(bundled):
    assert len(read_manifest(bundled)["counts"]["departments"]) >= 8


def test_bundled_exam_is_at_least_a_quarter_counterfactual(bundled):
    counts = read_manifest(bundled)["counts"]
    assert counts["counterfactual"] >= 0.25 * counts["items_kept"]


def test_bundled_exam_loses_no_item_and_every_item_has_its_own_evidence(bundled):
    counts = read_manifest(bundled)["counts"]
    assert counts["items_read"] == counts["items_kept"]
    assert counts["evidence_from_reference"] == 0


def test_bundled_sources_ship_inside_the_package():
    assert BUNDLED_SOURCE_DIR.parts[-3:] == ("medlc_tasks", "data", "bundled")
    assert sorted(BUNDLED_SOURCE_DIR.glob("items_*.jsonl"))


def test_bundled_exam_is_built_once_and_then_reused(fake_sources, tmp_path, monkeypatch):
    monkeypatch.setenv("MEDLC_CACHE", str(tmp_path / "cache"))
    first = bundled_exam_dir(SMALL, fake_sources)
    stamp = (first / "manifest.json").stat().st_mtime_ns
    assert bundled_exam_dir(SMALL, fake_sources) == first
    assert (first / "manifest.json").stat().st_mtime_ns == stamp


def test_editing_a_bundled_source_gives_a_fresh_build(fake_sources, tmp_path, monkeypatch):
    monkeypatch.setenv("MEDLC_CACHE", str(tmp_path / "cache"))
    before = bundled_exam_dir(SMALL, fake_sources)
    items = fake_sources / "items_test.jsonl"
    items.write_text("\n".join(items.read_text(encoding="utf-8").splitlines()[:-1]) + "\n", encoding="utf-8")
    after = bundled_exam_dir(SMALL, fake_sources)
    assert after != before
    assert read_manifest(after)["counts"]["items_kept"] == read_manifest(before)["counts"]["items_kept"] - 1


def test_explicit_exam_dir_wins_over_the_environment(tmp_path, monkeypatch):
    explicit, env = tmp_path / "explicit", tmp_path / "env"
    for directory in (explicit, env):
        directory.mkdir()
        (directory / "manifest.json").write_text("{}", encoding="utf-8")
    monkeypatch.setenv("MEDLC_EXAM_DIR", str(env))
    assert resolve_exam_dir(str(explicit)) == explicit
    assert resolve_exam_dir(None) == env


def test_no_exam_dir_anywhere_means_the_bundled_exam(fake_sources, tmp_path, monkeypatch):
    monkeypatch.delenv("MEDLC_EXAM_DIR", raising=False)
    monkeypatch.setenv("MEDLC_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr("medlc_tasks.exam.bundled.BUNDLED_SOURCE_DIR", fake_sources)
    monkeypatch.setattr("medlc_tasks.exam.bundled.DEFAULT_BUCKETS", SMALL)
    assert resolve_exam_dir(None).parent == tmp_path / "cache" / "exams"


def test_exam_dir_without_a_manifest_is_refused_by_name(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDLC_EXAM_DIR", str(tmp_path))
    with pytest.raises(ExamDirError, match=r"\$MEDLC_EXAM_DIR .* is not a built exam"):
        resolve_exam_dir(None)
