"""Fixture files of every format (tests/fixtures/datasets, written by its make_fixtures.py)."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path
from typing import Any

import pytest

from contract.schema import DatasetSchema, parse_schema
from tests.conftest import FIXTURES, TINY_DATA, TINY_SCHEMA

DATASETS = FIXTURES / "datasets"
BAD = DATASETS / "bad"


def tiny_variant(directory: Path = DATASETS, **changes: Any) -> DatasetSchema:
    """tiny.toml with top-level keys replaced (``source``, ``split``, ``timestamp``, ...; None removes a key)."""
    raw = tomllib.loads(TINY_SCHEMA.read_text()) | changes
    raw = {k: v for k, v in raw.items() if v is not None}
    return dataclasses.replace(parse_schema(raw), directory=directory)


@pytest.fixture
def tiny_csv() -> tuple[DatasetSchema, Path]:
    return tiny_variant(directory=FIXTURES), TINY_DATA
