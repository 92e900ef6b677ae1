"""The data order: which rows every optimizer step feeds to every process.

A row is one example, or several packed into one sequence. Epoch e visits all rows in a
permutation seeded by (seed, e), cut into micro-batches; one optimizer step takes
`grad_accum × world_size` consecutive micro-batches, process r taking every world_size-th.
The whole order is a pure function of (rows, seed, micro_batch_size, grad_accum,
world_size), so a resumed run only needs the step number to continue exactly where the
interrupted one was. The last step of an epoch may be short; a process with no micro-batch
left runs a zero-weight one instead, so no example is dropped or seen twice and DDP still
gets a backward from every process.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from medlc_core.provenance import sha256_text


@dataclass(frozen=True)
class StepPlan:
    rows: tuple[tuple[int, ...], ...]  # example indices per row
    micro_batch_size: int
    grad_accum: int
    world_size: int
    seed: int
    epochs: int
    max_steps: int | None = None
    _epochs_cache: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def micro_batches_per_epoch(self) -> int:
        return math.ceil(len(self.rows) / self.micro_batch_size)

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.micro_batches_per_epoch / (self.grad_accum * self.world_size))

    @property
    def total_steps(self) -> int:
        return self.max_steps if self.max_steps is not None else self.epochs * self.steps_per_epoch

    def epoch_of(self, step: int) -> int:
        return step // self.steps_per_epoch

    def epoch_micro_batches(self, epoch: int) -> tuple[tuple[tuple[int, ...], ...], ...]:
        if epoch not in self._epochs_cache:
            order = np.random.default_rng([self.seed, epoch]).permutation(len(self.rows))
            mb = self.micro_batch_size
            self._epochs_cache.clear()  # one epoch in use at a time
            self._epochs_cache[epoch] = tuple(
                tuple(self.rows[i] for i in order[start : start + mb]) for start in range(0, len(order), mb)
            )
        return self._epochs_cache[epoch]

    def step_micro_batches(self, step: int, rank: int) -> list[tuple[tuple[int, ...], ...] | None]:
        """This process's micro-batches for a step (0-based); None marks a zero-weight filler."""
        batches = self.epoch_micro_batches(self.epoch_of(step))
        first = (step % self.steps_per_epoch) * self.grad_accum * self.world_size
        picked = []
        for j in range(self.grad_accum):
            index = first + j * self.world_size + rank
            picked.append(batches[index] if index < len(batches) else None)
        return picked

    def step_example_indices(self, step: int) -> list[int]:
        """Every example index a step trains on, across all processes, in a fixed order."""
        out: list[int] = []
        for rank in range(self.world_size):
            for micro in self.step_micro_batches(step, rank):
                for row in micro or ():
                    out.extend(row)
        return out

    def fingerprint(self, ids: list[str]) -> str:
        """Fingerprint of the rows and of everything that decides their order."""
        rows = ";".join(",".join(ids[i] for i in row) for row in self.rows)
        return sha256_text(f"{rows}|{self.micro_batch_size}|{self.grad_accum}|{self.world_size}|{self.seed}")
