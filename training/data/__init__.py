"""Reading datasets declared by a schema into raw columns, deriving labels and splits.

Formats (``[source] format``): csv, tsv, parquet, jsonl, libfm/libsvm, each a small module here, for
one file or a directory of (dated) partitions. :func:`iter_chunks` streams raw columns;
:func:`read_dataset` reads them into memory with labels, the split and each row's file and line.
No module here imports torch.
"""

from training.data.chunks import DEFAULT_CHUNK_ROWS, Chunk
from training.data.dataset import Dataset, encode_rows, fit_encoder, read_dataset
from training.data.errors import DataError
from training.data.readers import iter_chunks, load_table
from training.data.source import SourceSpec, parse_source
from training.data.split import Split, split_spec

__all__ = [
    "DEFAULT_CHUNK_ROWS",
    "Chunk",
    "DataError",
    "Dataset",
    "SourceSpec",
    "Split",
    "encode_rows",
    "fit_encoder",
    "iter_chunks",
    "load_table",
    "parse_source",
    "read_dataset",
    "split_spec",
]
