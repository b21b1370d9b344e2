"""The task loop (`loop`), one optimisation step (`step`), the two data paths (`data`: device-resident
and DataLoader), optimizers, evaluation and distributed training.

This file re-exports nothing: `retain.training.batch` (the batch types the algorithms receive) sits
below the algorithms, and the loop above them, so the package itself must not import the loop.
Import from the modules: `from retain.training.loop import run_sequence`.
"""
