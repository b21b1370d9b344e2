"""Amnesiac bookkeeping and deletion, and the wrapper around any algorithm."""

import copy

import pytest
import torch

from retain.algorithms import Joint, LwF, LwFParams
from retain.config import TrainConfig
from retain.training.loop import run_sequence
from retain.unlearning import Amnesiac, AmnesiacFinetuning, AmnesiacIndependent, AmnesiacLwF, UpdateRecorder, protocol
from tests.conftest import tiny_benchmark, tiny_model


def train(algo, num_tasks=3, scenario="til", requests=None, epochs=2):
    bench = tiny_benchmark(scenario, num_tasks=num_tasks, construction="permuted")
    if requests:
        algo.schedule(requests)
    cfg = TrainConfig(epochs=epochs, batch_size=8)
    return run_sequence(algo, bench, cfg, torch.Generator().manual_seed(0), torch.device("cpu")), bench


def params(model):
    return {n: p.detach().clone() for n, p in model.named_parameters()}


@pytest.mark.parametrize("cls", [AmnesiacFinetuning, AmnesiacLwF])
def test_unlearning_subtracts_exactly_the_recorded_update(cls, scenario):
    torch.manual_seed(0)
    algo = cls(tiny_model(scenario))
    train(algo, scenario=scenario)
    before = params(algo.model)
    delta = {n: d.clone() for n, d in algo.recorder.updates[2].items()}
    start, end = algo.recorder.records[2]["start"], algo.recorder.records[2]["end"]
    assert delta and any(d.abs().sum() > 0 for d in delta.values())
    algo.unlearn([2])
    after = params(algo.model)
    subtracted = restored = 0
    for name, value in before.items():
        if name not in delta:
            expected = value
        elif torch.equal(value, end[name]):  # untouched since task 2 ended (e.g. TIL head 2): exact start
            expected, restored = start[name], restored + 1
        else:
            expected, subtracted = value - delta[name], subtracted + 1
        assert torch.equal(after[name], expected), name
    assert subtracted > 0  # the backbone, which task 3 trained on top of task 2
    if scenario == "til":
        assert restored > 0  # head 2, which only task 2 trained
    assert 2 not in algo.recorder.updates and sorted(algo.recorder.updates) == [1, 3]
    assert algo.unlearned == [2]


@pytest.mark.parametrize("order", [[1, 3], [3, 1]])
def test_unlearning_several_tasks_subtracts_every_one_of_their_updates(order, scenario):
    """θ ← θ − Δθ_1 − Δθ_3 with the updates taken from the records beforehand (an oracle that does not
    go through `delete`); the exact-restore rule may change the last bits only."""
    torch.manual_seed(0)
    algo = AmnesiacFinetuning(tiny_model(scenario))
    train(algo, scenario=scenario)
    before = params(algo.model)
    updates = {u: {n: d.clone() for n, d in algo.recorder.updates[u].items()} for u in (1, 3)}
    algo.unlearn(order)
    after = params(algo.model)
    for name, value in before.items():
        expected = value - updates[1].get(name, 0) - updates[3].get(name, 0)
        assert torch.allclose(after[name], expected, atol=1e-6), name
    backbone = [n for n in before if n.startswith("backbone.")]
    only_first = {n: before[n] - updates[order[0]][n] for n in backbone}
    assert any(not torch.allclose(after[n], only_first[n], atol=1e-4) for n in backbone)  # both were removed
    assert sorted(algo.recorder.records) == [2] and algo.unlearned == order


def test_heads_created_during_a_task_count_from_their_initial_values():
    torch.manual_seed(0)
    algo = AmnesiacFinetuning(tiny_model("til"))
    algo.model.heads.setup_task(1, 2)
    init = params(algo.model.heads)
    bench = tiny_benchmark("til", num_tasks=2)
    task = bench.tasks[0]
    algo.on_task_start(task)
    with torch.no_grad():
        for p in algo.model.parameters():
            p.add_(0.5)
    algo.on_task_end(task)
    algo.unlearn([1])
    for name, value in params(algo.model.heads).items():
        assert torch.equal(value, init[name]), name  # bit for bit: the recorded start is restored


def test_lwf_deletes_the_teacher_of_an_unlearned_task():
    torch.manual_seed(0)
    algo = AmnesiacLwF(tiny_model("til"))
    train(algo, num_tasks=3, requests={3: [2]})
    assert sorted(algo.inner.teachers) == [1, 3]


def test_lwf_deletes_the_teacher_of_every_task_of_a_multi_task_request():
    torch.manual_seed(0)
    algo = AmnesiacLwF(tiny_model("til"))
    train(algo, num_tasks=3, requests={3: [1, 2]})
    assert sorted(algo.inner.teachers) == [3]


