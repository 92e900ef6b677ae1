"""The fine-tuning recipe, one readable file: load, set up, loop, save.

Runs on one CPU, one GPU, or many through `accelerate launch` (DDP or FSDP); accelerate
owns devices, mixed precision and gradient synchronisation, this file owns everything else.

Loss is the mean over every response token of an optimizer step, across micro-batches and
processes (token counts are summed over the step before any backward), so it does not
depend on how the step is split into micro-batches, processes or packed rows.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
import yaml
from accelerate import Accelerator
from accelerate.utils import set_seed

from finetune.checkpoint import (
    TrainerState,
    latest_checkpoint,
    load_checkpoint,
    save_checkpoint,
    save_trainable_only,
)
from finetune.config import FinetuneConfig
from finetune.data import quiet_datasets
from finetune.formatting import IGNORE_INDEX, Batch, collate, pack, prepare_tokenizer, tokenize_dataset
from finetune.mixture import MANIFEST_NAME, build_mixture, ids_sha256, mixture_manifest
from finetune.steps import StepPlan
from finetune.tracking import RunLog, available_trackers, progress_bar
from medlc_core.atomic import write_json_atomic
from medlc_core.errors import UserError
from medlc_core.models import resolve_pretrained
from medlc_core.provenance import sha256_text, versions

RESULT_NAME = "run_result.json"  # written last: its presence marks a finished run


class RunExistsError(UserError, RuntimeError):
    """output_dir already holds a run and --resume was not given."""


@dataclass
class RunResult:
    run_name: str
    output_dir: str
    steps: int
    tokens_seen: int
    train_loss: float | None  # the last step's
    eval_loss: float | None
    padding_fraction: float  # pad tokens / tokens in the training tensors
    wall_seconds: float  # this session only (a resumed run counts from the resume)
    tokens_per_second: float
    base_model: str
    adapter_dir: str | None
    merged_dir: str | None
    model_dir: str | None


def train(
    config: FinetuneConfig, resume: bool = False, on_step: Callable[[dict[str, Any]], None] | None = None
) -> RunResult:
    """Fine-tune as configured; `on_step` sees every step's log record (tests, sweeps)."""
    out = Path(config.output_dir)
    if resume and (out / RESULT_NAME).is_file():
        return RunResult(**json.loads((out / RESULT_NAME).read_text(encoding="utf-8")))
    if not resume and any((out / name).exists() for name in ("train_log.jsonl", "checkpoints", RESULT_NAME)):
        raise RunExistsError(
            f"{out} already holds a run; pass --resume to continue it or pick another output_dir"
        )
    accelerator = Accelerator(
        mixed_precision=config.runtime.mixed_precision,
        log_with=available_trackers(config.runtime.report_to) or None,
        project_dir=str(out),
    )
    set_seed(config.seed)
    main, world, rank = accelerator.is_main_process, accelerator.num_processes, accelerator.process_index
    out.mkdir(parents=True, exist_ok=True)

    # --- 1. Load: base model path, tokenizer, the exact mixture, tokens ---------------------
    from transformers import AutoModelForCausalLM, AutoTokenizer, get_scheduler

    data = config.data
    with accelerator.main_process_first(), quiet_datasets():
        base = resolve_pretrained(config.model.pretrained, config.model.gguf_file)
        mixture = build_mixture(data, config.seed)
        tokenizer = AutoTokenizer.from_pretrained(base, trust_remote_code=config.model.trust_remote_code)
        template = prepare_tokenizer(tokenizer, data.template)
        key = sha256_text(json.dumps(config.to_dict(), sort_keys=True) + base)[:16]
        train_set, train_stats = tokenize_dataset(
            mixture.train, tokenizer, data.max_length, data.overlong, key + "-train"
        )
        eval_set, eval_stats = tokenize_dataset(
            mixture.eval, tokenizer, data.max_length, data.overlong, key + "-eval"
        )
    manifest = {
        **mixture_manifest(mixture, config),
        "base_model": {
            "pretrained": config.model.pretrained,
            "gguf_file": config.model.gguf_file,
            "resolved": base,
        },
        "template": template,
        "tokens": {"train": asdict(train_stats), "eval": asdict(eval_stats)},
        "config": config.to_dict(),
        "versions": versions("peft", "accelerate"),
    }
    if main:
        write_json_atomic(out / MANIFEST_NAME, manifest)
        (out / "config.yaml").write_text(
            yaml.safe_dump(config.to_dict(), allow_unicode=True, sort_keys=False), encoding="utf-8"
        )

    packed = config.runtime.packing
    # Flash attention reads packing boundaries from position_ids only in a single row.
    flatten = packed and config.model.attn_implementation.startswith("flash")
    examples = train_set.select_columns(["input_ids", "labels"]).to_list()
    eval_examples = eval_set.select_columns(["input_ids", "labels"]).to_list()
    plan = StepPlan(
        rows=_rows([len(e["input_ids"]) for e in examples], data.max_length, packed),
        micro_batch_size=config.optim.micro_batch_size,
        grad_accum=config.optim.grad_accum,
        world_size=world,
        seed=config.seed,
        epochs=config.optim.epochs,
        max_steps=config.optim.max_steps,
    )
    ids = train_set["id"]
    fresh = TrainerState(0, 0, plan.fingerprint(ids), ids_sha256(ids))

    # --- 2. Set up: model, adapter, optimizer, scheduler --------------------------------------
    model = AutoModelForCausalLM.from_pretrained(
        base,
        dtype=getattr(torch, config.model.dtype),
        attn_implementation=config.model.attn_implementation,
        trust_remote_code=config.model.trust_remote_code,
    )
    if config.runtime.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.config.use_cache = False
    lora = config.adapter.method == "lora"
    if lora:
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(
            model,
            LoraConfig(
                r=config.adapter.r,
                lora_alpha=config.adapter.alpha,
                lora_dropout=config.adapter.dropout,
                target_modules=config.adapter.target_modules,
                task_type="CAUSAL_LM",
            ),
        )
    model = accelerator.prepare(model)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optim = config.optim
    optimizer = accelerator.prepare(
        torch.optim.AdamW(trainable, lr=optim.lr, betas=tuple(optim.betas), weight_decay=optim.weight_decay)
    )
    warmup = optim.warmup_steps or round(optim.warmup_ratio * plan.total_steps)
    # Not passed through accelerator.prepare: that would step it once per process per step.
    scheduler = get_scheduler(
        optim.scheduler, optimizer, num_warmup_steps=warmup, num_training_steps=plan.total_steps
    )
    accelerator.register_for_checkpointing(scheduler)
    if lora:
        unwrapped = accelerator.unwrap_model(model)
        save_trainable_only(accelerator, {n for n, p in unwrapped.named_parameters() if p.requires_grad})

    state = fresh
    checkpoint = latest_checkpoint(out) if resume else None
    if checkpoint is not None:
        state = load_checkpoint(accelerator, checkpoint, fresh)
    log = RunLog(out, main, state.step if resume else None)
    accelerator.init_trackers(config.run_name, config={k: str(v) for k, v in config.to_dict().items()})

    # --- 3. Loop ---------------------------------------------------------------------------------
    device, pad_id = accelerator.device, tokenizer.pad_token_id

    def batch_of(micro: tuple[tuple[int, ...], ...], pool: list[dict]) -> Batch:
        return collate([[pool[i] for i in row] for row in micro], pad_id, packed, flatten)

    def forward_loss(batch: Batch, num_items: torch.Tensor) -> torch.Tensor:
        return batch_loss(model, batch, num_items, device)

    def evaluate_at(step: int) -> float | None:
        """Eval loss after `step` optimiser steps (logged under that step)."""
        return _evaluate(
            accelerator,
            model,
            eval_examples,
            data.max_length,
            packed,
            batch_of,
            forward_loss,
            optim.micro_batch_size,
            log,
            step,
        )

    started, session_tokens, padded, real = time.perf_counter(), 0, 0, 0
    train_loss = eval_loss = None
    with progress_bar(main) as progress:
        task = progress.add_task(
            config.run_name, total=plan.total_steps, completed=state.step, loss="-", lr="-", tps="-"
        )
        for step in range(state.step, plan.total_steps):
            step_start = time.perf_counter()
            micros = plan.step_micro_batches(step, rank)
            batches = [batch_of(m, examples) for m in micros if m is not None]
            if world > 1:  # a process out of data still joins every backward (see steps.py)
                filler = _zero_weight(batch_of(plan.epoch_micro_batches(plan.epoch_of(step))[0], examples))
                batches += [filler] * (len(micros) - len(batches))
            counts = torch.tensor(
                [
                    sum(b.label_tokens for b in batches),
                    sum(b.tokens for b in batches),
                    sum(b.padded_tokens for b in batches),
                ],
                device=device,
            )
            counts = accelerator.reduce(counts, "sum")
            num_items = counts[0].clamp(min=1).float()
            model.train()
            loss_sum = torch.zeros((), device=device)
            for j, batch in enumerate(batches):
                # Gradients sync across processes once per step, on the last micro-batch.
                with nullcontext() if j == len(batches) - 1 else accelerator.no_sync(model):
                    # DDP averages gradients over processes; the token mean wants their sum.
                    loss = forward_loss(batch, num_items) * world
                    accelerator.backward(loss)
                loss_sum += loss.detach() / world
            grad_norm = (
                accelerator.clip_grad_norm_(model.parameters(), optim.max_grad_norm)
                if optim.max_grad_norm
                else None
            )
            lr = scheduler.get_last_lr()[0]
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)

            train_loss = accelerator.reduce(loss_sum, "sum").item()
            tokens, padded_step = int(counts[1]), int(counts[2])
            state = replace(state, step=step + 1, tokens_seen=state.tokens_seen + tokens)
            session_tokens, real, padded = session_tokens + tokens, real + tokens, padded + padded_step
            seconds = time.perf_counter() - step_start
            record = {
                "kind": "train",
                "step": step + 1,
                "epoch": plan.epoch_of(step),
                "loss": train_loss,
                "lr": lr,
                "grad_norm": float(grad_norm) if grad_norm is not None else None,
                "tokens": tokens,
                "padding_fraction": 1 - tokens / padded_step if padded_step else 0.0,
                "tokens_per_second": tokens / seconds,
                "examples_sha256": sha256_text("\n".join(ids[i] for i in plan.step_example_indices(step))),
            }
            if (step + 1) % config.runtime.log_every == 0 or step + 1 == plan.total_steps:
                log.write(record)
                accelerator.log({k: record[k] for k in ("loss", "lr", "tokens_per_second")}, step=step + 1)
            progress.update(
                task,
                completed=step + 1,
                loss=f"{train_loss:.4f}",
                lr=f"{lr:.2e}",
                tps=f"{tokens / seconds:,.0f}",
            )
            every = config.runtime.eval_every
            if every and (step + 1) % every == 0 and step + 1 < plan.total_steps:
                eval_loss = evaluate_at(step + 1)
            every = config.runtime.save_every
            if every and (step + 1) % every == 0 and step + 1 < plan.total_steps:
                save_checkpoint(accelerator, out, state, config.runtime.keep_checkpoints)
            if on_step is not None:
                on_step(record)
    eval_loss = evaluate_at(plan.total_steps)
    wall = time.perf_counter() - started

    # --- 4. Save: adapter or model, tokenizer + template, manifest; merged on request --------
    accelerator.wait_for_everyone()
    unwrapped = accelerator.unwrap_model(model)
    weights = accelerator.get_state_dict(model)
    save_dir = saved_model_dir(config)
    merged_dir = out / "merged" if config.adapter.save_merged else None
    if main:
        if not lora:
            unwrapped.config.use_cache = True
        unwrapped.save_pretrained(save_dir, state_dict=weights, safe_serialization=True)
        tokenizer.save_pretrained(save_dir)
        write_json_atomic(save_dir / MANIFEST_NAME, manifest)
        if merged_dir is not None:
            merge_adapter(base, save_dir, merged_dir, config.model.dtype)
    result = RunResult(
        run_name=config.run_name,
        output_dir=str(out),
        steps=state.step,
        tokens_seen=state.tokens_seen,
        train_loss=train_loss,
        eval_loss=eval_loss,
        padding_fraction=1 - real / padded if padded else 0.0,
        wall_seconds=wall,
        tokens_per_second=session_tokens / wall if wall else 0.0,
        base_model=base,
        adapter_dir=str(save_dir) if lora else None,
        merged_dir=str(merged_dir) if merged_dir else None,
        model_dir=None if lora else str(save_dir),
    )
    if main:
        write_json_atomic(out / RESULT_NAME, asdict(result))
    accelerator.end_training()
    return result


