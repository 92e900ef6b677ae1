"""A config that asks for a GPU says so before it starts on a machine without one.

`medlc finetune finetune/configs/gpu_lora.yaml` on a CPU would otherwise start a bf16 run
of several hours with no word that no GPU is visible. Each command lists the keys of its
config that only make sense on a GPU (bf16/fp16, flash attention, `device: cuda`) and calls
`require_gpu`; with no CUDA device visible it stops, naming the keys, unless the user
said to go on (`--allow_cpu`).
"""

from __future__ import annotations

from medlc_core.errors import UserError

ALLOW_FLAG = "--allow_cpu"


class NoGpuError(UserError, RuntimeError):
    """A GPU config on a machine that shows no CUDA device."""


def cuda_visible() -> bool:
    import torch

    return torch.cuda.is_available()


def require_gpu(asks: list[str], where: str, allow_cpu: bool) -> None:
    """Stop when `asks` (e.g. ['runtime.mixed_precision: bf16']) is non-empty, no CUDA
    device is visible and `allow_cpu` is false."""
    if not asks or allow_cpu or cuda_visible():
        return
    raise NoGpuError(
        f"{where}: {'; '.join(asks)} ask(s) for a GPU, and no CUDA device is visible: on this "
        f"machine it would run on the CPU, for hours or not at all. Run it where a GPU is, or "
        f"pass {ALLOW_FLAG} (allow_cpu=True from Python) to run it here anyway"
    )
