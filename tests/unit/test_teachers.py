"""LwF's `Teachers`: stacked (vmapped) per-task teachers, merged targets and the per-task target cache,
each against a plain loop over frozen teachers."""

import copy

import pytest
import torch

from retain.algorithms import LwF, LwFParams
from retain.algorithms import teachers as teachers_module
from retain.algorithms.base import TrainingData
from retain.algorithms.teachers import StackedBackbones, distilled_heads
from retain.config import TrainConfig
from retain.experiment.build import config_from_dict
from retain.models import ContinualModel, SmallCNN
from retain.scenarios.setting import make_heads
from retain.training.data import DeviceBatches
from retain.training.loop import run_sequence
from tests.conftest import tiny_benchmark, tiny_model
from tests.unit.test_lwf_oracle import distance, head_logits


def lwf_with_teachers(scenario="til", plain=None, **params):
    """An LwF after three tasks whose student has moved away from each teacher; `plain` (a dict), when
    given, receives an independent frozen copy of the model at each task's end, keyed by the task."""
    torch.manual_seed(0)
    bench = tiny_benchmark(scenario, num_tasks=4)
    algo = LwF(tiny_model(scenario), LwFParams(**params))
    for task in bench.tasks[:3]:
        algo.model.heads.setup_task(task.id, task.num_classes)
        algo.on_task_end(task)
        if plain is not None:
            plain[task.id] = copy.deepcopy(algo.model).eval().requires_grad_(False)
        with torch.no_grad():
            for p in algo.model.parameters():
                p.add_(0.2 * torch.randn_like(p))
    task = bench.tasks[3]
    algo.model.heads.setup_task(task.id, task.num_classes)
    return algo, bench, task


def test_stacked_backbones_match_one_by_one():
    torch.manual_seed(0)
    nets = [SmallCNN((1, 8, 8), (4,)).eval() for _ in range(3)]
    x = torch.randn(5, 1, 8, 8)
    expected = torch.stack([n(x) for n in nets]).detach()
    stacked = StackedBackbones(nets)
    torch.testing.assert_close(stacked(x), expected)
    # the snapshots now read their weights from the stack: no second copy of the teachers exists
    for i, net in enumerate(nets):
        for name, param in net.named_parameters():
            assert param.data_ptr() == stacked.params[name][i].data_ptr()
    torch.testing.assert_close(torch.stack([n(x) for n in nets]).detach(), expected)


def test_batched_teacher_logits_equal_the_loop(scenario):
    batched, bench, task = lwf_with_teachers(scenario, batch_teachers=True)
    looped, _, _ = lwf_with_teachers(scenario, batch_teachers=False)
    assert batched.teachers.stack is not None and looped.teachers.stack is None
    x = torch.randn(6, 1, 4, 4)
    for (p, a), (q, b) in zip(batched.teachers.logits(x), looped.teachers.logits(x)):
        assert p == q
        torch.testing.assert_close(a, b)


def test_batching_is_automatic_on_cuda_and_for_linear_backbones_on_the_cpu():
    algo, _, _ = lwf_with_teachers()  # batch_teachers: auto, on the CPU, MLP teachers: batched matmuls
    assert algo.teachers.stack is not None and algo.teachers.stack.layers is not None
    torch.manual_seed(0)
    bench = tiny_benchmark("til", num_tasks=3)
    algo = LwF(ContinualModel(SmallCNN((1, 4, 4), (2,)), make_heads("til", 256)))
    for task in bench.tasks[:2]:
        algo.model.heads.setup_task(task.id, task.num_classes)
        algo.on_task_end(task)
    assert algo.teachers.stack is None  # a CNN: vmap measured slower than the loop on the CPU


def test_dil_student_logits_are_computed_once_for_every_teacher():
    algo, bench, task = lwf_with_teachers("dil", batch_teachers=False, cache_teacher=False)
    calls = {"n": 0}
    algo.model.heads.heads[0].register_forward_hook(lambda *a: calls.__setitem__("n", calls["n"] + 1))
    algo.training_step(next(data_of(bench, task).shuffled(8, torch.Generator().manual_seed(0))), task)
    assert len(algo.teachers) == 3 and calls["n"] == 1  # the shared head runs once: its logits serve all teachers


def test_forget_restacks_without_the_teacher():
    algo, _, _ = lwf_with_teachers(batch_teachers=True)
    algo.forget([2])
    assert algo.teachers.stack.size == 2 and sorted(algo.teachers) == [1, 3]


def count_teacher_calls(algo):
    calls = {"n": 0}
    for snap in algo.teachers.values():
        snap.backbone.register_forward_hook(lambda *a: calls.__setitem__("n", calls["n"] + 1))
    return calls


