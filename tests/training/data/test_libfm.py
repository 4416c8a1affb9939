"""libFM: the same data as CSV must become the same tensors (and so the same model)."""

import dataclasses

import pytest

from contract.schema import load_schema
from tests.conftest import TINY_DATA
from tests.training.data.conftest import BAD, DATASETS, tiny_variant
from training.data import DataError, load_table

torch = pytest.importorskip("torch")

from training.config import TrainConfig  # noqa: E402
from training.pipeline import prepare  # noqa: E402
from training.train import train  # noqa: E402

LIBFM = DATASETS / "tiny_libfm.toml"


def assert_same_tensors(a, b):
    for part in ("train", "validation", "test"):
        x, y = getattr(a, part), getattr(b, part)
        assert torch.equal(x.ids, y.ids), part
        assert torch.equal(x.values, y.values), part
        assert torch.equal(x.labels, y.labels), part
    assert a.encoder.vocabularies() == b.encoder.vocabularies()
    assert a.encoder.to_layout()["num_features"] == b.encoder.to_layout()["num_features"]


def test_libfm_and_csv_train_on_identical_tensors():
    libfm_schema = load_schema(LIBFM)
    csv_schema = tiny_variant(split=libfm_schema.split.to_dict())
    from_libfm = prepare(libfm_schema, DATASETS / "tiny.libfm")
    from_csv = prepare(csv_schema, TINY_DATA)
    assert len(from_libfm.train) == 420
    assert_same_tensors(from_libfm, from_csv)
    config = TrainConfig(dim=4, epochs=2, batch_size=64, lr=0.01, seed=2)
    models = [train(config, p.train, p.validation, p.encoder.num_features, progress=False) for p in
              (from_libfm, from_csv)]  # fmt: skip
    assert torch.equal(models[0].model.table.weight, models[1].model.table.weight)


def test_weighted_libfm_values_become_feature_values():
    from_libfm = prepare(load_schema(DATASETS / "weighted_libfm.toml"), DATASETS / "weighted.libfm")
    from_csv = prepare(load_schema(DATASETS / "weighted.toml"), DATASETS / "weighted.csv")
    assert_same_tensors(from_libfm, from_csv)
    values = from_libfm.train.values[:, 1:]  # the terms slots
    assert set(values.unique().tolist()) == {0.0, 0.25, 0.5, 1.0, 1.5, 2.0}


def test_positional_lines_fill_fields_in_order():
    table = load_table(load_schema(DATASETS / "positional.toml"), DATASETS / "positional.libfm")
    first = (DATASETS / "positional.libfm").read_text().split("\n")[0].split()
    assert [table[c][0] for c in ("label", "user", "item", "device")] == [first[0]] + [p[:-2] for p in first[1:]]
    prepared = prepare(load_schema(DATASETS / "positional.toml"), DATASETS / "positional.libfm")
    assert set(prepared.train.labels.tolist()) == {0.0, 1.0}  # -1/1 through rule "> 0"


def libfm_error(tmp_path, lines, schema_path=LIBFM, field_map=None):
    path = tmp_path / "data.libfm"
    path.write_text("\n".join(lines) + "\n")
    schema = load_schema(schema_path)
    if field_map is not None:
        (tmp_path / "map.txt").write_text(field_map)
        schema = dataclasses.replace(schema, source={"format": "libfm", "field_map": str(tmp_path / "map.txt")})
    with pytest.raises(DataError) as info:
        load_table(schema, path)
    return str(info.value)


def test_an_id_the_field_map_does_not_cover():
    with pytest.raises(DataError) as info:
        load_table(load_schema(LIBFM), BAD / "uncovered_id.libfm")
    assert str(info.value) == (
        f"{BAD / 'uncovered_id.libfm'}, line 4: feature id '999' is not in source.field_map "
        f"({DATASETS / 'tiny.fieldmap'})"
    )


def test_a_feature_value_a_categorical_field_cannot_hold():
    with pytest.raises(DataError) as info:
        load_table(load_schema(LIBFM), BAD / "weighted_categorical.libfm")
    message = str(info.value)
    assert message.startswith(f"{BAD / 'weighted_categorical.libfm'}, line 2: feature 61 (user=")
    assert "has value 0.5, but categorical fields take value 1; declare 'user' multi_categorical with " in message
    assert message.endswith('weighting = "given" to keep feature values')


def test_an_unparsable_line_is_named():
    with pytest.raises(DataError, match=r"unparsable.libfm, line 5: expected 'id:value', got '17'"):
        load_table(load_schema(LIBFM), BAD / "unparsable.libfm")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("1 76:x", "line 1: feature 76 has value 'x', not a number"),
        ("1 76:inf", "not a finite number"),
        ("1 :1", "expected 'id:value', got ':1'"),
        (
            "1 76:1 34:1 0:1",
            "line 1: field 'user' has two features ('9' and '21') but holds one; declare it multi_categorical",
        ),
        ("1 30:1 30:2", "field 'price' has two features (1.0 and 2.0)"),
    ],
)
def test_bad_pairs_are_named(tmp_path, line, message):
    assert message in libfm_error(tmp_path, [line])


def test_too_many_positional_features(tmp_path):
    message = libfm_error(tmp_path, ["1 1:1 12:1 30:1", "-1 1:1 12:1 30:1 40:1"], DATASETS / "positional.toml")
    assert message.endswith(
        "line 2: 4 features, but the schema has 3 raw columns (one feature per position); set "
        "source.field_map to assign features to fields by id"
    )


@pytest.mark.parametrize(
    ("field_map", "message"),
    [
        ("1 user 5\n2\n", "map.txt, line 2: expected '<feature id> <field> [<raw value>]', got '2'"),
        ("1 user 5\n2 colour red\n", "line 2: 'colour' is not a field of the schema"),
        ("1 user 5\n1 item 3\n", "line 2: feature id '1' is mapped twice (first on line 1)"),
        ("3 price 9.5\n", "line 1: 'price' is numeric; its value comes from the libFM line, not the map"),
        ("# nothing\n", "maps no feature ids"),
    ],
)
def test_bad_field_maps_name_the_key_and_line(tmp_path, field_map, message):
    error = libfm_error(tmp_path, ["1 1:1"], field_map=field_map)
    assert error.startswith("source.field_map: ")
    assert message in error


def test_missing_field_map_file(tmp_path):
    schema = dataclasses.replace(load_schema(LIBFM), source={"format": "libfm", "field_map": "absent.map"})
    with pytest.raises(DataError, match=r"source.field_map: .*absent.map: no such file"):
        load_table(schema, DATASETS / "tiny.libfm")
