"""Write the malformed-input corpus (`tests/chaos/corpus/`): run `python tests/chaos/make_corpus.py` to
regenerate it after adding a case. Each file is a hostile or damaged input that retain must answer with
one line `retain: error: ...` and exit code 2; `expected.json` maps each file to a phrase of that line."""

from __future__ import annotations

import io
import json
import struct
import zlib
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent / "corpus"


def alias_bomb(levels: int = 9, width: int = 9) -> str:
    lines = ['l0: &l0 ["lol"' + ', "lol"' * (width - 1) + "]"]
    lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


CONFIGS: dict[str, tuple[str | bytes, str]] = {
    "alias_bomb.yaml": (alias_bomb(), "alias bomb"),
    "alias_bomb_wide.yaml": (alias_bomb(6, 20), "alias bomb"),
    "recursive.yaml": ("a: &a [*a]\n", "recursive document"),
    "recursive_map.yaml": ("a: &x {b: *x}\n", "recursive document"),
    "deep.yaml": ("a: " + "[" * 200 + "]" * 200 + "\n", "nested deeper"),
    "duplicate_key.yaml": ("seed: 1\nseed: 2\n", "given twice"),
    "duplicate_nested.yaml": ("train:\n  epochs: 1\n  epochs: 3\n", "given twice"),
    "not_utf8.yaml": (b"seed: \xff\xfe\n", "not UTF-8"),
    "python_tag.yaml": ("seed: !!python/object/apply:os.system ['echo pwned']\n", "not valid YAML"),
    "top_level_list.yaml": ("- 1\n- 2\n", "mapping of top-level keys"),
    "huge_int.yaml": ("seed: " + "7" * 5000 + "\n", "cannot be read"),
    "huge_hidden.yaml": ("backbone:\n  hidden: [100000000000]\n", "widths of at most"),
    "huge_channels.yaml": ("backbone:\n  name: small_cnn\n  channels: [10000000, 4]\n", "widths of at most"),
    "unknown_key.yaml": ("train:\n  epoch: 2\n", "did you mean 'epochs'"),
    "nan_lr.yaml": ("train:\n  optimizer:\n    lr: .nan\n", "train.optimizer.lr"),
    "bad_yaml.yaml": ("train: [1, 2\n", "not valid YAML"),
    "every_task_unlearned.yaml": (
        "benchmark: {num_tasks: 2}\nunlearning: {method: amnesiac, requests: {2: [1, 2]}}\n",
        "unlearns all 2 tasks",
    ),
    "unknown_algorithm.yaml": ("algorithm: {name: lwff}\n", "did you mean 'lwf'"),
}

SUMMARIES: dict[str, tuple[str | bytes, str]] = {
    "not_json.json": ("{oops", "cannot read run folder"),
    "a_list.json": ("[1, 2]", "not a retain run summary"),
    "null.json": ("null", "not a retain run summary"),
    "matrix_string.json": ('{"accuracy_matrix": "x"}', "not a retain run summary"),
    "matrix_empty.json": ('{"accuracy_matrix": []}', "not a retain run summary"),
    "matrix_words.json": ('{"accuracy_matrix": [["a"]]}', "damaged accuracy_matrix"),
    "matrix_ragged.json": ('{"accuracy_matrix": [[0.5, 0.2, 0.1], [0.1]]}', "damaged accuracy_matrix"),
    "seconds_string.json": ('{"accuracy_matrix": [[0.5]], "train_seconds_per_task": "x"}', "train_seconds_per_task"),
    "metric_string.json": ('{"accuracy_matrix": [[0.5]], "final_average_accuracy": "high"}', "non-numeric"),
    "binary.json": (b"\xff\xfe\x00\x01", "cannot read run folder"),
}


def npz_bytes(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _images(n: int) -> np.ndarray:
    return np.full((n, 4, 4), 128, dtype=np.uint8)


def data_files() -> dict[str, tuple[bytes, str]]:
    ok = {"x_train": _images(4), "y_train": np.array([0, 1, 0, 1]), "x_test": _images(2), "y_test": np.array([0, 1])}
    return {
        "no_train.npz": (npz_bytes(**{**ok, "x_train": _images(0), "y_train": np.zeros(0, int)}), "holds no samples"),
        "no_test.npz": (npz_bytes(**{**ok, "x_test": _images(0), "y_test": np.zeros(0, int)}), "holds no samples"),
        "huge_label.npz": (npz_bytes(**{**ok, "y_train": np.array([0, 1, 0, 2**40])}), "classes; at most"),
        "empty_class.npz": (
            npz_bytes(**{**ok, "y_train": np.array([0, 2, 0, 2]), "y_test": np.array([1, 2])}),
            "class 1 has no training samples",
        ),  # fmt: skip
        "float_images.npz": (npz_bytes(**{**ok, "x_train": _images(4).astype(np.float32)}), "must be uint8"),
        "truncated.npz": (npz_bytes(**ok)[:100], "cannot read"),
        "bomb.png": (png_header(100_000, 100_000), "decompression bomb"),
        "idx_overflow": (
            b"\x00\x00\x08\x03" + struct.pack(">III", 2**32 - 1, 2**32 - 1, 2**32 - 1),
            "truncated or corrupt",
        ),
    }


def png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims `width × height` pixels (and holds almost none)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")
    )


def main() -> None:
    expected: dict[str, str] = {}
    for folder, cases in (("configs", CONFIGS), ("summaries", SUMMARIES), ("data", data_files())):
        (HERE / folder).mkdir(parents=True, exist_ok=True)
        for name, (content, phrase) in cases.items():
            (HERE / folder / name).write_bytes(content if isinstance(content, bytes) else content.encode())
            expected[f"{folder}/{name}"] = phrase
    (HERE / "expected.json").write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
