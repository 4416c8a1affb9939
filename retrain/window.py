"""Which daily partitions a night trains, validates and judges on.

For a run dated D (default: today, UTC) the data ends yesterday; counting back::

    holdout    = [D - H, D - 1]                  both models are judged on these days
    validation = [D - H - V, D - H - 1]          early stopping
    train      = [D - H - V - T, D - H - V - 1]

Days without a partition are skipped (a holiday, an outage); each part needs at least one.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from retrain.config import DataConfig
from training.data.errors import DataError
from training.data.replay import partition_dates, partition_path


@dataclass(frozen=True)
class Window:
    train: tuple[dt.date, ...]
    validation: tuple[dt.date, ...]
    holdout: tuple[dt.date, ...]

    def paths(self, root: Path) -> dict[str, list[Path]]:
        """The given split's parts: the holdout is the "test" part."""
        parts = {"train": self.train, "validation": self.validation, "test": self.holdout}
        return {part: [partition_path(root, day) for day in days] for part, days in parts.items()}

    def describe(self) -> dict[str, list[str]]:
        parts = {"train": self.train, "validation": self.validation, "holdout": self.holdout}
        return {part: [days[0].isoformat(), days[-1].isoformat()] for part, days in parts.items()}


def window_for(config: DataConfig, run_date: dt.date) -> Window:
    """The partitions of each part for a run on ``run_date`` (DataError when a part has none)."""
    available = set(partition_dates(config.path))
    end = run_date  # exclusive
    parts = []
    for name, days in (("holdout", config.holdout_days), ("validation", config.validation_days),
                       ("train", config.train_days)):  # fmt: skip
        span = [end - dt.timedelta(days=k) for k in range(days, 0, -1)]
        present = tuple(day for day in span if day in available)
        if not present:
            raise DataError(f"{config.path}: no partitions for the {name} days {span[0]} .. {span[-1]} "
                            f"(a run dated {run_date} needs data up to {run_date - dt.timedelta(days=1)})")  # fmt: skip
        parts.append(present)
        end = span[0]
    holdout, validation, train = parts
    return Window(train, validation, holdout)
