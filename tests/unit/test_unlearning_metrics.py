import math

import pytest
import torch

from retain.metrics.unlearning import accuracy_gain, cosine, euclidean, linear_cka, manhattan, mean_over

A = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
B = torch.tensor([[3.0, 4.0], [1.0, 0.0]])


def test_accuracy_gain_by_hand():
    unlearned = {1: 0.9, 2: 0.2, 3: 0.7}
    original = {1: 1.0, 2: 0.95, 3: 0.8}
    assert accuracy_gain(unlearned, original, [1, 3]) == pytest.approx(-0.1)
    assert accuracy_gain(unlearned, original, [2]) == pytest.approx(-0.75)
    assert accuracy_gain(unlearned, original, []) is None


def test_distances_by_hand():
    assert euclidean(A, B) == pytest.approx((5.0 + 1.0) / 2)
    assert manhattan(A, B) == pytest.approx((7.0 + 1.0) / 2)
    # row 1: A is the zero vector (cosine 0 by the eps convention); row 2: cos 45° between (1,1) and (1,0)
    assert cosine(A, B) == pytest.approx((1.0 + (1 - 1 / math.sqrt(2))) / 2)


def test_linear_cka_is_zero_for_rotated_and_scaled_features():
    x = torch.randn(50, 6, generator=torch.Generator().manual_seed(0))
    rotation, _ = torch.linalg.qr(torch.randn(6, 6, generator=torch.Generator().manual_seed(1)))
    assert linear_cka(x, 3.0 * x @ rotation) == pytest.approx(0.0, abs=1e-9)
    other = torch.randn(50, 6, generator=torch.Generator().manual_seed(2))
    assert 0.3 < linear_cka(x, other) <= 1.0


def _cka_by_hsic(a: torch.Tensor, b: torch.Tensor) -> float:
    """Linear CKA the textbook way (Kornblith et al. 2019, eq. 2 with linear kernels): HSIC with the
    centring matrix H = I - 11ᵀ/n on the Gram matrices, an independent computation of the same quantity."""
    a, b = a.double(), b.double()
    n = a.shape[0]
    h = torch.eye(n, dtype=torch.float64) - torch.full((n, n), 1.0 / n, dtype=torch.float64)
    ka, kb = h @ a @ a.T @ h, h @ b @ b.T @ h
    return (torch.trace(ka @ kb) / torch.sqrt(torch.trace(ka @ ka) * torch.trace(kb @ kb))).item()


def test_linear_cka_centres_the_features():
    x = torch.randn(40, 5, generator=torch.Generator().manual_seed(3))
    # a constant shift is no change of representation once centred (uncentred CKA would see one)
    assert linear_cka(x, x + 4.0) == pytest.approx(0.0, abs=1e-9)
    y = torch.randn(40, 5, generator=torch.Generator().manual_seed(4)) + 2.0  # not centred
    assert linear_cka(x + 1.0, y) == pytest.approx(1 - _cka_by_hsic(x, y), abs=1e-7)  # x + 1 rounds in float32


def test_linear_cka_of_constant_features_is_unrelated():
    # centred constant features are all zero: no similarity can be measured, so the distance is the maximum
    x = torch.randn(10, 3, generator=torch.Generator().manual_seed(5))
    assert linear_cka(torch.ones(10, 3), x) == 1.0


def test_distances_refuse_mismatched_shapes():
    with pytest.raises(ValueError, match="same shape"):
        euclidean(A, torch.zeros(3, 2))


def test_mean_over_skips_missing_values():
    assert mean_over({1: 0.5, 2: None, 3: 1.0}, [1, 2, 3]) == pytest.approx(0.75)
    assert mean_over({2: None}, [2]) is None


def test_relapse_is_the_largest_rise_of_an_unlearned_task_after_its_request():
    from retain.metrics.unlearning import relapse

    matrix = [[0.9], [0.8, 0.9], [0.9, 0.2, 0.9], [0.9, 0.5, 0.8, 0.9], [0.9, 0.3, 0.8, 0.9, 0.9]]
    got = relapse(matrix, {3: [2], 5: [4]})
    assert got[2]["after_request"] == [0.2, 0.5, 0.3]
    assert abs(got[2]["relapse"] - 0.3) < 1e-12  # row 4, not the last row
    assert got[4] == {"after_request": [0.9], "relapse": None}  # no row after its request
