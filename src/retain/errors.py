"""The library's error types: each names what was wrong, the value and what would be valid."""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Iterable, Iterator


class RetainError(Exception):
    """Base of every error retain raises on purpose (the CLI prints these as one line, exit code 2)."""


class ConfigError(RetainError, ValueError):
    """A configuration key has an unknown name, a wrong type or an invalid value.

    `key`, `value` and `valid` describe the first problem; `more` holds the others found in the same
    pass (the parser checks every key of a section before it stops), and the message lists them all.
    """

    def __init__(self, key: str, value: object, valid: str, more: tuple[ConfigError, ...] = ()) -> None:
        self.key = key
        self.value = value
        self.valid = valid
        self.more = more
        first = f"{key} = {value!r} is not valid: {valid}" if key else valid
        super().__init__("; ".join([first, *(str(err) for err in more)]))

    def under(self, prefix: str) -> ConfigError:
        """The same error with its key placed under a parent section (`train` + `lr` → `train.lr`)."""
        key = f"{prefix}.{self.key}" if prefix and self.key else (self.key or prefix)
        return ConfigError(key, self.value, self.valid, tuple(err.under(prefix) for err in self.more))

    @classmethod
    def of_all(cls, errors: list[ConfigError]) -> ConfigError:
        """One error standing for several (each with its own `more`), in the order they were found."""
        flat = [e for err in errors for e in (ConfigError(err.key, err.value, err.valid), *err.more)]
        return ConfigError(flat[0].key, flat[0].value, flat[0].valid, tuple(flat[1:]))


class DataError(RetainError):
    """A data set could not be found or read; the message says where retain looked and how to get it."""


@contextlib.contextmanager
def obtain_hint(hint: str) -> Iterator[None]:
    """Append how to get a good copy of the data to a `DataError` raised while reading files that exist
    (a truncated or corrupt file: the reader knows the path, the caller knows where the data comes from)."""
    try:
        yield
    except DataError as err:
        raise DataError(f"{err}. {hint}") from None


class CheckpointError(RetainError):
    """A checkpoint or run folder cannot be used: missing, corrupt, unsafe, or made for another config."""


class NumericalError(RetainError):
    """Training produced a non-finite loss; the message names task, epoch and step."""


class RunInterrupted(RetainError):
    """A run stopped on SIGINT/SIGTERM after writing a checkpoint; the message says how to resume."""

    def __init__(self, message: str, signal_number: int) -> None:
        super().__init__(message)
        self.signal_number = signal_number

    def resumed_by(self, context: str, command: str) -> RunInterrupted:
        """The same stop, said to have happened `context` (", while training the retrain reference") of a
        run that `command` resumes as a whole (an inner folder's own resume command would be wrong)."""
        what = str(self).partition(" Resume with:")[0].rstrip(". ")
        return RunInterrupted(f"{what}{context}. Resume the whole run with: {command}", self.signal_number)

    def __reduce__(self) -> tuple[type, tuple[str, int]]:  # crosses process boundaries (sweep workers)
        return (type(self), (str(self), self.signal_number))

    @property
    def exit_code(self) -> int:
        """128 + the signal number: the shell's convention for a process ended by a signal."""
        return 128 + self.signal_number


def one_of(choices: Iterable[str], given: object | None = None) -> str:
    """Describe the valid choices, suggesting the nearest one to a misspelt `given`."""
    names = sorted(str(c) for c in choices)
    text = "expected one of " + ", ".join(repr(n) for n in names)
    if isinstance(given, str):
        close = difflib.get_close_matches(given, names, n=1, cutoff=0.5)
        if close:
            text += f" (did you mean {close[0]!r}?)"
    return text