def test_no_teacher_is_kept_for_the_task_unlearned_at_its_own_end(scenario):
    """{3: [3]}: the unlearned model is a copy of task 3's unlearning, not a teacher of task 3; later tasks
    distil tasks 1 and 2 only (with a teacher 3 kept, DIL would count teacher 2 twice)."""
    torch.manual_seed(0)
    algo = AmnesiacLwF(tiny_model(scenario))
    train(algo, num_tasks=4, scenario=scenario, requests={3: [3]})
    assert sorted(algo.inner.teachers) == [1, 2, 4]
    assert sorted(p for _, heads in algo.inner.teachers.pairs() for p in heads) == [1, 2, 4]


def test_a_previous_teacher_after_unlearning_the_last_task_is_keyed_by_the_last_task_learnt(scenario):
    torch.manual_seed(0)
    algo = AmnesiacLwF(tiny_model(scenario), LwFParams(teacher="previous"))
    train(algo, num_tasks=3, scenario=scenario, requests={3: [3]})
    ((after, teacher),) = algo.inner.teachers.items()
    assert after == 2  # it distils what the retrain reference's teacher after task 2 distils
    for (name, p), (_, q) in zip(algo.model.named_parameters(), teacher.named_parameters()):
        assert torch.equal(p, q), name  # the snapshot is the unlearned model
    state = algo.state_dict()
    again = AmnesiacLwF(copy.deepcopy(algo.model), LwFParams(teacher="previous"))
    again.load_state_dict(state)
    assert again.inner.forgotten == {3}


def test_previous_teacher_is_taken_after_unlearning():
    torch.manual_seed(0)
    algo = AmnesiacLwF(tiny_model("til"), LwFParams(teacher="previous"))
    train(algo, num_tasks=3, requests={3: [1]})
    ((after, teacher),) = algo.inner.teachers.items()
    assert after == 3
    for (name, p), (_, q) in zip(algo.model.named_parameters(), teacher.named_parameters()):
        assert torch.equal(p, q), name  # the snapshot is the unlearned model


def test_unlearning_happens_before_evaluation():
    torch.manual_seed(0)
    algo = AmnesiacFinetuning(tiny_model("til"))
    result, bench = train(algo, num_tasks=3, requests={3: [1]})
    # the row after task 3 was measured on the unlearned model: re-testing it now gives the same numbers
    from retain.algorithms.base import TrainingData
    from retain.training.data import DeviceBatches
    from retain.training.evaluate import accuracy

    for task in bench.tasks:
        data = DeviceBatches(TrainingData(task.x_test, task.y_test), bench.mean, bench.std, torch.device("cpu"))
        assert accuracy(algo, data, task.id, 3, 64) == result.accuracy_matrix[2][task.id - 1]


def test_independent_unlearning_restores_the_untrained_model():
    torch.manual_seed(0)
    algo = AmnesiacIndependent(tiny_model("til"))
    bench = tiny_benchmark("til", num_tasks=3, construction="permuted")
    initial = {}

    original_start = algo.on_task_start

    def spy(task):
        original_start(task)
        initial[task.id] = params(algo.model)

    algo.on_task_start = spy
    run_sequence(
        algo, bench, TrainConfig(epochs=2, batch_size=8), torch.Generator().manual_seed(0), torch.device("cpu")
    )
    trained = params(algo.inner.models[2])
    others = {t: params(algo.inner.models[t]) for t in (1, 3)}
    assert any(not torch.equal(trained[n], initial[2][n]) for n in trained)
    algo.unlearn([2])
    for name, value in params(algo.inner.models[2]).items():
        assert torch.equal(value, initial[2][name]), name  # bit for bit, not θ − Δθ's rounding
    for task_id, before in others.items():  # the other models are untouched
        assert all(torch.equal(before[n], p) for n, p in params(algo.inner.models[task_id]).items())


def test_the_wrapper_forwards_to_the_algorithm_it_wraps_and_refuses_a_second_wrap():
    inner = LwF(tiny_model("til"))
    algo = Amnesiac(inner)
    assert algo.inner is inner and algo.model is inner.model and algo.params is inner.params
    with pytest.raises(TypeError, match="already wrapped"):
        Amnesiac(algo)


def test_joint_leaves_an_unlearned_tasks_data_out_of_later_training():
    torch.manual_seed(0)
    algo = Amnesiac(Joint(tiny_model("cil")))
    bench = tiny_benchmark("cil", num_tasks=3)
    algo.inner.forget([1])
    data = algo.training_data(bench, bench.task(3))
    assert sorted(set(data.task_ids.tolist())) == [2, 3]
    assert len(data.y) == len(bench.task(2).y_train) + len(bench.task(3).y_train)
    fresh = Joint(tiny_model("cil"))
    fresh.load_state_dict(algo.inner.state_dict())
    assert fresh.forgotten == [1]


def test_unlearning_an_unrecorded_task_is_an_error():
    recorder = UpdateRecorder()
    with pytest.raises(ValueError, match=r"tasks \[4\]"):
        recorder.delete([4], {})


