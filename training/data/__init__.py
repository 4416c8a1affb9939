"""Reading datasets declared by a schema into raw columns, deriving labels and splits."""

from training.data.errors import DataError
from training.data.readers import load_table
from training.data.split import Split, labels_of, split_rows

__all__ = ["DataError", "Split", "labels_of", "load_table", "split_rows"]