def saved_model_dir(config: FinetuneConfig) -> Path:
    """Where `train` saves the tuned weights: `adapter/` for LoRA, `model/` for full tuning.

    The one place that says it: the sweep, the study and its roster all ask here."""
    return Path(config.output_dir) / ("adapter" if config.adapter.method == "lora" else "model")


def batch_loss(model: Any, batch: Batch, num_items: torch.Tensor, device: Any = None) -> torch.Tensor:
    """Summed token cross-entropy of a micro-batch divided by `num_items` (the step's tokens)."""
    tensors = {k: v.to(device) if device is not None else v for k, v in batch.tensors.items()}
    # use_cache=False matters beyond memory: with a KV cache present transformers does not
    # derive the packed block-diagonal mask from position_ids, and attention would leak.
    return model(**tensors, num_items_in_batch=num_items, use_cache=False).loss


def _rows(lengths: list[int], max_length: int, packed: bool) -> tuple[tuple[int, ...], ...]:
    if packed:
        return tuple(tuple(row) for row in pack(lengths, max_length))
    return tuple((i,) for i in range(len(lengths)))


def _zero_weight(batch: Batch) -> Batch:
    """A micro-batch that runs forward/backward but contributes nothing (see steps.py)."""
    tensors = dict(batch.tensors, labels=torch.full_like(batch.tensors["labels"], IGNORE_INDEX))
    return Batch(tensors, 0, 0, 0)


