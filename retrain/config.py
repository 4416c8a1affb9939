"""``retrain.toml``: what the nightly job reads, trains, checks and publishes — validated, errors name the key.

::

    model = "ml100k"                    # models/<model>/ and the model name in Redis
    models_dir = "models"

    [data]
    schema = "datasets/ml100k_daily.toml"
    path = "data/ml100k-daily"          # date=YYYY-MM-DD/ partitions (ctr replay writes them)
    train_days = 90                     # the training window, before validation and holdout
    validation_days = 7                 # early stopping
    holdout_days = 3                    # the most recent days: both models are judged on them

    [training]                          # a preset, then any TrainConfig field (training/config.py)
    preset = "default"
    augment = "none"

    [gate]                              # the candidate is promoted only if all hold
    max_auc_drop = 0.01                 # candidate AUC >= active AUC - this
    max_logloss_rise = 0.02             # candidate log loss <= active log loss + this
    max_ece = 0.1                       # candidate expected calibration error <= this
    min_auc = 0.55                      # with no active model to compare with: candidate AUC >= this
    min_holdout_rows = 200

    [publish]                           # optional: Redis (CTR_REDIS_PASSWORD etc. from the environment)
    redis_url = "redis://127.0.0.1:6379/0"
    shards = 32
    keep = 5

    [metrics]                           # optional: where the outcome goes for Prometheus
    pushgateway = "http://127.0.0.1:9091"
    textfile = "/var/lib/node_exporter/textfile/ctr_retrain.prom"

Paths are relative to the directory the job runs in (as ``ctr train``'s are).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contract.toml_keys import ConfigKeyError, choice, dataclass_values, only_keys, read_toml, typed
from training.config import PRESETS, TrainConfig


class ConfigError(ConfigKeyError):
    """``retrain.toml`` is invalid; the message starts with the key at fault."""


_typed = functools.partial(typed, error=ConfigError)
_only_keys = functools.partial(only_keys, error=ConfigError)


@dataclass(frozen=True)
class DataConfig:
    schema: Path
    path: Path
    train_days: int = 90
    validation_days: int = 7
    holdout_days: int = 3


@dataclass(frozen=True)
class GateConfig:
    max_auc_drop: float = 0.01
    max_logloss_rise: float = 0.02
    max_ece: float = 0.1
    min_auc: float = 0.55
    min_holdout_rows: int = 200


@dataclass(frozen=True)
class PublishConfig:
    redis_url: str | None = None
    shards: int = 32
    keep: int = 5


@dataclass(frozen=True)
class MetricsConfig:
    pushgateway: str | None = None
    textfile: Path | None = None


@dataclass(frozen=True)
class RetrainConfig:
    model: str
    models_dir: Path
    data: DataConfig
    training: TrainConfig
    gate: GateConfig
    publish: PublishConfig
    metrics: MetricsConfig

    @property
    def model_dir(self) -> Path:
        return self.models_dir / self.model


def load_config(path: str | Path) -> RetrainConfig:
    """Read and validate a retrain.toml."""
    return parse_config(read_toml(Path(path), "config", ConfigError))


def parse_config(raw: dict[str, Any]) -> RetrainConfig:
    _only_keys("", raw, {"model", "models_dir", "data", "training", "gate", "publish", "metrics"})
    model = _typed("model", raw.get("model"), str, required=True)
    if not model or not all(c.isalnum() or c in "_.-" for c in model):
        raise ConfigError("model", f"{model!r} must be letters, digits, '_', '.' or '-'")
    data = _section("data", raw, DataConfig, required=("schema", "path"))
    for key in ("train_days", "validation_days", "holdout_days"):
        if getattr(data, key) < 1:
            raise ConfigError(f"data.{key}", "must be >= 1")
    gate = _section("gate", raw, GateConfig)
    publish = _section("publish", raw, PublishConfig)
    if publish.keep < 2:
        raise ConfigError("publish.keep", "must be >= 2: replicas may still read the previous version")
    return RetrainConfig(
        model=model,
        models_dir=Path(_typed("models_dir", raw.get("models_dir", "models"), str)),
        data=data,
        training=_training(raw.get("training", {})),
        gate=gate,
        publish=publish,
        metrics=_section("metrics", raw, MetricsConfig),
    )


def _values(name: str, table: dict[str, Any], kind: type, required: tuple[str, ...] = ()) -> dict[str, Any]:
    return dataclass_values(name, table, kind, ConfigError, required)


def _section(name: str, raw: dict[str, Any], kind: type, required: tuple[str, ...] = ()) -> Any:
    table = _typed(name, raw.get(name, {}), dict, required=bool(required))
    return kind(**_values(name, table, kind, required))


def _training(table: Any) -> TrainConfig:
    table = dict(_typed("training", table, dict))
    preset = choice("training.preset", table.pop("preset", "default"), tuple(sorted(PRESETS)), ConfigError)
    try:
        return PRESETS[preset].replace(**_values("training", table, TrainConfig))
    except ValueError as exc:  # TrainConfig's own range checks: "invalid training setting lr=-1.0"
        raise ConfigError("training", str(exc)) from exc