def data_of(bench, task, augment=False):
    return DeviceBatches(TrainingData(task.x_train, task.y_train), bench.mean, bench.std, torch.device("cpu"), augment)


def test_cache_records_teacher_outputs_once_and_matches_live_teachers():
    algo, bench, task = lwf_with_teachers(batch_teachers=False)
    data = data_of(bench, task)
    gen = torch.Generator().manual_seed(0)
    batch = next(data.shuffled(8, gen))
    live = algo.training_step(batch, task)["distillation_reg"]
    calls = count_teacher_calls(algo)
    algo.on_training_data(data)
    recorded = calls["n"]
    assert recorded > 0 and algo.teachers.cache is not None
    cached = algo.training_step(batch, task)["distillation_reg"]
    assert calls["n"] == recorded  # no teacher forward during training
    torch.testing.assert_close(cached, live)


@pytest.mark.parametrize(
    "mode,augmented,expect_cache",
    [
        ("auto", False, True),
        ("auto", True, False),
        (True, True, True),
        (False, False, False),
    ],
)
def test_cache_modes(mode, augmented, expect_cache):
    algo, bench, task = lwf_with_teachers(cache_teacher=mode)
    algo.on_training_data(data_of(bench, task, augmented))
    assert (algo.teachers.cache is not None) == expect_cache


def test_cache_and_batching_leave_the_accuracy_matrix_unchanged():
    def matrix(**params):
        torch.manual_seed(0)
        bench = tiny_benchmark("dil", num_tasks=4, construction="permuted")  # old tasks are partly forgotten
        algo = LwF(tiny_model("dil"), LwFParams(**params))
        result = run_sequence(
            algo, bench, TrainConfig(epochs=2, batch_size=8), torch.Generator().manual_seed(0), torch.device("cpu")
        )
        return result.accuracy_matrix

    reference = matrix(cache_teacher=False, batch_teachers=False)
    assert min(v for row in reference for v in row) < 0.9  # a matrix that a wrong target would move
    for params in ({"cache_teacher": True, "batch_teachers": False}, {"batch_teachers": True, "cache_teacher": False}):
        got = matrix(**params)
        assert [len(r) for r in got] == [1, 2, 3, 4]
        assert got == reference


def test_cache_teacher_config_values():
    for text, value in (("auto", "auto"), (True, True), (False, False)):
        cfg = config_from_dict({"algorithm": {"name": "lwf", "cache_teacher": text}})
        assert cfg.algorithm.params.cache_teacher == value
    with pytest.raises(ValueError, match="cache_teacher"):
        config_from_dict({"algorithm": {"name": "lwf", "cache_teacher": "sometimes"}})


def test_stacked_backbones_carry_batchnorm_statistics():
    """The CUDA default stacks ResNet-18 teachers: their BatchNorm running statistics must be used."""
    from retain.models import ResNet18

    torch.manual_seed(0)
    nets = [ResNet18((3, 32, 32)).eval() for _ in range(2)]
    for net in nets:
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = torch.stack([n(x) for n in nets])
    torch.testing.assert_close(StackedBackbones(nets)(x), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("distance,terms", [("cross_entropy", 1), ("kl", 3), ("mse", 3)])
def test_dil_cache_holds_the_merged_targets_and_matches_live_teachers(distance, terms):
    """Three DIL teachers distil the shared head: cross-entropy caches one summed probability tensor,
    the other distances one target per teacher; either way the cached loss is the live one."""
    algo, bench, task = lwf_with_teachers("dil", batch_teachers=False, distance=distance)
    data = data_of(bench, task)
    batch = next(data.shuffled(8, torch.Generator().manual_seed(0)))
    live = algo.training_step(batch, task)["distillation_reg"]
    algo.on_training_data(data)
    heads, targets = zip(*algo.teachers.cache.terms())
    assert len(set(heads)) == 1  # one student output, the shared head, for every term
    assert len(targets) == terms and all(t.shape == (len(task.y_train), task.num_classes) for t in targets)
    if distance == "cross_entropy":  # the summed probabilities of three teachers
        torch.testing.assert_close(targets[0].sum(dim=1), torch.full((len(task.y_train),), 3.0))
    torch.testing.assert_close(algo.training_step(batch, task)["distillation_reg"], live)


def model_bytes(model):
    return sum(t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers()))


