"""A streamed (optionally distributed) training job, as a TOML file validated with errors naming the key.

::

    dataset = "../datasets/criteo_synthetic.toml"   # the schema; relative paths: from this file's directory
    data = "../data/criteo_synthetic"               # a directory of dated shards (source.partition_column)
    name = "criteo_synthetic"                       # model name (default: the dataset's)
    out = "../models"                               # where rank 0 writes <name>/<version>/

    [split]            # whole partition dates: the last test_days test, the validation_days before validate
    validation_days = 1
    test_days = 1

    [input]
    chunk_rows = 65536       # rows read and encoded at a time
    buffer_rows = 262144     # shuffle (and MixFM/SMFM partner) buffer per rank
    count_workers = 1        # processes counting shards in a single-process job

    [distributed]
    backend = "gloo"         # gloo (CPU; sparse gradients) | nccl (GPUs; dense gradients only)
    device = "cpu"           # cpu | cuda (each rank takes cuda:<LOCAL_RANK>)

    [training]               # any key of training.config.TrainConfig; batch_size is the GLOBAL batch
    dim = 8
    sparse = true

    [publish]                # optional: rank 0 publishes the exported version (docs/redis.md)
    redis_url = "redis://127.0.0.1:7000/0"
    cluster = true
    shards = 32

Command-line flags override keys (``ctr stream train --help``).
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contract.toml_keys import ConfigKeyError, choice, dataclass_values, only_keys, read_toml, typed
from training.config import PRESETS, TrainConfig

BACKENDS = ("gloo", "nccl")
DEVICES = ("cpu", "cuda")


class StreamConfigError(ConfigKeyError):
    """The job's TOML is invalid; the message starts with the key at fault."""


_typed = functools.partial(typed, error=StreamConfigError)
_only = functools.partial(only_keys, error=StreamConfigError)


@dataclass(frozen=True)
class PublishConfig:
    redis_url: str
    cluster: bool = False
    shards: int = 32
    model: str | None = None  # name in Redis; default: the job's model name


@dataclass(frozen=True)
class StreamConfig:
    dataset: Path
    data: Path
    name: str | None = None
    out: Path = Path("models")
    validation_days: int = 1
    test_days: int = 1
    chunk_rows: int = 65_536
    buffer_rows: int = 262_144
    count_workers: int = 1
    backend: str = "gloo"
    device: str = "cpu"
    training: TrainConfig = field(default_factory=lambda: PRESETS["default"].replace(sparse=True))
    publish: PublishConfig | None = None

    def __post_init__(self) -> None:
        for key in ("validation_days", "test_days", "chunk_rows", "buffer_rows", "count_workers"):
            if getattr(self, key) < 1:
                raise StreamConfigError(key, "must be >= 1")
        choice("distributed.backend", self.backend, BACKENDS, StreamConfigError)
        choice("distributed.device", self.device, DEVICES, StreamConfigError)
        if self.backend == "nccl" and self.training.sparse is not False:
            raise StreamConfigError(
                "training.sparse",
                "NCCL has no sparse all-reduce: set sparse = false with backend = 'nccl', or use gloo "
                "(docs/scaling.md)",
            )
        if self.backend == "nccl" and self.device != "cuda":
            raise StreamConfigError("distributed.device", "backend 'nccl' needs device = 'cuda'")

    def replace(self, **changes: Any) -> StreamConfig:
        """A copy with the given (non-None) keys changed; ``training`` keys go into ``training_changes``."""
        training = changes.pop("training_changes", None) or {}
        out = dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})
        return dataclasses.replace(out, training=out.training.replace(**training)) if training else out

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        for key in ("dataset", "data", "out"):
            out[key] = str(out[key])
        return out


_TOP = {"dataset", "data", "name", "out", "split", "input", "distributed", "training", "publish"}
_TABLES = {
    "split": {"validation_days": int, "test_days": int},
    "input": {"chunk_rows": int, "buffer_rows": int, "count_workers": int},
    "distributed": {"backend": str, "device": str},
}
_PUBLISH = {"redis_url": str, "cluster": bool, "shards": int, "model": str}


def load_stream_config(path: str | Path) -> StreamConfig:
    """Read and validate a job file; relative paths in it are resolved from its directory."""
    path = Path(path)
    raw = read_toml(path, "config", StreamConfigError)
    return parse_stream_config(raw, path.resolve().parent)


def parse_stream_config(raw: dict[str, Any], base: Path) -> StreamConfig:
    """Validate a parsed job file (``base``: the directory relative paths start from)."""
    _only("", raw, _TOP)

    def resolve(key: str, required: bool) -> Path | None:
        value = _typed(key, raw.get(key), str, required=required)
        return None if value is None else (base / Path(value).expanduser())

    values: dict[str, Any] = {"dataset": resolve("dataset", True), "data": resolve("data", True)}
    if (out := resolve("out", False)) is not None:
        values["out"] = out
    values["name"] = _typed("name", raw.get("name"), str)
    for table, keys in _TABLES.items():
        section = _typed(table, raw.get(table, {}), dict)
        _only(table, section, set(keys))
        for key, kind in keys.items():
            if (value := _typed(f"{table}.{key}", section.get(key), kind)) is not None:
                values[key] = value
    values["training"] = _training(_typed("training", raw.get("training", {}), dict))
    if (publish := _typed("publish", raw.get("publish"), dict)) is not None:
        _only("publish", publish, set(_PUBLISH))
        args = {
            k: _typed(f"publish.{k}", publish.get(k), kind, required=k == "redis_url") for k, kind in _PUBLISH.items()
        }
        values["publish"] = PublishConfig(**{k: v for k, v in args.items() if v is not None})
    return StreamConfig(**{k: v for k, v in values.items() if v is not None})


def _training(section: dict[str, Any]) -> TrainConfig:
    defaults = StreamConfig.__dataclass_fields__["training"].default_factory()  # type: ignore[misc]
    changes = dataclass_values("training", section, TrainConfig, StreamConfigError)
    try:
        return dataclasses.replace(defaults, **changes)
    except ValueError as exc:  # TrainConfig's own checks name the setting
        raise StreamConfigError("training", str(exc)) from exc
