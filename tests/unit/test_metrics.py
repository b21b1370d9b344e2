import pytest

from retain.metrics import (
    average_accuracies,
    average_incremental_accuracy,
    backward_transfer,
    final_average_accuracy,
    forgetting,
    forgetting_per_task,
    forward_transfer,
    summarise,
)

# after task 1: [0.9]; after 2: [0.6, 0.8]; after 3: [0.5, 0.7, 1.0]
MATRIX = [[0.9], [0.6, 0.8], [0.5, 0.7, 1.0]]


def test_average_accuracies_by_hand():
    assert average_accuracies(MATRIX) == pytest.approx([0.9, 0.7, (0.5 + 0.7 + 1.0) / 3])


def test_average_accuracy_reads_only_the_lower_triangle():
    # a full square matrix (e.g. read back from accuracy.csv with later tasks' columns): row t uses j <= t
    square = [[0.9, 0.1, 0.1], [0.6, 0.8, 0.1], [0.5, 0.7, 1.0]]
    assert average_accuracies(square) == pytest.approx([0.9, 0.7, (0.5 + 0.7 + 1.0) / 3])


def test_final_and_incremental_by_hand():
    assert final_average_accuracy(MATRIX) == pytest.approx(2.2 / 3)
    assert average_incremental_accuracy(MATRIX) == pytest.approx((0.9 + 0.7 + 2.2 / 3) / 3)


def test_backward_transfer_by_hand():
    # ((0.5 - 0.9) + (0.7 - 0.8)) / 2
    assert backward_transfer(MATRIX) == pytest.approx(-0.25)


def test_forgetting_uses_the_maximum_over_earlier_rows():
    # task 1: max(0.9, 0.6) - 0.5 = 0.4; task 2: 0.8 - 0.7 = 0.1
    assert forgetting_per_task(MATRIX) == pytest.approx([0.4, 0.1])
    assert forgetting(MATRIX) == pytest.approx(0.25)
    # a task that improved after its own training: the later maximum counts
    assert forgetting_per_task([[0.5], [0.9, 0.8], [0.7, 0.8, 0.9]]) == pytest.approx([0.2, 0.0])


def test_forgetting_is_negative_for_a_task_that_ends_better_than_ever_before():
    # task 1: max(0.5, 0.6) - 0.9 = -0.3 (not clamped at 0: backward transfer shows as negative forgetting)
    matrix = [[0.5], [0.6, 0.8], [0.9, 0.7, 0.9]]
    assert forgetting_per_task(matrix) == pytest.approx([-0.3, 0.1])
    assert forgetting(matrix) == pytest.approx(-0.1)


def test_forward_transfer_by_hand():
    # (0.8 - 0.7 + 1.0 - 0.9) / 2
    assert forward_transfer(MATRIX, [0.9, 0.7, 0.9]) == pytest.approx(0.1)


def test_forward_transfer_leaves_out_the_first_task():
    # task 1 has no earlier task to transfer from: its difference (0.9 - 0.2) must not count
    assert forward_transfer(MATRIX, [0.2, 0.7, 0.9]) == pytest.approx(0.1)
    assert forward_transfer([[0.9], [0.6, 0.8]], [0.1, 0.5]) == pytest.approx(0.3)


def test_single_task_has_no_transfer_or_forgetting():
    assert backward_transfer([[0.8]]) is None
    assert forgetting([[0.8]]) is None
    assert final_average_accuracy([[0.8]]) == 0.8


def test_bad_matrices_raise():
    with pytest.raises(ValueError, match="empty"):
        final_average_accuracy([])
    with pytest.raises(ValueError, match="row 1"):
        backward_transfer([[0.9], [0.5]])


def test_summarise_has_every_metric():
    summary = summarise(MATRIX)
    assert summary["accuracy_matrix"] == MATRIX
    assert summary["bwt"] == pytest.approx(-0.25)
    assert summary["forgetting"] == pytest.approx(0.25)


def test_old_and_new_class_accuracy_per_row():
    from retain.metrics import old_new_accuracy

    split = old_new_accuracy([[0.9], [0.2, 1.0], [0.1, 0.3, 0.8]])
    assert split["old_class_accuracy"] == [None, 0.2, pytest.approx(0.2)]
    assert split["new_class_accuracy"] == [0.9, 1.0, 0.8]


def test_the_matrix_table_shows_old_and_new_columns_when_asked():
    from retain.runs.report import matrix_table

    plain, split = matrix_table([[0.9], [0.2, 1.0]]), matrix_table([[0.9], [0.2, 1.0]], old_new=True)
    assert [c.header for c in split.columns][-2:] == ["old", "new"] and len(plain.columns) == 3
    assert list(split.columns[-2].cells) == ["–", "0.2000"]
