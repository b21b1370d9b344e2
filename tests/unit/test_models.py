import pytest
import torch

from retain.models import MLP, ContinualModel, HeadDIL, HeadsCIL, HeadsTIL, ResNet18, SmallCNN
from retain.scenarios.setting import make_heads


def test_til_heads_one_per_task():
    heads = HeadsTIL(8)
    heads.setup_task(1, 2)
    heads.setup_task(2, 3)
    f = torch.randn(5, 8)
    assert heads(f, 1).shape == (5, 2) and heads(f, 2).shape == (5, 3)
    assert heads.eval_head(1, seen=2) == 1


def test_dil_head_is_shared_and_checks_class_count():
    heads = HeadDIL(8)
    heads.setup_task(1, 10)
    heads.setup_task(2, 10)
    assert heads.num_tasks == 1
    f = torch.randn(3, 8)
    assert torch.equal(heads(f, 1), heads(f, 2))
    with pytest.raises(ValueError, match="same classes"):
        heads.setup_task(3, 5)


def test_cil_head_grows_and_tests_over_all_seen_classes():
    heads = HeadsCIL(8)
    heads.setup_task(1, 2)
    heads.setup_task(2, 2)
    f = torch.randn(4, 8)
    assert heads(f, 1).shape == (4, 2) and heads(f, 2).shape == (4, 4)
    assert heads.eval_head(1, seen=2) == 2
    torch.testing.assert_close(heads(f, 2)[:, :2], heads(f, 1))


def test_heads_refuse_to_skip_a_task():
    heads = HeadsTIL(4)
    with pytest.raises(ValueError, match="skips"):
        heads.setup_task(2, 2)


def test_mismatched_backbone_and_heads_is_a_clear_error():
    with pytest.raises(ValueError, match="output_dim = 8 does not match the heads' input_dim = 16"):
        ContinualModel(MLP((1, 4, 4), (8,)), HeadsTIL(16))


@pytest.mark.parametrize(
    "backbone,shape,dim",
    [
        (MLP((1, 8, 8), (32, 16)), (1, 8, 8), 16),
        (SmallCNN((1, 28, 28)), (1, 28, 28), 256),
        (ResNet18((3, 32, 32)), (3, 32, 32), 512),
    ],
)
def test_backbones_produce_output_dim_features(backbone, shape, dim):
    assert backbone.output_dim == dim
    assert backbone(torch.randn(2, *shape)).shape == (2, dim)


def test_resnet18_uses_the_3x3_stem_without_maxpool():
    net = ResNet18((3, 32, 32)).net
    assert net.conv1.kernel_size == (3, 3) and net.conv1.stride == (1, 1)
    assert isinstance(net.maxpool, torch.nn.Identity)


def test_small_cnn_refuses_inputs_pooled_away():
    with pytest.raises(ValueError, match="pools"):
        SmallCNN((1, 2, 2), (8, 8))


def test_make_heads_per_scenario():
    assert isinstance(make_heads("til", 4), HeadsTIL)
    assert isinstance(make_heads("dil", 4), HeadDIL)
    assert isinstance(make_heads("cil", 4), HeadsCIL)
    with pytest.raises(ValueError, match="scenario"):
        make_heads("xil", 4)
