"""Pretrained backbones: weights read back bit-equal, freezing exactly the intended parameters, one-line errors."""

import sys

import pytest
import torch

from retain.errors import ConfigError
from retain.experiment.build import build_model, config_from_dict
from retain.models.freeze import block_names
from retain.models.pretrained import TimmBackbone, TorchvisionBackbone

timm = pytest.importorskip("timm")
safetensors_torch = pytest.importorskip("safetensors.torch")

SHAPE = (3, 32, 32)


def _random_state(model: str) -> dict[str, torch.Tensor]:
    torch.manual_seed(123)
    net = timm.create_model(model, pretrained=False, num_classes=0)
    return {k: v.clone() for k, v in net.state_dict().items()}


def _assert_same(net: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    own = net.state_dict()
    assert own.keys() == state.keys()
    assert all(torch.equal(own[k], state[k]) for k in state)


@pytest.mark.parametrize("fmt", ["safetensors", "pth", "timm_checkpoint"])
def test_timm_weights_are_read_back_bit_equal(tmp_path, fmt):
    state = _random_state("test_vit")
    if fmt == "safetensors":
        path = tmp_path / "w.safetensors"
        safetensors_torch.save_file(state, str(path))
    elif fmt == "pth":
        path = tmp_path / "w.pth"
        torch.save(state, path)
    else:  # a timm training checkpoint: DDP prefix, a classifier, other entries
        path = tmp_path / "checkpoint.pth.tar"
        wrapped = {f"module.{k}": v for k, v in state.items()} | {"module.head.weight": torch.zeros(10, 64)}
        torch.save({"epoch": 3, "arch": "test_vit", "state_dict": wrapped}, path)
    torch.manual_seed(0)  # a different initialisation than the file's
    backbone = TimmBackbone(SHAPE, model="test_vit", weights=str(path))
    _assert_same(backbone.net, state)


def test_torchvision_resnet_weights_are_read_back_bit_equal(tmp_path):
    import torchvision

    torch.manual_seed(7)
    net = torchvision.models.resnet18(weights=None)
    state = {k: v.clone() for k, v in net.state_dict().items()}  # with its fc, as torchvision ships it
    torch.save(state, tmp_path / "resnet18.pth")
    backbone = TorchvisionBackbone(SHAPE, model="resnet18", weights=str(tmp_path / "resnet18.pth"))
    _assert_same(backbone.net, {k: v for k, v in state.items() if not k.startswith("fc.")})
    assert backbone.output_dim == 512 and backbone.input_spec.size == (224, 224)


def test_missing_and_unexpected_keys_are_named_with_the_file(tmp_path):
    state = _random_state("test_vit")
    del state["blocks.0.attn.qkv.weight"]
    state["extra.weight"] = torch.zeros(2)
    path = tmp_path / "bad.safetensors"
    safetensors_torch.save_file(state, str(path))
    with pytest.raises(ConfigError) as err:
        TimmBackbone(SHAPE, model="test_vit", weights=str(path))
    text = str(err.value)
    assert "\n" not in text and str(path) in text and text.startswith("backbone.weights")
    assert "missing keys [blocks.0.attn.qkv.weight]" in text and "unexpected keys [extra.weight]" in text


def test_mismatched_shapes_are_named(tmp_path):
    state = _random_state("test_vit")
    state["pos_embed"] = torch.zeros(1, 3, 64)
    torch.save(state, tmp_path / "w.pth")
    with pytest.raises(ConfigError, match=r"shapes \(file vs model\) \[pos_embed \(1, 3, 64\) vs"):
        TimmBackbone(SHAPE, model="test_vit", weights=str(tmp_path / "w.pth"))


def test_a_missing_file_and_an_unsafe_pickle_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="nowhere.pth.*no such file"):
        TimmBackbone(SHAPE, model="test_vit", weights=str(tmp_path / "nowhere.pth"))
    torch.save({"weights": _Unsafe()}, tmp_path / "unsafe.pth")
    with pytest.raises(ConfigError, match=r"unsafe.pth.*weights_only=True"):
        TimmBackbone(SHAPE, model="test_vit", weights=str(tmp_path / "unsafe.pth"))


class _Unsafe:
    """An object torch.load(weights_only=True) must not unpickle."""


def _trainable(backbone: torch.nn.Module) -> set[str]:
    return {n.removeprefix("net.") for n, p in backbone.named_parameters() if p.requires_grad}


def test_freeze_leaves_exactly_the_intended_parameters_trainable():
    every = {n for n, _ in TimmBackbone(SHAPE, model="test_vit").net.named_parameters()}
    assert _trainable(TimmBackbone(SHAPE, model="test_vit", freeze="none")) == every
    assert _trainable(TimmBackbone(SHAPE, model="test_vit", freeze="all")) == set()
    last = TimmBackbone(SHAPE, model="test_vit", freeze="blocks:2")
    blocks, _ = block_names(last.net)
    expected = {n for n in every if n.startswith((blocks[-1] + ".", blocks[-2] + ".", "norm.", "fc_norm."))}
    assert _trainable(last) == expected and any(n.startswith("norm.") for n in expected)
    assert "cls_token" not in expected and "pos_embed" not in expected


