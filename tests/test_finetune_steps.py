"""The data order: every row once per epoch, on every process layout, reproducibly."""

from __future__ import annotations

from collections import Counter

from finetune.steps import StepPlan


def _plan(world_size: int = 1, **kw) -> StepPlan:
    rows = tuple((i,) for i in range(17))
    args = dict(rows=rows, micro_batch_size=2, grad_accum=3, world_size=world_size, seed=0, epochs=2)
    return StepPlan(**{**args, **kw})


def _epoch_rows(plan: StepPlan, epoch: int) -> Counter:
    seen: Counter = Counter()
    for step in range(epoch * plan.steps_per_epoch, (epoch + 1) * plan.steps_per_epoch):
        for rank in range(plan.world_size):
            for micro in plan.step_micro_batches(step, rank):
                seen.update(micro or ())
    return seen


def test_each_epoch_feeds_every_row_exactly_once_across_processes():
    plan = _plan(world_size=2)
    # 17 rows -> 9 micro-batches; 6 per step (3 accumulated x 2 processes) -> 2 steps.
    assert (plan.micro_batches_per_epoch, plan.steps_per_epoch, plan.total_steps) == (9, 2, 4)
    for epoch in (0, 1):
        assert _epoch_rows(plan, epoch) == Counter({(i,): 1 for i in range(17)})


def test_short_last_step_gets_zero_weight_fillers_not_repeats():
    plan = _plan(world_size=2)
    last = [plan.step_micro_batches(1, rank) for rank in (0, 1)]
    assert sum(m is None for micros in last for m in micros) == 3  # 12 slots, 9 micro-batches


def test_order_depends_only_on_seed_and_epoch():
    assert _plan().step_example_indices(0) == _plan().step_example_indices(0)
    assert _plan().step_example_indices(0) != _plan(seed=1).step_example_indices(0)
    assert _plan().epoch_micro_batches(0) != _plan().epoch_micro_batches(1)


def test_max_steps_wins_over_epochs_and_cycles_the_data():
    plan = _plan(max_steps=7)
    assert plan.total_steps == 7
    assert plan.epoch_of(6) == 6 // plan.steps_per_epoch


def test_fingerprint_changes_with_batch_layout():
    ids = [f"s:{i}" for i in range(17)]
    assert _plan().fingerprint(ids) == _plan().fingerprint(ids)
    assert _plan().fingerprint(ids) != _plan(grad_accum=2).fingerprint(ids)
