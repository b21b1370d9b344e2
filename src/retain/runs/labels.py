"""Row labels of the report, written for people: the algorithm plus only the settings that tell its rows apart.

`lwf (distillation_reg_temperature=4.0)` and `lwf (distillation_reg_temperature=default)` rather than
`lwf (algorithm.distillation_reg_temperature=unset)`; unlearning requests read
`amnesiac_lwf (unlearns task 2 after task 4)` or `amnesiac_lwf (no unlearning)`.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from typing import Any

REQUESTS = "unlearning.requests."
MISSING = object()


def _value(text: str) -> Any:
    """A config value back from the repr the rows are keyed by (a plain string if it is not a literal)."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def human_value(value: Any) -> str:
    """`default` for a key the config does not set, `none` for null, `[100, 100]` for a list."""
    if value is MISSING:
        return "default"
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple | list):
        return "[" + ", ".join(human_value(v) for v in value) + "]"
    return str(value)


def _tasks(value: Any) -> str:
    tasks = list(value) if isinstance(value, tuple | list) else [value]
    return ("task " if len(tasks) == 1 else "tasks ") + ", ".join(map(str, tasks))


def requests_phrase(settings: Mapping[str, Any]) -> str:
    """`unlearns task 2 after task 4; tasks 1, 3 after task 5`, or `no unlearning`."""
    requests = sorted(
        (int(k[len(REQUESTS) :]) if k[len(REQUESTS) :].isdigit() else k[len(REQUESTS) :], v)
        for k, v in settings.items()
        if k.startswith(REQUESTS)
    )
    if not requests:
        return "no unlearning"
    return "unlearns " + "; ".join(f"{_tasks(tasks)} after task {after}" for after, tasks in requests)


def _short_names(keys: list[str]) -> dict[str, str]:
    """The last part of each dotted key (`lr` for `train.optimizer.lr`), the whole key where two share it."""
    last = [k.rsplit(".", 1)[-1] for k in keys]
    return {k: short if last.count(short) == 1 else k for k, short in zip(keys, last)}


def differing_settings(mine: Mapping[str, Any], siblings: Sequence[Mapping[str, Any]]) -> str:
    """The settings in which `mine` differs from its siblings, as `key=value, ...` (requests as a phrase)."""
    keys = sorted(k for k in set().union(*siblings) if len({repr(s.get(k, MISSING)) for s in siblings}) > 1)
    parts = []
    if any(k.startswith(REQUESTS) for k in keys):
        parts.append(requests_phrase(mine))
    plain = [k for k in keys if not k.startswith(REQUESTS)]
    names = _short_names(plain)
    parts += [f"{names[k]}={human_value(mine.get(k, MISSING))}" for k in plain]
    return ", ".join(parts)


def row_labels(identities: Mapping[tuple, str]) -> dict[tuple, str]:
    """A label per row identity (sorted `(dotted key, repr(value))` pairs) given its algorithm's name.

    Rows are compared with the other rows of the same algorithm only; a label that would repeat another
    one gets ` #2`, ` #3`, ... so every row stays distinguishable.
    """
    settings = {identity: {k: _value(v) for k, v in identity} for identity in identities}
    labels: dict[tuple, str] = {}
    for identity, algorithm in identities.items():
        siblings = [settings[other] for other, name in identities.items() if name == algorithm]
        differing = differing_settings(settings[identity], siblings) if len(siblings) > 1 else ""
        labels[identity] = f"{algorithm} ({differing})" if differing else algorithm
    seen: dict[str, int] = {}
    for identity in sorted(labels, key=repr):
        label = labels[identity]
        seen[label] = seen.get(label, 0) + 1
        if seen[label] > 1:
            labels[identity] = f"{label} #{seen[label]}"
    return labels


MODELS = {
    "unlearned_model": "unlearned model",
    "original_reference": "original ref.",
    "retrain_reference": "retrain ref.",
}


def unlearning_name(key: str) -> str:
    """A header for an `unlearning.json` value: `AG`, `DD`, `unlearned model: acc. unlearned tasks`, ...;
    any other key as it is."""
    if key in ("ag", "dd"):
        return key.upper()
    for model, name in MODELS.items():
        for scope in ("unlearned", "remaining"):
            if key == f"{model}_accuracy_on_{scope}":
                return f"{name}: acc. {scope} tasks"
    return key
