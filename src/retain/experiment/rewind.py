"""Exact unlearning by rewind (`unlearning.method: rewind`), for any algorithm.

A request after task t to unlearn U restores the checkpoint taken after the last task before min(U) and
trains the following tasks again without U, as if they had never been seen: from there on the run *is*
the retrain reference (the sequence `benchmark.without(U)`, same seed), so its model equals the retrain
reference trained from scratch bit for bit on the CPU. Nothing before min(U) depended on U, so the
checkpoint after task min(U) − 1 is also a state of the reference run (the same weights, algorithm state
and random states); with min(U) = 1 the rewind starts from the seeded initial model, as the reference does.

The rewound run lives in the reference's task numbering (its *world*: the benchmark without every task
unlearned so far); its checkpoints go to `RUN/rewind/without-<ids>/checkpoints/`, so that a later request
can rewind again. Each accuracy-matrix row stays in the run's numbering: a retained task is tested with
its world head; an unlearned task, which the world has no head for, with the shared head in DIL, with a
freshly initialised (never trained) head in TIL, and scores 0 in CIL (the model has no output for its
classes). Which checkpoints it needs, and the checks before training: `retain.experiment.restore_points`.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from retain.algorithms.base import Algorithm
from retain.config import Config, config_to_dict
from retain.errors import RunInterrupted
from retain.experiment.build import build_algorithm
from retain.experiment.restore_points import REWIND, checkpoint_before, kept_ids
from retain.runs.checkpoint import CheckpointSession, load_checkpoint, restore_rng, task_checkpoints
from retain.runs.loggers import Loggers
from retain.runs.signals import stop_on_signals
from retain.runs.store import RunFolder, set_aside
from retain.scenarios.setting import head_is_shared
from retain.scenarios.task import Benchmark
from retain.training.data import test_batches
from retain.training.evaluate import accuracy
from retain.training.loop import LoopLogger, ResumePoint, SequenceResult, run_sequence
from retain.unlearning.evaluate import reference_config

StepHook = Callable[[int, int, int], None]
WORLDS = "rewind"  # RUN/rewind/without-<ids>/: the checkpoints of each rewound sequence


def unwrap_state(state: dict[str, Any], algorithm: Algorithm | None = None) -> dict[str, Any]:
    """A checkpoint's algorithm state for `algorithm` (None: a plain one): the inner state of an unlearning
    wrapper (its records of tasks before min(U) are not part of a plain run) unless `algorithm` is wrapped."""
    wrapped = {"records", "inner"} <= set(state)
    return state["inner"] if wrapped and not hasattr(algorithm, "inner") else state


def restore_point(
    path: Path, algorithm: Algorithm, world: Benchmark, generator: torch.Generator, device: torch.device
) -> ResumePoint:
    """Put the state of the task checkpoint `path` into `algorithm` (built for `world`) and `generator`."""
    checkpoint = load_checkpoint(path)
    done = checkpoint["tasks_done"]
    model = algorithm.model.to(device)
    for task in world.tasks[:done]:
        model.heads.setup_task(task.id, task.num_classes)
    model.heads.to(device)
    model.load_state_dict(checkpoint["model"])
    algorithm.load_state_dict(unwrap_state(checkpoint["algorithm"], algorithm))
    restore_rng(checkpoint["rng"], generator)  # last: building the model and heads drew from the torch RNG
    rows = [list(r) for r in checkpoint["accuracy_matrix"]]
    return ResumePoint(SequenceResult(rows, list(checkpoint["train_seconds_per_task"])))


def truncated(world: Benchmark, last_origin: int) -> Benchmark:
    """`world` up to the task whose original id is `last_origin`."""
    return dataclasses.replace(world, tasks=tuple(t for t in world.tasks if t.origin <= last_origin))


@dataclass
class RowMaker:
    """Accuracy-matrix rows in the run's numbering, from a model that lives in `world`'s."""

    benchmark: Benchmark
    world: Benchmark
    algorithm: Algorithm
    device: torch.device
    batch_size: int
    seed: int

    def row(self, upto: int, seen: int) -> list[float]:
        """Accuracies on the run's tasks 1..`upto` after `seen` world tasks."""
        ids = {t.origin: t.id for t in self.world.tasks}
        out = []
        for task in self.benchmark.tasks[:upto]:
            if task.origin in ids:  # the world's copy of the task: CIL labels are the world's class indices
                test = test_batches(self.world.task(ids[task.origin]), self.world, self.device)
                out.append(accuracy(self.algorithm, test, ids[task.origin], seen, self.batch_size))
            else:
                test = test_batches(task, self.benchmark, self.device)
                out.append(self._unlearned(test, task.num_classes, task.id, seen))
        return out

    def _unlearned(self, test: Any, num_classes: int, task_id: int, seen: int) -> float:
        scenario = self.benchmark.scenario
        if head_is_shared(scenario):
            return accuracy(self.algorithm, test, seen, seen, self.batch_size)
        if scenario == "cil":
            return 0.0  # no output of the world's model is one of the task's classes
        model = self.algorithm.model
        with torch.random.fork_rng(devices=[]):  # the run's random state is left as it was
            torch.manual_seed(self.seed + task_id)
            head = nn.Linear(model.heads.input_dim, num_classes).to(self.device)
        was_training = model.training
        model.eval()
        with torch.no_grad():
            correct = sum(
                int((head(model.features(b.x, seen)).argmax(1) == b.y).sum()) for b in test.in_order(self.batch_size)
            )
        model.train(was_training)
        return correct / max(len(test), 1)