def test_state_dict_round_trip_keeps_records():
    torch.manual_seed(0)
    algo = AmnesiacFinetuning(tiny_model("til"))
    train(algo, num_tasks=3, requests={3: [2]})
    state = algo.state_dict()
    fresh = AmnesiacFinetuning(tiny_model("til"))
    fresh.load_state_dict(state)
    assert sorted(fresh.recorder.updates) == [1, 3] and fresh.unlearned == [2]
    for name, value in algo.recorder.updates[1].items():
        assert torch.equal(fresh.recorder.updates[1][name], value)


def test_a_record_from_an_older_file_holds_deltas_only_and_is_subtracted():
    torch.manual_seed(0)
    algo = AmnesiacFinetuning(tiny_model("til"))
    train(algo, num_tasks=2)
    deltas = {str(t): d for t, d in algo.recorder.updates.items()}
    before = params(algo.model)
    fresh = copy.deepcopy(algo)
    fresh.recorder.load_state_dict({"updates": deltas, "start": {}})
    fresh.unlearn([2])
    for name, value in params(fresh.model).items():
        assert torch.equal(value, before[name] - deltas["2"][name]), name


def _trained(cls, scenario, params_=None, requests=None):
    torch.manual_seed(0)
    algo = cls(tiny_model(scenario), params_)
    _, bench = train(algo, num_tasks=3, scenario=scenario, requests=requests)
    return algo, bench


def _same_module(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("teacher", ["per_task", "previous"])
@pytest.mark.parametrize("unlearned", [[2], [3], [1, 3]])
def test_unlearning_a_finished_run_equals_a_request_after_the_last_task(teacher, unlearned, scenario):
    lwf_params = LwFParams(teacher=teacher)
    in_run, _ = _trained(AmnesiacLwF, scenario, lwf_params, {3: unlearned})
    after, bench = _trained(AmnesiacLwF, scenario, lwf_params)
    after.unlearn_after(bench.task(3), unlearned)
    assert _same_module(after.model, in_run.model)
    assert sorted(after.inner.teachers) == sorted(in_run.inner.teachers)
    for key, teacher_model in in_run.inner.teachers.items():
        assert _same_module(after.inner.teachers[key], teacher_model), key
    # the last teacher is the unlearned model, not the model before unlearning; none for an unlearned task
    assert not set(unlearned) & set(after.inner.teachers)
    if teacher == "previous" or 3 not in unlearned:
        assert _same_module(after.inner.teachers[max(after.inner.teachers)], after.model)
    assert after.unlearned == in_run.unlearned and sorted(after.recorder.records) == sorted(in_run.recorder.records)


@pytest.mark.parametrize("unlearned", [[2], [3]])
def test_independent_unlearning_a_finished_run_equals_a_request(unlearned):
    in_run, _ = _trained(AmnesiacIndependent, "til", requests={3: unlearned})
    after, bench = _trained(AmnesiacIndependent, "til")
    after.unlearn_after(bench.task(3), unlearned)
    assert _same_module(after.model, in_run.model)
    assert sorted(after.inner.models) == [1, 2, 3]
    for key, model in in_run.inner.models.items():
        assert _same_module(after.inner.models[key], model), key


def test_reopen_task_is_required_when_on_task_end_stores_something():
    from retain.algorithms.finetuning import Finetuning

    class Keeps(Finetuning):
        def on_task_end(self, task):
            self.kept = task.id

    with pytest.raises(NotImplementedError, match="reopen_task"):
        protocol.reopen_task(Keeps(tiny_model("til")), 1)
    protocol.reopen_task(Finetuning(tiny_model("til")), 1)  # stores nothing at the end of a task: nothing to undo


def test_records_share_the_start_of_a_task_with_the_end_of_the_one_before():
    """T tasks hold T + 1 copies of the backbone (start of task 1, then one end per task), not 2T."""
    algo = AmnesiacFinetuning(tiny_model("dil"))
    train(algo, num_tasks=3, scenario="dil")
    records = algo.recorder.records
    for t in (2, 3):
        for name, start in records[t]["start"].items():
            assert start is records[t - 1]["end"][name]  # the same tensor, not an equal copy
    one_copy = sum(p.numel() * p.element_size() for p in algo.model.parameters())
    assert algo.memory_bytes() == {"records": 4 * one_copy}


def test_a_start_that_changed_since_the_last_end_is_its_own_copy():
    algo = AmnesiacFinetuning(tiny_model("dil"))
    train(algo, num_tasks=2, scenario="dil", requests={2: [1]})  # unlearning after task 2 moves every weight
    recorder = algo.recorder
    model = algo.model
    recorder.start(model)
    changed = [name for name, p in model.named_parameters() if recorder._start[name] is not recorder._last_end[name]]
    assert changed == [name for name, _ in model.named_parameters()]
