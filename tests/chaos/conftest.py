"""The chaos tier: hostile and damaged inputs, two writers, planted links, random kills (CPU, bounded in time).

Rerun it with `python -m pytest -q tests/chaos`; `python tests/chaos/figures.py` prints the figures of
docs/reliability.md from the same cases.
"""
