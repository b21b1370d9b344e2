"""Reopen an interrupted run folder for `run(resume=...)`: its config checked, and its last complete checkpoint.

A resume with a config that differs from the checkpoint's is refused unless forced; the files themselves
(which checkpoint, what is restored) are `retain.runs.resume`.
"""

from __future__ import annotations

from pathlib import Path

from retain.config import Config, config_to_dict
from retain.errors import CheckpointError, ConfigError
from retain.experiment.build import check_config, config_from_dict
from retain.runs.resume import ResumedRun, config_differences, latest_checkpoint, saved_config
from retain.runs.store import RunFolder


def open_run(path: str | Path, requested: Config | None, force: bool = False) -> ResumedRun:
    """Open the run in `path` for resuming with `requested` (None: the run's own config).

    Raises:
        CheckpointError: not a run folder, already complete, a damaged checkpoint, or a different
            config without `force` (the message lists each differing key).
    """
    folder = RunFolder.existing(path)  # locked: released by the caller, or here on any error
    try:
        return _checked(folder, requested, force)
    except BaseException:
        folder.release()
        raise


def _checked(folder: RunFolder, requested: Config | None, force: bool) -> ResumedRun:
    if (folder.path / "summary.json").exists():
        raise CheckpointError(f"run {folder.path} is already complete (summary.json exists): nothing to resume")
    checkpoint, checkpoint_path = latest_checkpoint(folder)
    reference = checkpoint["config"] if checkpoint else saved_config(folder)
    try:
        original = config_from_dict(reference)
    except ConfigError as err:
        raise CheckpointError(f"the config saved in {folder.path} is not valid here: {err}") from None
    config = original if requested is None else check_config(requested)
    changed = config_differences(config_to_dict(original), config_to_dict(config))
    if changed and not force:
        raise CheckpointError(
            f"resuming {folder.path} with a different config is refused ({'; '.join(changed)}); "
            f"add --force to resume with the new values anyway"
        )
    return ResumedRun(folder, config, checkpoint, checkpoint_path, changed)
