"""The medlc task folder as lm-eval sees it: generated files current, every task found by
`lm-eval validate`, every task buildable on the fixture exam."""

from __future__ import annotations

import subprocess
import sys

import yaml

from medlc_tasks import _generate_configs
from medlc_tasks.prompts import GEN_MAX_TOKENS

from tasks_support import FIXTURE_EXAM, FIXTURE_SCRIPT, REPO, TASKS_DIR, tasks_make_exam

GENERATED = _generate_configs.render_all()
GROUPS = [f.open_prefix for f in _generate_configs.FAMILIES]
LEAF_TASKS = sorted(name.removesuffix(".yaml") for name in GENERATED if name.startswith("medlc_"))


def test_generated_task_files_match_the_generator():
    stale = [
        name for name, text in GENERATED.items() if (TASKS_DIR / name).read_text(encoding="utf-8") != text
    ]
    assert stale == [], "run: python medlc_tasks/_generate_configs.py"


def test_no_task_file_is_left_over_from_an_older_generator():
    on_disk = {path.name for path in TASKS_DIR.glob("*.yaml")} | {p.name for p in TASKS_DIR.glob("_*_yaml")}
    assert on_disk == set(GENERATED)


def test_there_are_six_buckets_and_a_closed_book_task_per_variant():
    assert len(LEAF_TASKS) == 3 * (6 + 1)
    assert {"medlc_closedbook", "medlc_closedbook_cloze", "medlc_closedbook_gen"} <= set(LEAF_TASKS)


def test_generation_room_reserved_by_the_policy_is_what_the_task_generates():
    from lm_eval.tasks._yaml_loader import load_yaml

    template = load_yaml(TASKS_DIR / "_gen_template_yaml", resolve_func=False)
    assert template["generation_kwargs"]["max_gen_toks"] == GEN_MAX_TOKENS


def test_lm_eval_validate_accepts_every_task_and_group():
    done = subprocess.run(
        [sys.executable, "-m", "lm_eval", "validate", "--tasks", ",".join(LEAF_TASKS + GROUPS)]
        + ["--include_path", "medlc_tasks"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "All tasks found and valid" in done.stdout


def test_every_task_builds_on_the_fixture_and_renders_its_first_item():
    # `lm-eval validate` only looks task names up; this loads each dataset and prompt.
    from lm_eval.tasks import TaskManager

    manager = TaskManager(
        include_path=str(TASKS_DIR), include_defaults=False, metadata={"exam_dir": str(FIXTURE_EXAM)}
    )
    tasks = manager.load(LEAF_TASKS)["tasks"]
    assert sorted(tasks) == LEAF_TASKS
    for name, task in tasks.items():
        doc = task.eval_docs[0]
        assert doc["question"] in task.doc_to_text(doc), name
        assert task.doc_to_text(doc).endswith("答案："), name
        assert task.VERSION == 2.0, name


def test_every_group_declares_version_2():
    groups = [yaml.safe_load(text) for name, text in GENERATED.items() if name.startswith("_medlc")]
    assert sorted(g["group"] for g in groups) == sorted(GROUPS)
    assert {g["metadata"]["version"] for g in groups} == {2.0}


def test_fixture_exam_matches_its_generator(tmp_path):
    tasks_make_exam.write(tmp_path)
    for written in sorted(tmp_path.iterdir()):
        regenerate = f"run: python {FIXTURE_SCRIPT.relative_to(REPO)}"
        assert written.read_bytes() == (FIXTURE_EXAM / written.name).read_bytes(), regenerate
    assert {p.name for p in tmp_path.iterdir()} == {p.name for p in FIXTURE_EXAM.iterdir()}


def test_readme_documents_groups_commands_and_exam_selection():
    readme = (TASKS_DIR / "README.md").read_text(encoding="utf-8")
    for name in [*GROUPS, "medlc_closedbook", "medlc_closedbook_cloze", "medlc_closedbook_gen"]:
        assert f"`{name}`" in readme, name
    commands = ("lm_eval --include_path medlc_tasks", "lm-eval validate")
    for needle in (*commands, "MEDLC_EXAM_DIR", "--metadata", "2407.11536"):
        assert needle in readme, needle
