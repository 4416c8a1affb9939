import pytest

from contract.schema import SchemaError, load_schema, parse_schema

BASE = {"name": "d", "label": {"column": "y"}, "fields": [{"name": "a"}]}


def with_field(**field):
    return {**BASE, "fields": [{"name": "a", **field}]}


def test_committed_schemas_load():
    schema = load_schema("datasets/ml100k.toml")
    assert schema.sources[:2] == ("user_id", "age")
    assert schema.field("zip_prefix").source == "zip_code"
    assert schema.field("genres").slots == 6


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"label": {"column": "y"}, "fields": [{"name": "a"}]}, "name"),
        ({**BASE, "label": {"column": "y", "rule": "at least 4"}}, "label.rule"),
        ({**BASE, "fields": []}, "fields"),
        (with_field(kind="embedding"), "fields[0].kind"),
        (with_field(side="left"), "fields[0].side"),
        (with_field(min_count=0), "fields[0].min_count"),
        (with_field(min_count=True), "fields[0].min_count"),
        (with_field(kind="multi_categorical"), "fields[0].max_length"),
        (with_field(kind="numeric"), "fields[0]"),
        (with_field(kind="numeric", boundaries=[3, 1]), "fields[0].boundaries"),
        (with_field(max_length=3), "fields[0].max_length"),
        (with_field(buckets=4), "fields[0].buckets"),
        (with_field(transform="suffix:2"), "fields[0].transform"),
        (with_field(colour="red"), "fields[0].colour"),
        ({**BASE, "fields": [{"name": "a"}, {"name": "a"}]}, "fields[1].name"),
        ({**BASE, "split": {"method": "time"}}, "split.method"),
        ({**BASE, "split": {"sizes": [0.5, 0.5, 0.5]}}, "split.sizes"),
        ({**BASE, "fields": [{"name": "y"}]}, "fields[0].source"),
        (with_field(weighting="given"), "fields[0].weighting"),
        (with_field(kind="multi_categorical", max_length=2, weighting="sum"), "fields[0].weighting"),
        ({**BASE, "split": {"method": "random", "files": {"train": "a"}}}, "split.files"),
        ({**BASE, "split": {"method": "given", "files": {"train": "a", "validation": "b"}}}, "split.files.test"),
        (
            {**BASE, "split": {"method": "given", "files": {"train": "a", "validation": "b", "test": 3}}},
            "split.files.test",
        ),
        ({**BASE, "split": {"method": "given", "files": {"train": "a", "valid": "b"}}}, "split.files.valid"),
    ],
)
def test_invalid_schemas_name_the_key(raw, key):
    with pytest.raises(SchemaError) as info:
        parse_schema(raw)
    assert info.value.key == key
    assert str(info.value).startswith(f"{key}: ")


def test_missing_file_and_bad_toml(tmp_path):
    with pytest.raises(SchemaError, match="not found"):
        load_schema(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = [")
    with pytest.raises(SchemaError, match="not valid TOML"):
        load_schema(bad)


def test_given_split_files_and_schema_directory(tmp_path):
    path = tmp_path / "given.toml"
    path.write_text(
        'name = "g"\n[label]\ncolumn = "y"\n[split]\nmethod = "given"\n'
        'files = { train = "tr.csv", validation = "va.csv", test = "te.csv" }\n[[fields]]\nname = "a"\n'
    )
    schema = load_schema(path)
    assert schema.split.files == {"train": "tr.csv", "validation": "va.csv", "test": "te.csv"}
    assert schema.directory == tmp_path.resolve()
    assert schema.to_dict()["split"]["files"]["test"] == "te.csv"
    assert "directory" not in schema.to_dict()  # where the file lay is not part of the contract
    assert parse_schema(schema.to_dict()) == schema


@pytest.mark.parametrize("path", ["datasets/ml100k.toml", "tests/fixtures/tiny.toml"])
def test_a_manifests_copy_of_a_schema_parses_back(path):
    schema = load_schema(path)
    assert parse_schema(schema.to_dict()) == schema


CANDIDATE_FIELDS = [{"name": "user"}, {"name": "item", "side": "candidate"}, {"name": "price", "kind": "numeric",
                    "side": "candidate", "buckets": 4}]  # fmt: skip


def test_candidate_id_names_a_categorical_candidate_field():
    schema = parse_schema({**BASE, "fields": CANDIDATE_FIELDS, "candidate_id": "item"})
    assert schema.candidate_id == "item"
    assert parse_schema({**BASE, "fields": CANDIDATE_FIELDS}).candidate_id is None
    assert load_schema("datasets/ml100k.toml").candidate_id == "item_id"
    assert parse_schema(schema.to_dict()).candidate_id == "item"  # a manifest's copy reads back


@pytest.mark.parametrize(
    ("value", "detail"),
    [("itme", "did you mean 'item'"), ("user", 'side = "candidate"'), ("price", "categorical"), (3, "string")],
)
def test_a_bad_candidate_id_names_the_key(value, detail):
    with pytest.raises(SchemaError, match="candidate_id") as info:
        parse_schema({**BASE, "fields": CANDIDATE_FIELDS, "candidate_id": value})
    assert detail in str(info.value)
    assert info.value.key == "candidate_id"


def test_extends_starts_from_another_schema(tmp_path):

    base = load_schema("datasets/ml100k.toml")
    daily = load_schema("datasets/ml100k_daily.toml")
    assert daily.fields == base.fields and daily.label == base.label and daily.timestamp == base.timestamp
    assert daily.source == {"format": "parquet"} and base.source == {"reader": "ml100k"}
    (tmp_path / "loop.toml").write_text('extends = "loop.toml"\n')
    with pytest.raises(SchemaError, match="extends itself"):
        load_schema(tmp_path / "loop.toml")
    (tmp_path / "orphan.toml").write_text('extends = "nope.toml"\n')
    with pytest.raises(SchemaError, match="schema file not found"):
        load_schema(tmp_path / "orphan.toml")