@dataclass
class _Rows(LoopLogger):
    """After world task j, the run's rows from its original id up to the next world task's (a row for an
    unlearned task comes from the model after the last task before it); notes when the first was given."""

    maker: RowMaker
    first: int  # the first run row this segment gives (the request's task)
    stop: int  # the last
    rows: dict[int, list[float]] = field(default_factory=dict)
    first_at: float | None = None  # perf_counter when row `first` was given

    def emit(self, seen: int) -> None:
        world = self.maker.world.tasks
        origin = world[seen - 1].origin if seen else 0
        following = world[seen].origin if seen < len(world) else self.stop + 1
        for s in range(max(origin, self.first), min(following - 1, self.stop) + 1):
            self.rows[s] = self.maker.row(s, seen)
            if s == self.first:
                self.first_at = time.perf_counter()

    def on_evaluation(self, after_task: int, accuracies: list[float]) -> None:
        self.emit(after_task)


@dataclass
class RewindCost:
    """What one rewind cost: seconds from the request to its row (restoring and retraining), and the bytes
    of the task checkpoints kept so far for rewinding."""

    after_task: int
    tasks: list[int]
    restored_after_task: int
    retrained_tasks: list[int]
    seconds: float
    checkpoint_bytes: int


@dataclass
class Rewound:
    """A rewinding run so far: rows in the run's numbering, the current world's algorithm and benchmark,
    the folder holding its checkpoints, and the cost of each rewind."""

    result: SequenceResult
    algorithm: Algorithm
    world: Benchmark
    folder: RunFolder
    costs: list[RewindCost] = field(default_factory=list)
    earlier: tuple[tuple[Path, Benchmark], ...] = ()  # the checkpoint folders (and worlds) rewound from


def checkpoint_bytes(root: Path) -> int:
    """Bytes of every task checkpoint of the run in `root`, those of its rewound worlds included."""
    folders = [root, *sorted((root / WORLDS).glob("without-*"))]
    return sum(p.stat().st_size for f in folders for p in task_checkpoints(f / "checkpoints").values())