@pytest.mark.parametrize("teacher,copies", [("per_task", 3), ("previous", 1)])
@pytest.mark.parametrize("batch_teachers", [False, True])
def test_teachers_hold_one_model_copy_each_and_nothing_more(teacher, copies, batch_teachers):
    """Memory target: `previous` keeps one copy whatever T; `per_task` one per finished task (stacking
    re-points the snapshots at the stack, so it adds no second copy)."""
    algo, bench, task = lwf_with_teachers("dil", teacher=teacher, batch_teachers=batch_teachers)
    one_copy = model_bytes(algo.teachers[max(algo.teachers)])
    assert algo.memory_bytes() == {"teachers": copies * one_copy, "cache": 0}
    algo.on_training_data(data_of(bench, task))  # DIL, cross-entropy: one (N, K) float tensor
    assert algo.memory_bytes()["cache"] == len(task.y_train) * task.num_classes * 4


def plain_loop(plain, teacher, scenario):
    """(frozen copy, old head id) for every distillation term, from the paper's description alone:
    `per_task` pairs head p with the copy after task p; `previous` the last copy with every old TIL
    head, or the one DIL/CIL head that covers every class seen."""
    if teacher == "per_task":
        return [(copy_p, p) for p, copy_p in sorted(plain.items())]
    last = max(plain)
    return [(plain[last], p) for p in (range(1, last + 1) if scenario == "til" else [last])]


@pytest.mark.parametrize("teacher", ["per_task", "previous"])
@pytest.mark.parametrize("cached", [False, True])
@pytest.mark.parametrize("stacked", [False, True])
def test_teachers_give_the_numbers_of_the_plain_loop(scenario, teacher, cached, stacked, monkeypatch):
    """The component's targets, and the eq.-3 sum over them, against a from-scratch loop over frozen
    copies of the teachers (raw weights, no heads, stack, merge or cache of the library)."""
    monkeypatch.setattr(teachers_module, "CACHE_BATCH", 8)  # the cache is recorded in several chunks
    plain = {}
    algo, bench, task = lwf_with_teachers(
        scenario, plain, teacher=teacher, batch_teachers=stacked, cache_teacher=cached, distillation_reg_factor=0.7
    )
    teachers = algo.teachers
    assert (teachers.stack is not None) == (stacked and teacher == "per_task")
    data = data_of(bench, task)
    teachers.record(data)
    assert (teachers.cache is not None) == cached
    batch = next(data.shuffled(16, torch.Generator().manual_seed(0)))  # rows other than the first
    if cached:  # the cache must be what is read: live teachers that moved would then give other numbers
        for snap in teachers.values():
            for h in snap.heads.heads:
                h.bias.data.add_(torch.randn_like(h.bias))
    terms = teachers.targets(batch.x, batch.index)

    expected: dict[int, torch.Tensor] = {}  # head id -> the teachers' summed softened probabilities
    reg = 0.0
    with torch.no_grad():
        student_features = algo.model.backbone(batch.x)
        for copy_p, p in plain_loop(plain, teacher, scenario):
            teacher_logits = head_logits(copy_p, copy_p.backbone(batch.x), scenario, p)
            key = 0 if scenario == "dil" else p
            probabilities = torch.exp(teacher_logits / 2.0) / torch.exp(teacher_logits / 2.0).sum(dim=1, keepdim=True)
            expected[key] = expected.get(key, 0) + probabilities  # (B, K), eq. 3 at T = 2
            student_logits = head_logits(algo.model, student_features, scenario, p)
            reg += 0.7 * distance(student_logits, teacher_logits, "cross_entropy").item()

    got: dict[int, torch.Tensor] = {}
    for p, target in terms.terms():
        key = 0 if scenario == "dil" else p
        got[key] = got.get(key, 0) + target
    assert sorted(got) == sorted(expected)
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], rtol=1e-5, atol=1e-6)
    assert len(terms.heads) == (1 if scenario == "dil" else len(expected))  # DIL: the teachers' targets merged
    with torch.no_grad():
        features = algo.model.features(batch.x, task.id)
        logits = algo.model.heads(features, task.id)
        student = algo.old_logits(batch.x, features, logits, terms.heads)
        total = algo.distill.loss_sum(student, terms.target, terms.widths).item()
    assert reg > 1e-3 and total == pytest.approx(reg, rel=1e-5)


@pytest.mark.parametrize("scenario,expected", [("til", [1, 2]), ("dil", [2]), ("cil", [2])])
def test_a_previous_teacher_distils_every_old_til_head_or_the_last_one(scenario, expected):
    model = tiny_model(scenario)
    for t in (1, 2):
        model.heads.setup_task(t, 2 if scenario != "dil" else 4)
    assert distilled_heads(model, 2) == expected


def test_teachers_read_as_a_mapping_of_the_snapshots():
    algo, _, _ = lwf_with_teachers(teacher="per_task")
    assert sorted(algo.teachers) == [1, 2, 3] and len(algo.teachers) == 3 and 2 in algo.teachers
    assert dict(algo.teachers.items()) == {p: algo.teachers[p] for p in (1, 2, 3)}
