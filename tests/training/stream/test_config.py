from pathlib import Path

import pytest

from training.stream.config import StreamConfigError, load_stream_config, parse_stream_config

ROOT = Path(__file__).resolve().parents[3]


def test_the_committed_job_file_loads_with_paths_from_its_directory():
    config = load_stream_config(ROOT / "configs" / "stream_criteo.toml")
    assert config.dataset == ROOT / "configs" / ".." / "datasets" / "criteo_synthetic.toml"
    assert config.dataset.resolve().is_file()
    assert config.backend == "gloo" and config.training.sparse is True and config.training.dim == 8


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"dataset": "d.toml"}, "data"),
        ({"dataset": "d", "data": "x", "inpt": {}}, "inpt"),
        ({"dataset": "d", "data": "x", "input": {"buffer_rows": 0}}, "buffer_rows"),
        ({"dataset": "d", "data": "x", "input": {"chunk_rows": "many"}}, "input.chunk_rows"),
        ({"dataset": "d", "data": "x", "distributed": {"backend": "mpi"}}, "distributed.backend"),
        ({"dataset": "d", "data": "x", "distributed": {"backend": "nccl", "device": "cuda"}}, "training.sparse"),
        ({"dataset": "d", "data": "x", "training": {"dimm": 4}}, "training.dimm"),
        ({"dataset": "d", "data": "x", "training": {"dim": 1.5}}, "training.dim"),
        ({"dataset": "d", "data": "x", "training": {"augment": "cutmix"}}, "training"),
        ({"dataset": "d", "data": "x", "publish": {"cluster": True}}, "publish.redis_url"),
    ],
)
def test_errors_name_the_key(raw, key):
    with pytest.raises(StreamConfigError) as error:
        parse_stream_config(raw, Path("/tmp"))
    assert str(error.value).startswith(f"{key}:") or error.value.key == key


def test_a_typo_gets_a_suggestion():
    with pytest.raises(StreamConfigError, match="did you mean 'dim'"):
        parse_stream_config({"dataset": "d", "data": "x", "training": {"dimm": 4}}, Path("/tmp"))


def test_dense_nccl_on_gpus_is_accepted():
    raw = {"dataset": "d", "data": "x", "distributed": {"backend": "nccl", "device": "cuda"},
           "training": {"sparse": False}}  # fmt: skip
    assert parse_stream_config(raw, Path("/tmp")).backend == "nccl"
