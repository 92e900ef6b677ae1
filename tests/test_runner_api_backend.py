"""A roster scores through any lm-eval backend: here `local-completions` against a model
served by a tiny OpenAI-compatible stub, end to end through `medlc run`, with the exam's
over-length policy applied for the served model's window and counted."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from medlc.runner import backends
from medlc.runner.config import ConfigError, parse_config
from medlc.runner.roster import resolve_roster
from medlc.runner.run import run
from medlc_core.store import ResultStore, read_samples

from openai_stub import CompletionsStub

EXAM = Path(__file__).parent / "fixtures" / "report_exam"
TASKS = ["medlc_closedbook", "medlc_openbook_1k"]


@pytest.fixture(scope="module")
def stub(tiny_model_dir):
    with CompletionsStub(tiny_model_dir) as server:
        yield server


def served_entry(stub, tiny_model_dir, name: str = "tiny-served", extra: str = "") -> str:
    return (
        f"  - name: {name}\n    kind: general\n    backend: local-completions\n"
        f"    pretrained: {stub.served_name}\n"
        f"    model_args: {{base_url: '{stub.base_url}', tokenizer: '{tiny_model_dir}', "
        f"tokenizer_backend: huggingface{extra}}}\n"
    )


def config_text(roster: str) -> str:
    return (
        f"settings: {{device: cpu, exam_dir: {EXAM}, bootstrap_iters: 0}}\n"
        f"roster:\n{roster}tasks: {json.dumps(TASKS)}\n"
    )


def pair_samples(root: Path) -> dict[tuple[str, str], list[dict]]:
    """(model name, task) -> the pair's per-sample log."""
    out = {}
    for pair in ResultStore(root).done_pairs():
        name = json.loads((pair.parents[2] / "model.json").read_text())["name"]
        out[name, pair.parent.parent.name] = read_samples(pair)
    return out


@pytest.fixture(scope="module")
def scored(stub, tiny_model_dir, tmp_path_factory):
    """The same tiny model in-process (medlc-hf) and served (local-completions)."""
    root = tmp_path_factory.mktemp("api")
    roster = f"  - {{name: tiny-local, kind: general, pretrained: {tiny_model_dir}}}\n" + served_entry(
        stub, tiny_model_dir
    )
    path = root / "c.yaml"
    path.write_text(config_text(roster), encoding="utf-8")
    run(parse_config(path, path.read_text()), root / "results")
    return pair_samples(root / "results")


def test_served_model_scores_every_pair_through_medlc_run(scored):
    assert sorted(scored) == sorted((m, t) for m in ("tiny-local", "tiny-served") for t in TASKS)


def test_served_model_loglikelihoods_match_the_same_weights_in_process(scored):
    for task in TASKS:
        local = [float(r[0][0]) for s in scored["tiny-local", task] for r in s["resps"]]
        served = [float(r[0][0]) for s in scored["tiny-served", task] for r in s["resps"]]
        assert len(local) >= 6 * 4 and served == pytest.approx(local, abs=1e-3)


def test_served_model_json_records_its_backend(scored, tmp_path, stub, tiny_model_dir):
    path = tmp_path / "c.yaml"
    path.write_text(config_text(served_entry(stub, tiny_model_dir)), encoding="utf-8")
    (model,) = resolve_roster(parse_config(path, path.read_text()))
    info = model.info()
    assert info["backend"] == "local-completions" and info["protocol"]["backend"] == "local-completions"
    assert info["identity"]["served_model"] == "tiny-served"
    assert "tokenizer.json" in info["identity"]["tokenizer"]["files"]


def test_books_are_fitted_to_the_served_window_and_counted(stub, tiny_model_dir, tmp_path):
    # The tiny tokenizer makes the closed-book prompts ~105 tokens and the 1k ones ~290: a
    # window of 240 holds every closed-book prompt and no whole 1k book.
    window = 240
    path = tmp_path / "c.yaml"
    path.write_text(config_text(served_entry(stub, tiny_model_dir, extra=f", max_length: {window}")))
    stub.prompt_lengths.clear()
    run(parse_config(path, path.read_text()), tmp_path / "results")
    scored = pair_samples(tmp_path / "results")

    def acted(task: str) -> int:
        return sum(s["book_shortened"] + s["overlength_flagged"] for s in scored["tiny-served", task])

    assert acted("medlc_closedbook") == 0 and acted("medlc_openbook_1k") == len(
        scored["tiny-served", "medlc_openbook_1k"]
    )
    assert all(s["overlength_unchecked"] == 0 for rows in scored.values() for s in rows)
    # lm-eval cuts an over-long request to exactly max_length - 1 tokens; none came that long,
    # so every request reached the server whole.
    assert stub.prompt_lengths and max(stub.prompt_lengths) < window - 1


