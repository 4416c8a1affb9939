"""retrain.toml: the example validates; every mistake names its key."""

import pytest

from retrain.config import ConfigError, load_config, parse_config
from tests.test_isolation import ROOT

BASE = {"model": "m", "data": {"schema": "s.toml", "path": "d"}}


def test_the_shipped_example_loads():
    config = load_config(ROOT / "deploy/retrain.toml")
    assert config.model == "ml100k" and config.data.holdout_days == 3 and config.training.threads == 1
    assert config.publish.redis_url is None and config.metrics.pushgateway is None
    assert str(config.model_dir) == "models/ml100k"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"modle": "x"}, "modle: unknown key (did you mean 'model'?)"),
        ({"data": {"schema": "s", "path": "d", "holdout_day": 3}}, "data.holdout_day: unknown key (did you mean"),
        ({"data": {"schema": "s"}}, "data.path: is required"),
        ({"data": {"schema": "s", "path": "d", "train_days": "many"}}, "data.train_days: must be an integer"),
        ({"data": {"schema": "s", "path": "d", "train_days": 0}}, "data.train_days: must be >= 1"),
        ({"gate": {"max_ece": "low"}}, "gate.max_ece: must be a number"),
        ({"training": {"lr": -1.0}}, "training: invalid training setting lr=-1.0"),
        ({"training": {"dim": 8.5}}, "training.dim: must be an integer"),
        ({"training": {"preset": "fast"}}, "training.preset: 'fast' is not one of default, paper"),
        ({"publish": {"keep": 1}}, "publish.keep: must be >= 2"),
        ({"model": "a b"}, "model: 'a b' must be letters"),
    ],
)  # fmt: skip
def test_mistakes_name_the_key(change, message):
    with pytest.raises(ConfigError) as info:
        parse_config({**BASE, **change})
    assert message in str(info.value)


def test_numbers_may_be_written_as_integers():
    config = parse_config({**BASE, "gate": {"max_ece": 1}, "training": {"lr": 1}})
    assert config.gate.max_ece == 1.0 and config.training.lr == 1.0
