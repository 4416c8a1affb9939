"""The contract shared by training and serving: dataset schema, feature encoding, artifact format.

Only numpy and the standard library are imported here, so both the PyTorch trainer and the
torch-free server can depend on it. Anything that turns a raw record into model inputs, or
reads/writes a model artifact, lives here and nowhere else: that is what prevents train/serve skew.
"""

from contract.artifact import Artifact, ArtifactError, load_artifact, resolve_artifact, write_artifact
from contract.encoding import EncodedBatch, FeatureEncoder
from contract.fitting import ValueCounts
from contract.schema import DatasetSchema, FieldSpec, SchemaError, load_schema, parse_schema
from contract.values import EncodingError

__all__ = [
    "Artifact",
    "ArtifactError",
    "DatasetSchema",
    "EncodedBatch",
    "EncodingError",
    "FeatureEncoder",
    "FieldSpec",
    "SchemaError",
    "ValueCounts",
    "load_artifact",
    "load_schema",
    "parse_schema",
    "resolve_artifact",
    "write_artifact",
]