def fingerprint(stub, tiny_model_dir, tmp_path, **changes) -> str:
    name = changes.pop("served_name", stub.served_name)
    extra = "".join(f", {k}: '{v}'" for k, v in changes.items() if k != "base_url")
    entry = served_entry(stub, tiny_model_dir, extra=extra).replace(
        f"pretrained: {stub.served_name}", f"pretrained: {name}"
    )
    if "base_url" in changes:
        entry = entry.replace(stub.base_url, changes["base_url"])
    path = tmp_path / "c.yaml"
    path.write_text(config_text(entry), encoding="utf-8")
    return resolve_roster(parse_config(path, path.read_text()))[0].fingerprint


def test_served_fingerprint_ignores_the_url_but_not_the_name_or_window(stub, tiny_model_dir, tmp_path):
    base = fingerprint(stub, tiny_model_dir, tmp_path)
    assert fingerprint(stub, tiny_model_dir, tmp_path, base_url="http://10.0.0.7:8000/v1/completions") == base
    assert fingerprint(stub, tiny_model_dir, tmp_path, served_name="other-model") != base
    assert fingerprint(stub, tiny_model_dir, tmp_path, max_length="512") != base


def test_served_backend_without_a_tokenizer_names_the_key(tmp_path):
    text = config_text(
        "  - name: s\n    kind: general\n    backend: local-completions\n    pretrained: m\n"
        "    model_args: {base_url: 'http://127.0.0.1:1/v1/completions'}\n"
    )
    with pytest.raises(
        ConfigError, match=r"roster\[0\]\.model_args\.tokenizer: expected the served model's tokenizer"
    ):
        parse_config(tmp_path / "c.yaml", text)


def test_vllm_arguments_reach_the_loader_as_window_and_adapter():
    args = backends.model_args_for(
        "vllm", "/m/base", "/m/adapter", {"max_model_len": 8192, "tensor_parallel_size": 4}
    )
    assert args["lora_local_path"] == "/m/adapter" and args["pretrained"] == "/m/base"
    meta = backends.loader_metadata("vllm", args)
    assert (meta["pretrained"], meta["peft"], meta["max_length"]) == ("/m/base", "/m/adapter", 8192)


def test_sglang_tokenizer_path_reaches_the_loader():
    meta = backends.loader_metadata(
        "sglang", {"pretrained": "/m", "tokenizer_path": "/t", "context_length": 4096}
    )
    assert (meta["tokenizer"], meta["max_length"]) == ("/t", 4096)


def test_sglang_refuses_an_adapter_it_cannot_load(tmp_path):
    text = config_text(
        "  - {name: s, kind: mixture, backend: sglang, pretrained: /m, peft: /a, general_fraction: 0.5, n: 1}\n"
    )
    with pytest.raises(ConfigError, match=r"roster\[0\]\.peft: backend sglang takes no adapter"):
        parse_config(tmp_path / "c.yaml", text)


def test_gpus_per_model_do_not_change_the_fingerprint(tiny_model_dir, tmp_path):
    def resolved(backend: str, args: str):
        text = config_text(
            f"  - {{name: a, kind: general, backend: {backend}, pretrained: {tiny_model_dir}, model_args: {args}}}\n"
        )
        return resolve_roster(parse_config(tmp_path / "c.yaml", text))[0]

    assert resolved("hf", "{parallelize: true}").fingerprint == resolved("hf", "{}").fingerprint
    assert (
        resolved("vllm", "{tensor_parallel_size: 8}").fingerprint
        == resolved("vllm", "{tensor_parallel_size: 2}").fingerprint
    )
    assert resolved("vllm", "{}").fingerprint != resolved("hf", "{}").fingerprint


def test_a_backend_whose_package_is_missing_is_refused_before_any_model_loads(
    tiny_model_dir, tmp_path, monkeypatch
):
    # Whether or not vllm is installed here, a package that certainly is not stands in for it.
    vllm = replace(backends.BACKENDS["vllm"], requires=("medlc_test_absent_package",))
    monkeypatch.setitem(backends.BACKENDS, "vllm", vllm)
    path = tmp_path / "c.yaml"
    path.write_text(
        config_text(f"  - {{name: a, kind: general, backend: vllm, pretrained: {tiny_model_dir}}}\n")
    )
    with pytest.raises(
        ConfigError, match=r"backend vllm, which needs medlc_test_absent_package: pip install"
    ):
        run(parse_config(path, path.read_text()), tmp_path / "results")
    assert not any((tmp_path / "results").glob("*/model.json"))
