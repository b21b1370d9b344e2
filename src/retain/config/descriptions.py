"""One line per config key, for the JSON Schema (`retain schema`) an editor shows while a YAML file is typed.

Keyed by the dotted key; a test checks every field of the config dataclasses has its line. The algorithms'
hyperparameters are described by their `Params` docstrings (`Attributes:` sections) instead.
"""

from __future__ import annotations

FIELD_DOCS: dict[str, str] = {
    "seed": "Seeds the model's initialisation, shuffling, class order and permutations (0 to 2^32 - 1).",
    "scenario": "til, dil or cil; null takes the benchmark's default (split: til, permuted and rotated: dil).",
    "out": "Run folder; null writes runs/<benchmark>-<scenario>-<algorithm>-seed<S>-<time>.",
    "benchmark": "Which benchmark to build and where its data lives.",
    "benchmark.name": "A registered benchmark (retain list) or custom.",
    "benchmark.num_tasks": "Number of tasks; null takes the benchmark's default (or follows classes_per_task).",
    "benchmark.classes_per_task": "Classes per task (split benchmarks); null follows num_tasks.",
    "benchmark.class_order": "fixed (0..C-1), shuffle (seeded) or an explicit list of distinct class ids.",
    "benchmark.seed": "Seed of the class-order shuffle, pixel permutations and validation split; null uses seed.",
    "benchmark.root": "Folder with the data files in torchvision's layout; null uses ~/.cache/retain.",
    "benchmark.download": "Download through torchvision when the files are not found.",
    "benchmark.without": "Task ids (from 1) left out of the sequence.",
    "benchmark.val_fraction": "0 <= value < 1: share of each task's training set held out for validation "
    "(> 0 keeps the best epoch).",
    "benchmark.augment": "Random crop and flip; null takes the benchmark's default (on for CIFAR, Tiny ImageNet).",
    "benchmark.path": "custom only (required there): a .npz file or an ImageFolder directory.",
    "benchmark.construction": "custom only: split (null), permuted or rotated.",
    "backbone": "The feature extractor shared by the tasks' heads.",
    "backbone.name": "A registered backbone: mlp (uses hidden), small_cnn (uses channels), resnet18.",
    "backbone.hidden": "MLP layer widths (ReLU between them).",
    "backbone.channels": "Small CNN: a conv(3x3)-ReLU-maxpool block per entry, then a 256-unit layer.",
    "algorithm": "The algorithm's registered name plus its hyperparameters (an unknown one is an error).",
    "algorithm.name": "A registered algorithm; amnesiac_<x> is <x> with unlearning.method: amnesiac.",
    "train": "How each task is trained.",
    "train.epochs": "Epochs per task (positive integer).",
    "train.batch_size": "Training batch size (positive integer).",
    "train.eval_batch_size": "Batch size for testing (positive integer).",
    "train.optimizer": "A fresh optimizer is built for every task.",
    "train.optimizer.name": "sgd, adam or adamw.",
    "train.optimizer.lr": "Learning rate (> 0).",
    "train.optimizer.momentum": "SGD momentum (>= 0; SGD only).",
    "train.optimizer.weight_decay": "Weight decay (>= 0).",
    "train.device": "auto (CUDA when available), cpu or cuda.",
    "train.data_path": "device (uint8 data on the device), loader (a DataLoader with workers) or auto.",
    "train.num_workers": "DataLoader worker processes of the loader path (>= 0).",
    "train.patience": "With a validation split: stop a task after this many epochs without a better "
    "validation accuracy; null runs every epoch.",
    "train.on_nan": "stop (a non-finite loss stops the run) or skip_batch (skip that update).",
    "train.precision": "fp32, or bf16 (the forward under bfloat16 autocast; backward and optimizer in float32).",
    "train.channels_last": "Convolution weights and image batches channels-last (faster on recent GPUs).",
    "train.compile": "Compile the backbone with torch.compile.",
    "train.compile_backend": "The torch.compile backend (eager only traces).",
    "train.sync_batchnorm": "Under torchrun on CUDA: synchronise BatchNorm statistics over the global batch "
    "(auto, true) or not (false).",
    "unlearning": "The unlearning method, its requests and how the result is judged (docs/unlearning.md).",
    "unlearning.method": "none (requests refused) or a registered unlearning method (amnesiac).",
    "unlearning.requests": "After which task which tasks are unlearned, e.g. {4: [2]}.",
    "unlearning.evaluate": "Train (or read) the retrain and original references and report AG and DD.",
    "unlearning.distance": "The distance DD uses between feature distributions.",
    "unlearning.ag_scope": "The tasks AG (accuracy gain) averages over.",
    "unlearning.dd_scope": "The tasks DD (distribution distance) averages over.",
    "unlearning.retrain_reference": "A finished run folder to use as the retrain reference (null: train it).",
    "unlearning.original_reference": "A finished run folder to use as the original reference (null: train it).",
    "checkpoint": "Checkpoints in <run>/checkpoints/: always one per finished task.",
    "checkpoint.every_epochs": "N > 0 also writes progress.pt every N epochs inside a task; 0: task checkpoints only.",
    "checkpoint.keep": "all task checkpoints, or only the last.",
    "logging": "Optional loggers on top of metrics.jsonl (always written).",
    "logging.tensorboard": "Write TensorBoard event files to <run>/tensorboard/ (needs tensorboard).",
}
