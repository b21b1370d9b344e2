"""Run folders, loggers and reports."""

from retain.runs.store import RunFolder, RunFolderExists, atomic_write_bytes, atomic_write_text

__all__ = ["RunFolder", "RunFolderExists", "atomic_write_bytes", "atomic_write_text"]
