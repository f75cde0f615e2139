"""Search spaces as data: parsing, validation and CLI overrides."""

import optuna
import pytest

from tuning.search_space import SearchSpace, SearchSpaceError, as_override


def test_every_kind_of_parameter_parses_and_samples():
    space = SearchSpace.from_dict(
        {
            "model.init_args.optimizer.init_args.lr": {
                "type": "float",
                "low": "1.0e-4",
                "high": 0.1,
                "log": True,
            },
            "model.init_args.n_layers": {"type": "int", "low": 1, "high": 4, "step": 1},
            "model.init_args.pool": ["mean", "max"],
        }
    )
    assert space.keys == [
        "model.init_args.optimizer.init_args.lr",
        "model.init_args.n_layers",
        "model.init_args.pool",
    ]
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    values = space.suggest(study.ask())
    assert 1e-4 <= values["model.init_args.optimizer.init_args.lr"] <= 0.1
    assert values["model.init_args.n_layers"] in range(1, 5) and values["model.init_args.pool"] in (
        "mean",
        "max",
    )
    assert space.parameters[0].probe_values() == [1e-4, 0.1]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"type": "float", "low": 1, "high": 0}, "low ≤ high"),
        ({"type": "float", "low": 0, "high": 1, "log": True}, "low > 0"),
        ({"type": "int", "low": "a", "high": 3}, "numeric"),
        ({"type": "choice", "choices": [1]}, "float, int or categorical"),
        ({"type": "categorical", "choices": []}, "non-empty"),
        ({"type": "float", "low": 0, "high": 1, "scale": 2}, "unknown field"),
        ("0.1", "expected"),
    ],
)
def test_malformed_parameters_are_rejected_with_their_key(spec, message):
    with pytest.raises(SearchSpaceError, match=message) as info:
        SearchSpace.from_dict({"model.init_args.x": spec}, "space.yaml")
    assert "space.yaml: model.init_args.x" in str(info.value)


def test_an_empty_space_is_rejected(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing to search\n")
    with pytest.raises(SearchSpaceError, match="empty"):
        SearchSpace.load(path)
    with pytest.raises(SearchSpaceError, match="does not exist"):
        SearchSpace.load(tmp_path / "missing.yaml")


def test_overrides_keep_strings_raw_and_floats_readable_by_yaml():
    assert as_override("a.pool", "max") == "--a.pool=max"
    assert as_override("a.lr", 1e-5) == "--a.lr=1.000000000000e-05"
    assert as_override("a.flag", True) == "--a.flag=true" and as_override("a.n", 3) == "--a.n=3"