def rewind(cfg: Config, benchmark: Benchmark, start: Rewound, request: tuple[int, Sequence[int]], stop: int,
           root: Path, device: torch.device, step_hook: StepHook | None = None) -> Rewound:  # fmt: skip
    """Serve `request` = (after, tasks) on the run so far (`start`): restore the checkpoint of its world
    before min(tasks), then train the world without every unlearned task up to the run's task `stop`."""
    after, tasks = request
    clock = time.perf_counter()
    unlearned = sorted(({t.origin for t in benchmark.tasks} - {t.origin for t in start.world.tasks}) | set(tasks))
    k, path = checkpoint_before(start.folder.path / "checkpoints", start.world, min(tasks), start.earlier)
    ref_cfg = reference_config(cfg, tuple(unlearned))
    world = benchmark.without(unlearned)
    algorithm = build_algorithm(ref_cfg, benchmark.input_shape)  # seeds the initial model, as the reference
    generator = torch.Generator().manual_seed(cfg.seed)
    point = restore_point(path, algorithm, world, generator, device) if path else ResumePoint()
    folder = RunFolder(root / WORLDS / f"without-{'-'.join(map(str, unlearned))}")
    keep, keep_ids = cfg.checkpoint.keep, kept_ids(cfg, world)  # the run's policy, in this world's numbering
    session = CheckpointSession(folder, config_to_dict(ref_cfg), 0, keep, step_hook=step_hook, keep_ids=keep_ids)
    rows = _Rows(RowMaker(benchmark, world, algorithm, device, cfg.train.eval_batch_size, cfg.seed), after, stop)
    retrained = [t.origin for t in world.tasks[k:] if t.origin <= after]
    if not retrained:
        rows.emit(k)  # nothing to retrain before the request's row (e.g. {3: [3]})
    try:
        with stop_on_signals(session):
            segment = run_sequence(
                algorithm, truncated(world, stop), cfg.train, generator, device, Loggers(rows), session, point
            )
    except RunInterrupted as err:  # the run resumes as a whole, redoing its rewinds (see `redo_rewinds`)
        raise err.resumed_by(
            f", while rewinding for the request after task {after}", f"retain run --resume {root}"
        ) from None
    finally:
        folder.release()  # the run's own folder stays locked by the run; this world's checkpoints are done
    assert rows.first_at is not None  # the request's row is always given
    seconds = [*start.result.train_seconds_per_task[:after], *segment.train_seconds_per_task[k + len(retrained) :]]
    matrix = [*start.result.accuracy_matrix[: after - 1], *(rows.rows[s] for s in range(after, stop + 1))]
    cost = RewindCost(after, list(tasks), k, retrained, rows.first_at - clock, checkpoint_bytes(root))
    earlier = (*start.earlier, (start.folder.path / "checkpoints", start.world))
    result = SequenceResult(matrix, seconds, segment.data_path)
    return Rewound(result, algorithm, world, folder, [*start.costs, cost], earlier)


def redo_rewinds(root: Path) -> Path | None:
    """Before a resumed run serves its requests: set aside the worlds of rewinds an interruption cut short
    (`RUN/rewind` → `RUN/rewind.partial-N`). A rewind is exact (its result is the retrain reference's,
    bit for bit), so doing it again from the run's own checkpoints gives the same rows; only its measured
    cost is that of the second attempt. Returns where they went (None: there were none)."""
    worlds = root / WORLDS
    return set_aside(worlds, "partial") if worlds.exists() else None


def rewind_all(
    cfg: Config, benchmark: Benchmark, start: Rewound, device: torch.device, step_hook: StepHook | None = None
) -> Rewound:
    """Serve every request of `cfg` in turn on `start`, the run trained up to the first request (in the
    run folder `start.folder`): each rewind trains up to the next request, the last to the end.
    `step_hook` is called before every step of the rewinds (world task ids; for tests)."""
    requests = sorted(cfg.unlearning.requests.items())
    root = start.folder.path
    for i, request in enumerate(requests):
        stop = requests[i + 1][0] if i + 1 < len(requests) else benchmark.num_tasks
        start = rewind(cfg, benchmark, start, request, stop, root, device, step_hook)
    return start


def rewind_costs(rewound: Rewound) -> dict[str, Any]:
    """The cost part of `unlearning.json` for a rewinding run: seconds and checkpoint bytes per request."""
    per_request = [dataclasses.asdict(c) for c in rewound.costs]
    return {
        "method": REWIND,
        "seconds": sum(c.seconds for c in rewound.costs),
        "bytes_kept": max(c.checkpoint_bytes for c in rewound.costs),
        "per_request": per_request,
    }