def test_resnet_blocks_are_the_residual_blocks_and_frozen_parts_stay_in_eval_mode():
    backbone = TorchvisionBackbone(SHAPE, model="resnet18", freeze="blocks:1")
    assert _trainable(backbone) == {n for n, _ in backbone.net.named_parameters() if n.startswith("layer4.1.")}
    backbone.train()
    assert not backbone.net.bn1.training and not backbone.net.layer4[0].bn1.training  # frozen: statistics fixed
    assert backbone.net.layer4[1].bn1.training
    frozen = TorchvisionBackbone(SHAPE, model="resnet18", freeze="all").train()
    assert not any(m.training for m in frozen.net.modules())


def test_the_model_trains_the_heads_over_a_frozen_backbone():
    cfg = config_from_dict({"backbone": {"name": "timm", "model": "test_resnet", "freeze": "all"}})
    model = build_model(cfg, (1, 8, 8))
    model.heads.setup_task(1, 2)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"heads.heads.0.weight", "heads.heads.0.bias"}


def test_freeze_errors_name_the_key():
    with pytest.raises(ConfigError, match=r"backbone.freeze = 'blocks:7'.*6 blocks"):
        TimmBackbone(SHAPE, model="test_vit", freeze="blocks:7")
    with pytest.raises(ConfigError, match=r"backbone.freeze = 'some'"):
        config_from_dict({"backbone": {"name": "timm", "model": "test_vit", "freeze": "some"}})
    with pytest.raises(ConfigError, match=r"backbone.freeze = 'all'.*only used with name 'timm' or 'torchvision'"):
        config_from_dict({"backbone": {"name": "mlp", "freeze": "all"}})
    with pytest.raises(ConfigError, match=r"backbone.model = None.*required"):
        config_from_dict({"backbone": {"name": "timm"}})


def test_unknown_models_are_named():
    with pytest.raises(ConfigError, match=r"backbone.model = 'test_vitt'.*did you mean 'test_vit"):
        build_model(config_from_dict({"backbone": {"name": "timm", "model": "test_vitt"}}), SHAPE)
    with pytest.raises(ConfigError, match=r"backbone.model = 'resnet51'.*did you mean"):
        build_model(config_from_dict({"backbone": {"name": "torchvision", "model": "resnet51"}}), SHAPE)


def test_timm_missing_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)  # `import timm` now raises ImportError
    with pytest.raises(ConfigError, match=r"pip install 'retain\[timm\]'"):
        build_model(config_from_dict({"backbone": {"name": "timm", "model": "test_vit"}}), SHAPE)


def test_the_input_spec_is_the_models_own():
    spec = TimmBackbone(SHAPE, model="test_vit").input_spec
    assert spec.size == (160, 160) and spec.mean == (0.5, 0.5, 0.5) and spec.interpolation == "bicubic"
    assert TimmBackbone(SHAPE, model="test_resnet", image_size=64).input_spec.size == (64, 64)


def test_the_shipped_pretrained_configs_name_timm_architectures():
    import yaml

    from tests.unit.test_shipped_configs import CONFIGS

    pretrained = [p for p in CONFIGS if (yaml.safe_load(p.read_text()).get("backbone") or {}).get("name") == "timm"]
    assert len(pretrained) >= 6
    for path in pretrained:
        model = yaml.safe_load(path.read_text())["backbone"]["model"]
        assert model.split(".")[0] in timm.list_models(), path.name


@pytest.mark.parametrize("algorithm", ["ncm", "lwf"])
def test_a_shipped_imagenet_r_config_runs_end_to_end_on_a_small_folder(tmp_path, algorithm):
    from retain import run
    from retain.experiment.build import load_config
    from tests.unit.test_folders import _imagenet_r
    from tests.unit.test_shipped_configs import ROOT

    _imagenet_r(tmp_path / "data", classes=4, per_class=5)
    safetensors_torch.save_file(_random_state("test_vit"), str(tmp_path / "w.safetensors"))
    overrides = [
        f"benchmark.root={tmp_path / 'data'}",
        "benchmark.num_tasks=2",
        "backbone.model=test_vit",
        f"backbone.weights={tmp_path / 'w.safetensors'}",
        "train.device=cpu",
        "train.epochs=1",
    ]
    cfg = load_config(ROOT / "configs" / f"split_imagenet_r_vit_{algorithm}.yaml", overrides)
    result = run(cfg, out=tmp_path / "run", progress=False)
    assert [len(row) for row in result.summary["accuracy_matrix"]] == [1, 2]


def test_independent_restarts_a_pretrained_backbone_from_its_weights(tmp_path):
    from retain.algorithms import Independent
    from tests.conftest import tiny_benchmark

    safetensors_torch.save_file(_random_state("test_resnet"), str(tmp_path / "w.safetensors"))
    cfg = config_from_dict(
        {"backbone": {"name": "timm", "model": "test_resnet", "weights": str(tmp_path / "w.safetensors")}}
    )
    algo = Independent(build_model(cfg, (1, 4, 4)))
    task = tiny_benchmark("til").tasks[0]
    algo.model.heads.setup_task(1, task.num_classes)
    with torch.no_grad():
        for p in algo.model.backbone.parameters():
            p.add_(1.0)  # what training task 1 did
    algo.on_task_start(task)
    _assert_same(algo.model.backbone.net, _random_state("test_resnet"))
