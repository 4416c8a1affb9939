"""Errors about a user's data (not about our code): the CLI prints them and exits non-zero."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from contract.values import EncodingError


class DataError(ValueError):
    """The data does not match its schema, or cannot be read; the message says where and why."""


def no_rows(where: str, dropped: Mapping[str, int]) -> DataError:
    """Nothing to train on: an empty file, or every row dropped (and why)."""
    if not any(dropped.values()):
        return DataError(f"{where}: no rows (the data is empty)")
    reasons = ", ".join(f"{count} for {reason.replace('_', ' ')}" for reason, count in dropped.items() if count)
    return DataError(f"{where}: no rows with a label (dropped: {reasons})")


def located(exc: EncodingError, where: Callable[[int], str]) -> DataError:
    """An encoding error on a data row, re-worded to name the file and line (``where(row)``)."""
    if exc.row is None:
        return DataError(f"{exc.field}: {exc.message}" if exc.field else exc.message)
    return DataError(f"{where(exc.row)}: {exc.field}: {exc.message}")