def _evaluate(
    accelerator, model, examples, max_length, packed, batch_of, forward_loss, micro_batch_size, log, step
) -> float | None:
    """Token-mean loss on the held-out examples; every process runs the same number of
    forwards (FSDP needs that), padding with zero-weight fillers."""
    if not examples:
        return None
    world, rank = accelerator.num_processes, accelerator.process_index
    rows = _rows([len(e["input_ids"]) for e in examples], max_length, packed)
    micros = [rows[i : i + micro_batch_size] for i in range(0, len(rows), micro_batch_size)]
    per_rank = -(-len(micros) // world)
    totals = torch.zeros(2, device=accelerator.device)
    model.eval()
    one = torch.tensor(1.0, device=accelerator.device)  # num_items 1: the loss comes back as a sum
    with torch.no_grad():
        for k in range(per_rank):
            index = k * world + rank
            batch = (
                batch_of(micros[index], examples)
                if index < len(micros)
                else _zero_weight(batch_of(micros[0], examples))
            )
            totals += torch.stack(
                [
                    forward_loss(batch, one).float(),
                    torch.tensor(float(batch.label_tokens), device=accelerator.device),
                ]
            )
    model.train()
    totals = accelerator.reduce(totals, "sum")
    loss = (totals[0] / totals[1]).item() if totals[1] > 0 else None
    log.write({"kind": "eval", "step": step, "eval_loss": loss, "eval_tokens": int(totals[1])})
    accelerator.log({"eval_loss": loss}, step=step)
    return loss


def merge_adapter(base: str, adapter_dir: Path, merged_dir: Path, dtype: str = "float32") -> Path:
    """Fold a LoRA adapter into its base and save a plain checkpoint (+ tokenizer, manifest)."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(base, dtype=getattr(torch, dtype))
    merged = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    merged.config.use_cache = True
    merged.save_pretrained(merged_dir, safe_serialization=True)
    AutoTokenizer.from_pretrained(str(adapter_dir)).save_pretrained(merged_dir)
    manifest = adapter_dir / MANIFEST_NAME
    if manifest.is_file():
        (merged_dir / MANIFEST_NAME).write_text(manifest.read_text(encoding="utf-8"), encoding="utf-8")
    return merged_dir
