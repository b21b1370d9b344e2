"""Amnesiac unlearning for your own algorithm: the worked example of docs/unlearning.md
(tests/unit/test_examples.py runs it).

`L2Anchor` is an ordinary algorithm (finetuning plus a pull towards the backbone as it was after the
latest task). Unlearning needs no new class: `Amnesiac(L2Anchor(model, params))` records and removes
each task's update, and L2Anchor's two optional unlearning methods say what else to drop (`forget`: the
anchors of unlearned tasks) and how to undo its end-of-task step (`reopen_task`, for `retain unlearn`).
"""

from dataclasses import dataclass

import torch

from retain.algorithms.base import Algorithm, classification_terms
from retain.config import TrainConfig
from retain.models import MLP, ContinualModel
from retain.scenarios.builders import split_by_class
from retain.scenarios.setting import make_heads
from retain.scenarios.sources import SourceData
from retain.scenarios.task import Benchmark
from retain.training.loop import run_sequence
from retain.unlearning import Amnesiac


@dataclass(frozen=True)
class L2Params:
    """l2_lambda: λ, weight of the pull towards the anchor."""

    l2_lambda: float = 1.0

    def __post_init__(self) -> None:
        if self.l2_lambda < 0:
            raise ValueError(f"l2_lambda = {self.l2_lambda} is not valid: must be >= 0")


class L2Anchor(Algorithm):
    """loss = CE(logits_t(x), y) + λ/2 · ‖θ_backbone − θ*‖², θ* the backbone after the latest kept task."""

    Params = L2Params

    def __init__(self, model, params=None) -> None:
        super().__init__(model, params)
        self.anchors: dict[int, dict[str, torch.Tensor]] = {}  # task id after which it was taken

    def training_step(self, batch, task):
        terms = classification_terms(self.model(batch.x, task.id), batch.y)
        if self.anchors:
            anchor = self.anchors[max(self.anchors)]
            penalty = sum(((p - anchor[n]) ** 2).sum() for n, p in self.model.backbone.named_parameters())
            terms["loss"] = terms["loss"] + self.params.l2_lambda / 2 * penalty
            terms["l2_penalty"] = penalty.detach()
        return terms

    def on_task_end(self, task) -> None:
        self.anchors[task.id] = {n: p.detach().clone() for n, p in self.model.backbone.named_parameters()}

    # What unlearning needs besides the weights (the amnesiac wrapper calls these):
    def forget(self, task_ids) -> None:
        """The anchor taken after an unlearned task holds that task: drop it."""
        for u in task_ids:
            self.anchors.pop(u, None)

    def reopen_task(self, task_id) -> None:
        """Undo `on_task_end` of the last task (`retain unlearn` redoes it after unlearning)."""
        self.anchors.pop(task_id, None)

    def state_dict(self):
        return {"anchors": {t: dict(a) for t, a in self.anchors.items()}}

    def load_state_dict(self, state) -> None:
        self.anchors = {int(t): dict(a) for t, a in state["anchors"].items()}


def three_tasks() -> Benchmark:
    """3 TIL tasks × 2 classes of random 8×8 images (any Benchmark will do)."""
    gen = torch.Generator().manual_seed(0)
    y_train, y_test = torch.arange(6).repeat(40), torch.arange(6).repeat(10)
    x_train = torch.randint(0, 256, (len(y_train), 1, 8, 8), generator=gen, dtype=torch.uint8)
    x_test = torch.randint(0, 256, (len(y_test), 1, 8, 8), generator=gen, dtype=torch.uint8)
    source = SourceData("random", x_train, y_train, x_test, y_test, num_classes=6)
    tasks = split_by_class(source, "til", num_tasks=3, order=[0, 1, 2, 3, 4, 5])
    mean, std = source.channel_stats()
    return Benchmark("split_random", "til", tuple(tasks), source.input_shape, mean, std)


def main(requests=None) -> Amnesiac:
    """Train the sequence; `requests` {after task: [tasks]} unlearns during the run."""
    benchmark = three_tasks()
    torch.manual_seed(0)
    backbone = MLP(benchmark.input_shape, (64,))
    model = ContinualModel(backbone, make_heads("til", backbone.output_dim))
    algorithm = Amnesiac(L2Anchor(model, L2Params(l2_lambda=0.5)))
    algorithm.schedule(requests or {})  # in-run requests, e.g. {3: [2]}: after task 3, unlearn task 2
    run_sequence(algorithm, benchmark, TrainConfig(epochs=2), torch.Generator().manual_seed(0), torch.device("cpu"))
    return algorithm


if __name__ == "__main__":
    in_run = main({3: [2]})  # unlearn task 2 right after task 3
    later = main()  # or afterwards, on the finished run (what `retain unlearn` does)
    later.unlearn_after(three_tasks().task(3), [2])
    print(
        sorted(in_run.inner.anchors),
        all(torch.equal(a, b) for a, b in zip(in_run.model.state_dict().values(), later.model.state_dict().values())),
    )
