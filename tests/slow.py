"""The slow tier: tests that take more than about two seconds each on an idle two-core machine.

`python -m pytest -q -m "not slow"` leaves them out (the everyday run, about 70 s idle);
`python -m pytest -q` runs everything (CI, and before a merge). They are listed here rather than
decorated, so that the tier is one list to read and to keep; `tests/conftest.py` marks them at
collection, and `tests/unit/test_slow_tier.py` fails when a name here no longer names a test.
Most are subprocess tests (signals, kills, torchrun, spawned sweep workers) or train full sequences.
"""

from __future__ import annotations

SLOW = {
    "tests/chaos/test_concurrency.py": ("*",),
    "tests/chaos/test_links_and_kills.py": ("*",),
    "tests/integration/test_cli.py": ("test_console_script_exit_code",),
    "tests/integration/test_distributed.py": ("*",),
    "tests/integration/test_docs_examples.py": ("test_every_example_runs_in_sequence_on_a_fresh_folder",),
    "tests/integration/test_fast_start.py": (
        "test_a_sweep_may_leave_a_swept_key_invalid_in_its_base",
        "test_import_retain_does_not_import_torch_until_a_name_needs_it",
    ),
    "tests/integration/test_resume.py": (
        "test_ctrl_c_from_outside_stops_with_a_checkpoint_and_resumes_exactly",
        "test_sigkill_mid_epoch_resumes_from_the_mid_task_checkpoint",
        "test_sigkill_mid_task_3_resumes_from_task_2_to_the_same_results",
        "test_crash_at_any_point_leaves_a_resumable_folder",
    ),
    "tests/integration/test_rewind_resume.py": ("*",),
    "tests/integration/test_sweep.py": (
        "test_an_interrupted_point_resumes_from_its_task_checkpoint",
        "test_cli_sweep_with_two_worker_processes_then_resume",
        "test_sweep_skips_finished_points_and_reruns_a_crashed_one",
    ),
    "tests/integration/test_tensorboard.py": ("*",),
    "tests/integration/test_trackers.py": (
        "test_mlflow_local_store_has_terms_matrix_config_and_summary",
        "test_wandb_offline_run_has_terms_matrix_config_and_summary",
    ),
    "tests/integration/test_unlearning_cli.py": (
        "test_any_algorithm_is_unlearned_through_the_method_joint_included",
        "test_dil_retrain_reference_tests_an_unlearned_last_task_with_its_own_last_model",
        "test_retain_unlearn_retakes_the_last_teacher_as_an_in_run_request_would",
        "test_retain_unlearn_writes_a_new_folder_and_leaves_the_source_intact",
        "test_run_with_requests_writes_unlearning_json",
        "test_unlearned_task_moves_to_the_retrain_reference_and_remaining_tasks_stay",
    ),
    "tests/integration/test_unlearning_resume.py": ("*",),
    "tests/unit/test_amnesiac.py": ("test_unlearning_a_finished_run_equals_a_request_after_the_last_task",),
    "tests/unit/test_bench.py": (
        "test_a_case_that_dies_is_reported_not_awaited_forever",
        "test_a_floor_and_a_library_case_run_end_to_end_on_the_same_data",
    ),
    "tests/unit/test_builders.py": (
        "test_real_split_fashion_mnist_sizes_and_validation",
        "test_every_registered_benchmark_builds_from_files_in_the_real_format",
    ),
    "tests/unit/test_config_fuzz.py": ("test_the_loader_accepts_or_raises_config_error_only",),
    "tests/unit/test_examples.py": (
        "test_registered_ewc_runs_from_a_config_resumes_and_unlearns_a_saved_run",
        "test_the_python_on_the_docs_page_runs",
    ),
    "tests/unit/test_import_layers.py": (
        "test_the_algorithms_import_neither_the_loop_nor_the_data_paths",
        "test_the_batch_types_import_nothing_of_the_library",
    ),
    "tests/unit/test_mutation_runner.py": ("test_end_to_end_on_a_toy_package",),
    "tests/unit/test_precision.py": ("test_compile_compiles_the_backbone_in_place_and_changes_no_number",),
    "tests/unit/test_report_tables.py": ("test_exports_write_csv_latex_and_markdown",),
    "tests/unit/test_report.py": (
        "test_report_heatmaps_mark_the_rows_after_unlearning",
        "test_report_on_one_run_folder_defaults_out_inside_it",
        "test_report_pages_show_mean_std_and_seed_count",
    ),
}


def is_slow(path: str, function: str) -> bool:
    """Whether test `function` of the file at `path` (relative to the repository root) is in the slow tier."""
    names = SLOW.get(path, ())
    return "*" in names or function in names
