"""`python -m retain ...` is the same as the `retain` command (whose entry point is `main` here).

A Ctrl-C at any moment ends the process with the one line `retain: interrupted` and exit code 130:
while `retain.cli` is imported, while the arguments are parsed, while a command imports torch or runs.
Only `sys` and `signal` are imported before the first moment this module can catch it.
"""

from __future__ import annotations

import signal
import sys


def main() -> int:
    """Run the command line of `sys.argv` and return its exit code; a KeyboardInterrupt is one line."""
    try:
        from retain.cli import main as cli_main  # inside the try: a Ctrl-C while it loads is caught

        code = cli_main()
    except KeyboardInterrupt:  # one that came before `retain.cli.main` could catch it, or after it returned
        print("retain: interrupted", file=sys.stderr)
        code = 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the process is ending: a late Ctrl-C changes nothing
        forget_caught_interrupt()
    return code


def forget_caught_interrupt() -> None:
    """Clear CPython's record that a KeyboardInterrupt left an `exec` of a string (dataclasses and
    namedtuple build their methods that way, so a Ctrl-C during an import often lands in one).

    CPython sets that record when the exception leaves the `exec`, even if a handler further up catches
    it, and `python -m` then ends the process by SIGINT (exit code -2) instead of with the code returned.
    Every `exec` of a string starts by clearing it; this one runs nothing else.
    """
    exec("")


if __name__ == "__main__":
    raise SystemExit(main())
