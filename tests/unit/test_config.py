import pytest

from retain.config import Config, apply_overrides, config_to_dict
from retain.errors import ConfigError
from retain.experiment.build import config_from_dict, load_config


def test_defaults_resolve_the_scenario_from_the_benchmark():
    assert config_from_dict({}).scenario == "til"
    assert config_from_dict({"benchmark": {"name": "permuted_digits"}}).scenario == "dil"
    assert config_from_dict({"scenario": "cil", "benchmark": {"name": "permuted_digits"}}).scenario == "cil"


def test_issue_defaults():
    cfg = config_from_dict({})
    assert cfg.train.optimizer.name == "sgd" and cfg.train.optimizer.lr == 0.01
    assert cfg.train.optimizer.momentum == 0.9
    assert cfg.backbone.hidden == (256, 256)
    assert cfg.algorithm.params.teacher == "per_task"
    assert cfg.algorithm.params.distance == "cross_entropy"
    assert cfg.algorithm.params.train_old_heads is False


def test_round_trip_through_plain_data():
    cfg = load_config(overrides=["algorithm.teacher=previous", "backbone.hidden=[32, 16]", "seed=3"])
    again = config_from_dict(config_to_dict(cfg))
    assert again == cfg
    assert again.backbone.hidden == (32, 16)


def test_configs_are_frozen():
    cfg = config_from_dict({})
    with pytest.raises(AttributeError):
        cfg.seed = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    "data,key,fragment",
    [
        ({"sed": 1}, "sed", "did you mean 'seed'"),
        ({"train": {"epoch": 2}}, "train.epoch", "did you mean 'epochs'"),
        ({"train": {"epochs": "two"}}, "train.epochs", "an integer"),
        ({"train": {"epochs": 0}}, "train.epochs", "> 0"),
        ({"train": {"epochs": True}}, "train.epochs", "an integer"),
        ({"train": {"optimizer": {"lr": -1}}}, "train.optimizer.lr", "> 0"),
        ({"train": {"optimizer": {"name": "sdg"}}}, "train.optimizer.name", "did you mean 'sgd'"),
        ({"train": {"device": "gpu"}}, "train.device", "'cuda'"),
        ({"scenario": "class"}, "scenario", "'cil'"),
        ({"benchmark": {"name": "split_digit"}}, "benchmark.name", "did you mean 'split_digits'"),
        ({"benchmark": {"download": "yes"}}, "benchmark.download", "true or false"),
        ({"backbone": {"name": "resnet"}}, "backbone.name", "resnet18"),
        ({"backbone": {"hidden": [0]}}, "backbone.hidden", "positive"),
        ({"backbone": {"hidden": "256"}}, "backbone.hidden", "a list"),
        ({"algorithm": {"name": "lwf2"}}, "algorithm.name", "did you mean 'lwf'"),
        ({"algorithm": {"name": "lwf", "distillation_reg_factor": 0}}, "algorithm.distillation_reg_factor", "> 0"),
        (
            {"algorithm": {"name": "lwf", "distillation_reg_temperature": -1}},
            "algorithm.distillation_reg_temperature",
            "> 0",
        ),
        ({"algorithm": {"name": "lwf", "teacher": "all"}}, "algorithm.teacher", "'previous'"),
        ({"algorithm": {"name": "finetuning", "teacher": "previous"}}, "algorithm.teacher", "unknown key"),
        ({"train": 3}, "train", "mapping"),
        ({"train": {"optimizer": {"weight_decay": -0.1}}}, "train.optimizer.weight_decay", ">= 0"),
        ({"train": {"optimizer": {"momentum": -0.5}}}, "train.optimizer.momentum", ">= 0"),
        ({"train": {"optimizer": {"lr": float("inf")}}}, "train.optimizer.lr", "finite"),
        ({"train": {"optimizer": {"lr": float("nan")}}}, "train.optimizer.lr", "finite"),
        ({"train": {"optimizer": {"weight_decay": float("inf")}}}, "train.optimizer.weight_decay", "finite"),
        (
            {"algorithm": {"name": "lwf", "distillation_reg_factor": float("inf")}},
            "algorithm.distillation_reg_factor",
            "finite",
        ),
        ({"train": {"eval_batch_size": 0}}, "train.eval_batch_size", "> 0"),
        ({"train": {"batch_size": 0}}, "train.batch_size", "> 0"),
        ({"benchmark": {"without": [0]}}, "benchmark.without", ">= 1"),
        ({"benchmark": {"without": [2, 2]}}, "benchmark.without", "distinct"),
        ({"unlearning": {"method": "amnesic"}}, "unlearning.method", "did you mean 'amnesiac'"),
        (
            {"algorithm": {"name": "amnesiac_lwf"}, "unlearning": {"method": "none"}},
            "unlearning.method",
            "'amnesiac' with algorithm.name 'amnesiac_lwf' (or set algorithm.name: 'lwf')",
        ),
        (
            {"algorithm": {"name": "amnesiac_lwf", "disable_unlearning": "no"}},
            "algorithm.disable_unlearning",
            "true or false",
        ),
    ],
)
def test_bad_values_name_the_key_the_value_and_what_is_valid(data, key, fragment):
    with pytest.raises(ConfigError) as info:
        config_from_dict(data)
    assert info.value.key == key
    message = str(info.value)
    assert message.startswith(key) and fragment in message


