"""`train.precision: bf16` (autocast forward), `train.channels_last` and `train.compile` on the CPU."""

import pytest
import torch

from retain.algorithms import Finetuning
from retain.config import TrainConfig
from retain.models import ContinualModel, SmallCNN
from retain.scenarios.setting import make_heads
from retain.training.loop import run_sequence
from tests.conftest import tiny_benchmark


def cnn_run(**train):
    torch.manual_seed(0)
    bench = tiny_benchmark("til", num_tasks=2)
    backbone = SmallCNN(bench.input_shape, (4, 8))
    algo = Finetuning(ContinualModel(backbone, make_heads("til", backbone.output_dim)))
    dtypes = []
    backbone.fc.register_forward_hook(lambda m, i, out: dtypes.append(out.dtype) if m.training else None)
    result = run_sequence(
        algo, bench, TrainConfig(epochs=2, batch_size=8, **train), torch.Generator().manual_seed(0), torch.device("cpu")
    )
    return result, algo, set(dtypes)


def test_bf16_runs_the_training_forward_in_bfloat16_and_keeps_float32_weights():
    result, algo, dtypes = cnn_run(precision="bf16")
    assert dtypes == {torch.bfloat16}
    assert all(p.dtype == torch.float32 for p in algo.model.parameters())
    assert [len(r) for r in result.accuracy_matrix] == [1, 2]


def test_fp32_is_the_default():
    _, _, dtypes = cnn_run()
    assert dtypes == {torch.float32}


def test_channels_last_stores_conv_weights_channels_last_and_learns_the_same():
    plain, _, _ = cnn_run()
    result, algo, _ = cnn_run(channels_last=True)
    conv = algo.model.backbone.features[3].weight  # (8, 4, 3, 3): the formats differ
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    for a, b in zip(result.accuracy_matrix, plain.accuracy_matrix):
        assert a == pytest.approx(b, abs=0.05)


def test_compile_compiles_the_backbone_in_place_and_changes_no_number():
    plain, _, _ = cnn_run()
    result, algo, _ = cnn_run(compile=True, compile_backend="eager")  # eager: dynamo tracing, no C++ build
    assert getattr(algo.model.backbone, "_compiled_call_impl", None) is not None
    assert result.accuracy_matrix == plain.accuracy_matrix
    assert "features.0.weight" in algo.model.backbone.state_dict()  # names unchanged


def test_unknown_compile_backend_is_a_config_error():
    from retain.errors import ConfigError
    from retain.experiment.build import config_from_dict

    with pytest.raises(ConfigError, match="train.compile_backend"):
        config_from_dict({"train": {"compile": True, "compile_backend": "inductr"}})
