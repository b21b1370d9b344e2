"""Membership inference: the features, the population attack and the two-reference likelihood ratio."""

import numpy as np
import pytest

from retain.errors import ConfigError
from retain.experiment.run import run
from retain.unlearning.membership import (
    FEATURES,
    WIDTH,
    AttackData,
    likelihood_ratio,
    output_features,
    population_attack,
    roc_auc,
    scaled_logit,
)


def test_features_are_loss_confidence_entropy_and_the_sorted_output():
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    feats = output_features(probs, probs[[0, 1], [0, 1]])
    assert feats.shape == (2, len(FEATURES)) == (2, 3 + WIDTH)
    assert np.allclose(feats[:, 0], [-np.log(0.7), -np.log(0.1)])
    assert np.allclose(feats[:, 1], [0.7, 0.8])
    assert np.allclose(feats[0, 2], -(0.7 * np.log(0.7) + 0.2 * np.log(0.2) + 0.1 * np.log(0.1)))
    assert np.allclose(feats[1, 3:6], [0.8, 0.1, 0.1]) and not feats[:, 6:].any()
    assert np.isfinite(output_features(probs, np.zeros(2))).all()  # no output for the class: clipped loss


def _gaussians(rng, n, shift):
    return rng.normal(shift, 1.0, size=(n, 4))


def test_the_attack_finds_members_that_look_like_members_and_not_others():
    rng = np.random.default_rng(0)
    members, nonmembers = _gaussians(rng, 400, 1.0), _gaussians(rng, 300, -1.0)
    seen = population_attack(AttackData(members, nonmembers, _gaussians(rng, 200, 1.0), _gaussians(rng, 200, -1.0)), 0)
    assert seen["auc"] > 0.9 and seen["member_rate"] > 0.8 and seen["member_rate_test"] < 0.2
    assert seen["attack_auc"] > 0.9 and seen["fit_samples_per_class"] == 150  # balanced: 300 each, half held out
    unseen = population_attack(
        AttackData(members, nonmembers, _gaussians(rng, 200, -1.0), _gaussians(rng, 200, -1.0)), 0
    )
    assert abs(unseen["auc"] - 0.5) < 0.1 and abs(unseen["member_rate"] - unseen["member_rate_test"]) < 0.1
    data = AttackData(members, nonmembers, _gaussians(rng, 50, 1.0), _gaussians(rng, 50, -1.0))
    assert population_attack(data, 3) == population_attack(data, 3)  # seeded


def test_roc_auc_counts_ties_half():
    assert roc_auc(np.array([2.0, 3.0]), np.array([1.0, 0.0])) == 1.0
    assert roc_auc(np.array([1.0]), np.array([1.0])) == 0.5


def test_the_likelihood_ratio_says_which_reference_a_model_is_closer_to():
    rng = np.random.default_rng(0)
    phi_in = {"targets": rng.normal(3, 1, 100), "tests": rng.normal(0, 1, 100)}
    phi_out = {"targets": rng.normal(0, 1, 100), "tests": phi_in["tests"] + rng.normal(0, 0.1, 100)}
    assert likelihood_ratio(phi_in, phi_in, phi_out)["in_fraction"] == 1.0
    assert likelihood_ratio(phi_out, phi_in, phi_out)["in_fraction"] == 0.0
    assert np.allclose(scaled_logit(np.array([0.5])), 0.0)


def test_an_attack_with_too_few_samples_is_refused_before_training(tmp_path):
    cfg = {
        "benchmark": {"name": "split_digits"},
        "algorithm": {"name": "lwf"},
        "unlearning": {"method": "amnesiac", "requests": {4: [2]}, "membership_min_samples": 5000},
    }
    with pytest.raises(ConfigError, match=r"unlearning\.membership_min_samples = 5000 .* would fit on 144 members"):
        run(cfg, out=tmp_path / "r", progress=False)
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("rows", [{4: {"auc": 0.5}}, {}])
def test_the_attack_rows_round_trip_through_a_checkpoint_entry(rows):
    from retain.experiment.membership import AttackAfterRequests

    watch, back = AttackAfterRequests(None, None, None, None), AttackAfterRequests(None, None, None, None)  # type: ignore[arg-type]
    watch.scores = rows
    back.load_state_dict(watch.state_dict())
    assert back.scores == rows


@pytest.mark.parametrize(
    "state", [{"attack_after_task": [1]}, {"attack_after_task": {"4": {}}}, {"attack_after_task": {4: 0.5}}]
)
def test_a_damaged_attack_entry_is_a_checkpoint_error(state):
    from retain.errors import CheckpointError
    from retain.experiment.membership import AttackAfterRequests

    with pytest.raises(CheckpointError, match="'watch' entry is damaged"):
        AttackAfterRequests(None, None, None, None).load_state_dict(state)  # type: ignore[arg-type]
