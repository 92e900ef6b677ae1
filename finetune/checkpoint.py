"""Resumable checkpoints: written whole or not at all, found again on --resume.

A checkpoint is `checkpoints/step_000050/`: accelerate's state (model or adapter weights,
optimizer, scheduler, RNG of every process, grad scaler) plus `trainer_state.json` (the
step, which with the deterministic StepPlan is the data position). It is written under
`step_000050.partial/` and renamed into place only once complete, so a run killed while
saving leaves the previous checkpoint as the latest; leftovers are cleared on the next save.
For LoRA runs only trainable tensors are saved: the frozen base is re-read from its source.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from accelerate import Accelerator
from accelerate.utils import DistributedType
from safetensors.torch import load_file

from medlc_core.atomic import write_json_atomic
from medlc_core.errors import UserError

CHECKPOINT_DIR = "checkpoints"
STATE_FILE = "trainer_state.json"
_NAME = re.compile(r"^step_(\d+)$")


class ResumeError(UserError, RuntimeError):
    """A checkpoint that does not belong to this config and data."""


@dataclass
class TrainerState:
    step: int  # optimizer steps completed
    tokens_seen: int
    order_sha256: str  # StepPlan.fingerprint: rows + order settings
    train_ids_sha256: str


def completed_checkpoints(output_dir: Path) -> list[Path]:
    """Finished checkpoints, oldest first."""
    root = output_dir / CHECKPOINT_DIR
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if _NAME.match(p.name) and (p / STATE_FILE).is_file()]
    return sorted(found, key=lambda p: int(_NAME.match(p.name).group(1)))


def latest_checkpoint(output_dir: Path) -> Path | None:
    done = completed_checkpoints(output_dir)
    return done[-1] if done else None


def read_state(checkpoint: Path) -> TrainerState:
    return TrainerState(**json.loads((checkpoint / STATE_FILE).read_text(encoding="utf-8")))


def save_checkpoint(accelerator: Accelerator, output_dir: Path, state: TrainerState, keep: int) -> Path:
    root = output_dir / CHECKPOINT_DIR
    final = root / f"step_{state.step:06d}"
    staging = root / f"{final.name}.partial"
    if accelerator.is_main_process:
        for leftover in root.glob("*.partial") if root.is_dir() else []:
            shutil.rmtree(leftover)
        staging.mkdir(parents=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(staging))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        write_json_atomic(staging / STATE_FILE, asdict(state))
        if final.exists():  # the same step saved by a run that was killed before moving on
            shutil.rmtree(final)
        staging.rename(final)
        for old in completed_checkpoints(output_dir)[:-keep] if keep else []:
            shutil.rmtree(old)
    accelerator.wait_for_everyone()
    return final


def load_checkpoint(accelerator: Accelerator, checkpoint: Path, expected: TrainerState) -> TrainerState:
    """Restore a checkpoint after checking it was made from the same rows and order."""
    state = read_state(checkpoint)
    for key in ("order_sha256", "train_ids_sha256"):
        if getattr(state, key) != getattr(expected, key):
            raise ResumeError(
                f"{checkpoint}: {key} differs from this run's; the data, mixture or batch settings "
                "changed since it was saved, so it cannot continue the same data order"
            )
    accelerator.load_state(str(checkpoint))
    return state


def save_trainable_only(accelerator: Accelerator, trainable: set[str]) -> None:
    """Make accelerate's save/load_state keep only trainable tensors (LoRA adapters).

    `trainable` holds parameter names of the unwrapped model.

    FSDP and DeepSpeed save their own sharded state and are left as they are.
    """
    if accelerator.distributed_type in (DistributedType.FSDP, DistributedType.DEEPSPEED):
        return

    def plain(key: str) -> str:
        # Whether accelerate hands over DDP-wrapped ("module."-prefixed) names varies by
        # distributed type; compare and store names as the unwrapped model has them.
        return key.removeprefix("module.")

    def before_save(models: list, weights: list[dict], output_dir: str) -> None:
        for i, state_dict in enumerate(weights):
            weights[i] = {plain(k): v for k, v in state_dict.items() if plain(k) in trainable}

    def before_load(models: list, input_dir: str) -> None:
        for i, model in enumerate(list(models)):
            name = "model.safetensors" if i == 0 else f"model_{i}.safetensors"
            saved = load_file(os.path.join(input_dir, name))
            result = accelerator.unwrap_model(model).load_state_dict(saved, strict=False)
            missing = trainable - set(saved)
            if result.unexpected_keys or missing:
                raise ResumeError(
                    f"{input_dir}/{name}: expected exactly the run's trainable tensors; "
                    f"unexpected {sorted(result.unexpected_keys)[:5]}, missing {sorted(missing)[:5]}"
                )
            models.remove(model)  # loaded here, so accelerate must not load it strictly again

    accelerator.register_save_state_pre_hook(before_save)
    accelerator.register_load_state_pre_hook(before_load)
