"""From a built exam directory to task documents: exam selection, refusals, provenance."""

from __future__ import annotations

import json
import logging
import shutil

import pytest

from medlc_tasks.exam.schema import CLOSEDBOOK_FILE, MANIFEST_FILE, bucket_file
from medlc_tasks.exam.store import ExamDirError
from medlc_tasks.loading import build_docs, model_window
from medlc_tasks.utils import load_exam

from tasks_support import FIXTURE_EXAM


@pytest.fixture()
def exam_copy(tmp_path):
    target = tmp_path / "exam"
    shutil.copytree(FIXTURE_EXAM, target)
    return target


def rewrite_lines(path, change) -> None:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in change(rows)), encoding="utf-8")


def test_loader_reads_the_exam_named_in_the_metadata():
    dataset = load_exam("2k", "letter", exam_dir=str(FIXTURE_EXAM))
    assert set(dataset["test"]["bucket"]) == {"2k"}
    assert len(dataset["test"]) == 7


def test_loader_fills_the_task_configs_loaded_record():
    loaded: dict = {}
    load_exam("closed", "gen", exam_dir=str(FIXTURE_EXAM), loaded=loaded)
    assert loaded["exam_file"] == str(FIXTURE_EXAM / CLOSEDBOOK_FILE)
    assert (loaded["items_in_file"], loaded["docs"], loaded["multi_answer_excluded"]) == (8, 8, 0)
    assert len(loaded["manifest_sha256"]) == 64


def test_loader_without_a_model_warns_that_the_policy_is_not_applied(caplog):
    with caplog.at_level(logging.WARNING, logger="medlc_tasks"):
        dataset = load_exam("1k", "letter", exam_dir=str(FIXTURE_EXAM))
    assert "cannot apply the over-length policy" in caplog.text
    assert set(dataset["test"]["overlength_action"]) == {"unchecked"}


def test_model_window_comes_from_the_model_config(tiny_model_dir):
    assert model_window({"pretrained": str(tiny_model_dir)}).window == 4096


def test_max_length_in_model_args_overrides_the_config(tiny_model_dir):
    assert model_window({"pretrained": str(tiny_model_dir), "max_length": 1000}).window == 1000


def test_no_model_named_means_no_window():
    assert model_window({"exam_dir": "x", "version": 1.0}) is None


def test_directory_without_a_manifest_is_not_an_exam(exam_copy):
    (exam_copy / MANIFEST_FILE).unlink()
    with pytest.raises(ExamDirError, match="not a built exam"):
        build_docs(exam_copy, "1k", "letter", None)


def test_missing_bucket_file_is_named(exam_copy):
    (exam_copy / bucket_file("4k")).unlink()
    with pytest.raises(ExamDirError, match="4k"):
        build_docs(exam_copy, "4k", "letter", None)


def test_duplicate_item_id_is_refused_with_its_place(exam_copy):
    rewrite_lines(exam_copy / bucket_file("1k"), lambda rows: [*rows, rows[0]])
    with pytest.raises(ExamDirError, match=r"openbook_1k\.v1\.jsonl, item 9 \(id 't01'\): duplicate item id"):
        build_docs(exam_copy, "1k", "letter", None)


def test_answer_index_that_misses_the_key_is_refused(exam_copy):
    def corrupt(rows):
        rows[0]["answer_index"] = 0  # t01's key is B
        return rows

    rewrite_lines(exam_copy / bucket_file("1k"), corrupt)
    with pytest.raises(ExamDirError, match="answer_index 0 does not point at answer 'B'"):
        build_docs(exam_copy, "1k", "letter", None)


def test_exam_of_only_multi_answer_items_cannot_feed_a_log_likelihood_task(exam_copy):
    rewrite_lines(exam_copy / bucket_file("1k"), lambda rows: [r for r in rows if r["multi_answer"]])
    with pytest.raises(ExamDirError, match="scored only by the _gen tasks"):
        build_docs(exam_copy, "1k", "cloze", None)


def drop_bucket_from_manifest(exam_dir, bucket: str, skipped_message: str | None) -> None:
    manifest = json.loads((exam_dir / MANIFEST_FILE).read_text(encoding="utf-8"))
    del manifest["buckets"][bucket]
    if skipped_message is not None:
        manifest["buckets_skipped"] = {bucket: {"target_chars": 32000, "message": skipped_message}}
    (exam_dir / MANIFEST_FILE).write_text(json.dumps(manifest), encoding="utf-8")
    (exam_dir / bucket_file(bucket)).unlink()


def test_task_for_a_bucket_the_build_skipped_names_the_exam_the_bucket_and_why(exam_copy):
    drop_bucket_from_manifest(exam_copy, "32k", "bucket 32k: a book of 32000 characters needs at least 30400")
    with pytest.raises(ExamDirError) as err:
        load_exam("32k", "letter", exam_dir=str(exam_copy))
    message = str(err.value)
    assert f"exam {exam_copy} has no bucket '32k'" in message
    assert "the build skipped it (bucket 32k: a book of 32000 characters needs at least 30400)" in message
    assert "--reference FILE" in message and "it has 16k, 1k, 2k, 4k, 8k" in message


def test_task_for_a_bucket_never_built_names_the_buckets_the_exam_has(exam_copy):
    drop_bucket_from_manifest(exam_copy, "8k", None)
    with pytest.raises(ExamDirError, match="has no bucket '8k': it was not among the buckets built"):
        build_docs(exam_copy, "8k", "cloze", None)


def test_lm_evals_metadata_hint_is_said_once_not_once_per_medlc_task():
    import logging

    import medlc_tasks.utils  # noqa: F401  (lm-eval imports it with the task YAMLs)
    from medlc_tasks.loading import _FirstMetadataHintOnly

    task_logger = logging.getLogger("lm_eval.api.task")
    assert any(isinstance(f, _FirstMetadataHintOnly) for f in task_logger.filters)
    hint = "{}: Custom kwargs can be passed to `--metadata` in console (as json string) or to the TaskManager"
    quiet = _FirstMetadataHintOnly()

    def said(task: str) -> bool:
        record = logging.LogRecord("lm_eval.api.task", logging.WARNING, "", 0, hint.format(task), None, None)
        return quiet.filter(record)

    assert [said(task) for task in ("medlc_closedbook", "medlc_openbook_1k", "medlc_openbook_2k")] == [
        True,
        False,
        False,
    ]
    assert said("ruler_4k")  # another task family's hint is lm-eval's business