def test_float_fields_accept_yaml_exponent_strings():
    assert load_config(overrides=["train.optimizer.lr=1e-3"]).train.optimizer.lr == 0.001


def test_overrides_parse_yaml_values_and_do_not_mutate_input():
    data = {"train": {"epochs": 1}}
    out = apply_overrides(data, ["train.epochs=3", "backbone.hidden=[4, 4]", "benchmark.download=true"])
    assert out["train"]["epochs"] == 3 and data["train"]["epochs"] == 1
    assert out["backbone"]["hidden"] == [4, 4] and out["benchmark"]["download"] is True


@pytest.mark.parametrize("override", ["train.epochs", "=3", "seed=3=", "seed.x=1"])
def test_malformed_overrides_raise(override):
    with pytest.raises(ConfigError):
        config_from_dict(apply_overrides({"seed": 1}, [override]))


def test_bad_yaml_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    listing = tmp_path / "list.yaml"
    listing.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(listing)
    with pytest.raises(ConfigError, match="cannot be read"):
        load_config(tmp_path / "missing.yaml")


def test_yaml_file_is_read_safely(tmp_path):
    hostile = tmp_path / "hostile.yaml"
    hostile.write_text("seed: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(hostile)


def test_config_class_is_the_public_type():
    assert isinstance(load_config(), Config)


def test_benchmark_keys_of_the_suite():
    cfg = load_config(
        overrides=[
            "benchmark.class_order=[3, 1, 2, 0]",
            "benchmark.val_fraction=0.1",
            "benchmark.classes_per_task=2",
            "train.data_path=loader",
            "train.patience=2",
        ]
    )
    assert cfg.benchmark.class_order == (3, 1, 2, 0) and cfg.benchmark.val_fraction == 0.1
    assert cfg.train.data_path == "loader" and cfg.train.patience == 2
    assert config_from_dict(config_to_dict(cfg)) == cfg


@pytest.mark.parametrize(
    "override, key",
    [
        ("benchmark.val_fraction=1.0", "benchmark.val_fraction"),
        ("benchmark.class_order=backwards", "benchmark.class_order"),
        ("benchmark.path=x.npz", "benchmark.path"),
        ("benchmark.construction=rotated", "benchmark.construction"),
        ("benchmark.name=custom", "benchmark.path"),
        ("train.data_path=gpu", "train.data_path"),
        ("train.num_workers=-1", "train.num_workers"),
        ("train.patience=0", "train.patience"),
    ],
)
def test_bad_benchmark_and_data_path_keys_are_named(override, key):
    with pytest.raises(ConfigError) as info:
        load_config(overrides=[override])
    assert info.value.key == key


def test_classes_per_task_only_for_split_benchmarks():
    with pytest.raises(ConfigError, match="benchmark.classes_per_task = 2 is not valid: only for split"):
        load_config(overrides=["benchmark.name=permuted_digits", "benchmark.classes_per_task=2"])


def test_keep_own_hyperparameters_and_set_key():
    from retain.config import set_key
    from retain.experiment.build import keep_own_hyperparameters

    data = {"seed": 1, "algorithm": {"name": "lwf", "teacher": "previous", "distillation_reg_factor": 2.0}}
    assert keep_own_hyperparameters(data, "finetuning")["algorithm"] == {"name": "finetuning"}
    assert keep_own_hyperparameters(data, "amnesiac_lwf")["algorithm"] == {
        "name": "amnesiac_lwf",
        "teacher": "previous",
        "distillation_reg_factor": 2.0,
    }
    assert data["algorithm"]["name"] == "lwf"  # the input is not changed
    set_key(data, "train.optimizer.lr", 0.1)
    assert data["train"] == {"optimizer": {"lr": 0.1}}
    with pytest.raises(ConfigError, match="seed"):
        set_key(data, "seed.x", 1)


@pytest.mark.parametrize(
    "legacy,name",
    [("amnesiac_finetuning", "finetuning"), ("amnesiac_lwf", "lwf"), ("amnesiac_independent", "independent")],
)
def test_the_first_versions_amnesiac_names_are_the_algorithm_plus_the_method(legacy, name):
    cfg = config_from_dict({"algorithm": {"name": legacy}, "unlearning": {"requests": {3: [1]}}})
    assert cfg.algorithm == config_from_dict({"algorithm": {"name": name}}).algorithm
    assert cfg.unlearning.method == "amnesiac" and cfg.unlearning.requests == {3: (1,)}
    reference = config_from_dict({"algorithm": {"name": legacy, "disable_unlearning": True}})
    assert reference.algorithm.name == name and reference.unlearning.method == "none"
    assert config_from_dict(config_to_dict(cfg)) == cfg  # saved under the new spelling


def test_lwf_hyperparameters_survive_the_legacy_spelling():
    cfg = config_from_dict({"algorithm": {"name": "amnesiac_lwf", "teacher": "previous", "disable_unlearning": False}})
    assert cfg.algorithm.name == "lwf" and cfg.algorithm.params.teacher == "previous"
