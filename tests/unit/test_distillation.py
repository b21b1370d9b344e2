import math

import pytest
import torch

from retain.algorithms.distillation import DistillationReg, soften
from retain.algorithms.lwf import LwFParams
from retain.errors import ConfigError

STUDENT = [[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]]
TEACHER = [[2.0, 0.0, 1.0], [1.0, 1.0, -2.0]]


def softmax_by_hand(row, t):
    exps = [math.exp(v / t) for v in row]
    return [e / sum(exps) for e in exps]


def expected(distance, factor, t):
    total = 0.0
    for s, q in zip(STUDENT, TEACHER):
        p_t, p_s = softmax_by_hand(q, t), softmax_by_hand(s, t)
        if distance == "cross_entropy":
            total += -sum(a * math.log(b + 1e-5) for a, b in zip(p_t, p_s))
        elif distance == "kl":
            total += t * t * sum(a * (math.log(a) - math.log(b)) for a, b in zip(p_t, p_s))
        else:
            total += sum((a - b) ** 2 for a, b in zip(s, q)) / len(s)
    return factor * total / len(STUDENT)


@pytest.mark.parametrize("distance", ["cross_entropy", "kl", "mse"])
@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0, 4.0])
@pytest.mark.parametrize("factor", [1.0, 0.3])
def test_distillation_matches_hand_computation(distance, temperature, factor):
    reg = DistillationReg(factor, temperature, distance)
    value = reg(torch.tensor(STUDENT, dtype=torch.float64), torch.tensor(TEACHER, dtype=torch.float64))
    assert value.item() == pytest.approx(expected(distance, factor, temperature), rel=1e-9)


def test_cross_entropy_known_value():
    # identical uniform logits over 2 classes: -2 * 0.5 * log(0.5 + 1e-5)
    reg = DistillationReg(1.0, 2.0)
    value = reg(torch.zeros(1, 2), torch.zeros(1, 2))
    assert value.item() == pytest.approx(-math.log(0.5 + 1e-5), rel=1e-6)


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0, 7.0])
def test_power_renormalise_equals_softmax_over_temperature(temperature):
    logits = torch.tensor([[1.5, -0.3, 0.2, 2.0]], dtype=torch.float64)
    probs = torch.softmax(logits, dim=1) ** (1 / temperature)
    powered = probs / probs.sum(dim=1, keepdim=True)
    torch.testing.assert_close(powered, soften(logits, temperature))


def test_kl_is_zero_for_identical_logits():
    logits = torch.randn(5, 3)
    assert DistillationReg(1.0, 2.0, "kl")(logits, logits).item() == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("distillation_reg_factor", dict(factor=0.0, temperature=2.0)),
        ("distillation_reg_factor", dict(factor=-1.0, temperature=2.0)),
        ("distillation_reg_temperature", dict(factor=1.0, temperature=0.0)),
        ("distillation_reg_temperature", dict(factor=1.0, temperature=-2.0)),
    ],
)
def test_non_positive_hyperparameters_raise_naming_them(name, kwargs):
    with pytest.raises(ValueError, match=name):
        DistillationReg(**kwargs)
    params = {"distillation_reg_factor": kwargs["factor"], "distillation_reg_temperature": kwargs["temperature"]}
    with pytest.raises(ConfigError, match=name) as info:
        LwFParams(**params)
    assert isinstance(info.value, ValueError)


def test_unknown_distance_raises():
    with pytest.raises(ValueError, match="distance"):
        DistillationReg(1.0, 2.0, "l1")


@pytest.mark.parametrize("distance", ["cross_entropy", "kl", "mse"])
def test_merged_targets_give_the_sum_of_the_terms(distance):
    reg = DistillationReg(0.7, 2.0, distance)
    gen = torch.Generator().manual_seed(0)
    student = torch.randn(6, 5, generator=gen, dtype=torch.float64)
    teachers = [torch.randn(6, 5, generator=gen, dtype=torch.float64) for _ in range(4)]

    def merged(teachers_logits):
        return sum(reg.loss(student, q) for q in reg.merge([reg.target(t) for t in teachers_logits]))

    expected = sum(reg(student, t) for t in teachers)
    assert merged(teachers).item() == pytest.approx(expected.item(), rel=1e-12)
    assert merged(teachers[:1]).item() == pytest.approx(reg(student, teachers[0]).item(), rel=1e-12)
    assert len(reg.merge([reg.target(t) for t in teachers])) == (1 if distance == "cross_entropy" else 4)
