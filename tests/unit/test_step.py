"""One optimisation step: the non-finite policy (`train.on_nan`) and the epoch's tally of logged terms."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from retain.algorithms.base import Algorithm
from retain.config import TrainConfig
from retain.errors import NumericalError
from retain.training.batch import Batch
from retain.training.distributed import Distributed
from retain.training.step import EpochTally, Step

TASK = SimpleNamespace(id=3)
CPU = torch.device("cpu")


class Scripted(Algorithm):
    """A one-weight model whose loss is made non-finite at chosen steps."""

    def __init__(self, bad_steps):
        super().__init__(torch.nn.Linear(1, 1, bias=False))
        self.bad, self.calls = set(bad_steps), 0

    def training_step(self, batch, task):
        loss = self.model(batch.x).mean()
        if self.calls in self.bad:
            loss = loss * float("nan")
        self.calls += 1
        return {"loss": loss, "preds": batch.y}


def run_steps(on_nan, bad_steps, steps=4, size=2):
    algo = Scripted(bad_steps)
    step = Step(algo, TrainConfig(on_nan=on_nan), Distributed(), CPU)
    tally = EpochTally(CPU, torch.Generator().get_state(), {}, 0, 0)
    weights = [algo.model.weight.detach().clone()]  # before the first step, then after each
    for i in range(steps):
        step(Batch(torch.ones(size, 1), torch.zeros(size, dtype=torch.long)), TASK, i, tally)
        weights.append(algo.model.weight.detach().clone())
    return step, tally, weights


@pytest.mark.parametrize("first", [0, 2])
def test_stop_raises_at_the_end_of_the_epoch_naming_the_first_non_finite_step(first):
    step, tally, weights = run_steps("stop", {first})
    assert not torch.isfinite(weights[-1]).all()  # the bad update was applied: the epoch is not kept
    with pytest.raises(NumericalError, match=f"task 3, epoch 5, step {first + 1} "):
        step.epoch_terms(tally, TASK, 5)


def test_skip_batch_leaves_the_weights_alone_and_counts_the_skipped_batch():
    step, tally, weights = run_steps("skip_batch", {1})
    assert not torch.equal(weights[1], weights[0]) and torch.equal(weights[2], weights[1])
    terms = step.epoch_terms(tally, TASK, 1)
    assert terms["skipped_batches"] == 1.0 and tally.counted == 6 and math.isfinite(terms["loss"])
    assert "preds" not in terms


def test_a_finite_epoch_logs_the_sample_weighted_mean_of_each_term():
    step, tally, weights = run_steps("stop", set(), steps=2, size=3)
    terms = step.epoch_terms(tally, TASK, 1)
    # inputs are ones, so each step's loss is the weight before it
    assert tally.counted == 6 and set(terms) == {"loss"}
    assert terms["loss"] == pytest.approx((weights[0].item() + weights[1].item()) / 2)
