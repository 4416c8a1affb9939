"""Every Redis key and channel the embedding store uses, in one place (tests pin their exact bytes).

::

    ctr:<model>:active                            string: the version replicas serve
    ctr:<model>:versions                          sorted set: published versions, scored by first publish time
    ctr:<model>:activations                       pub/sub channel: carries a version when it is activated
    ctr:<model>:history                           list: one JSON line per activation, newest first
    ctr:<model>:shadow                            string: a version scored beside the active one (optional)
    ctr:{<model>:<version>}:manifest              JSON, written last: a version without it is incomplete
    ctr:{<model>:<version>}:onnx                  model.onnx bytes
    ctr:{<model>:<version>}:oov                   (F, K+1) float32 LE: each field's OOV row, in field order
    ctr:{<model>:<version>}:catalog               string: the candidate catalog generation servers use
    ctr:{<model>:<version>}:catalogs              sorted set: the version's catalog generations, by publish time
    ctr:{<model>:<version>}:catalog:<gen>:manifest          JSON, written last: the generation is complete
    ctr:{<model>:<version>}:catalog:<gen>:<file>:<part>     a catalog file (contract.catalog_files), in parts
    ctr:{<model>:<version>:<shard>}:e:<feature>   (K+1,) float32 LE: [linear weight, embedding...]
    ctr:{<model>:<version>:<shard>}:n             decimal: rows in the shard; read with every MGET of it, so
                                                  a shard that vanished (Redis restarted empty, evicted,
                                                  deleted) is an error, not a flood of OOV rows

``<feature>`` is the feature's hashed id (``contract.encoding.feature_hash`` of field and canonical
value) as 16 lowercase hex digits, and ``<shard>`` is that id modulo the version's shard count. The
braces are a Redis Cluster hash tag: every key of one (version, shard) lives in one hash slot, so a
request needs one MGET per shard it touches, and a version's metadata sits in one slot of its own.
"""

from __future__ import annotations

import numpy as np

from app.settings import REDIS_NAME

ROW_DTYPE = np.dtype("<f4")


def check_name(kind: str, name: str) -> str:
    """Model names and versions go into keys and SCAN patterns: refuse glob characters, braces, colons."""
    if not REDIS_NAME.match(name):
        raise ValueError(f"{kind} {name!r} must be 1-100 letters, digits, '_', '.' or '-'")
    return name


class ModelKeys:
    """Keys of one model name: the active pointer, the list of versions and the activation channel."""

    def __init__(self, model: str) -> None:
        self.model = check_name("model name", model)
        self.active = f"ctr:{model}:active".encode()
        self.versions = f"ctr:{model}:versions".encode()
        self.channel = f"ctr:{model}:activations".encode()
        self.history = f"ctr:{model}:history".encode()
        self.shadow = f"ctr:{model}:shadow".encode()

    def version(self, version: str, shards: int) -> VersionKeys:
        return VersionKeys(self.model, version, shards)


class VersionKeys:
    """Keys of one published version with ``shards`` feature shards."""

    def __init__(self, model: str, version: str, shards: int) -> None:
        check_name("version", version)
        if shards < 1:
            raise ValueError("shards must be >= 1")
        self.model, self.version, self.shards = model, version, shards
        tag = f"ctr:{{{model}:{version}}}"
        self.manifest = f"{tag}:manifest".encode()
        self.onnx = f"{tag}:onnx".encode()
        self.oov = f"{tag}:oov".encode()
        self._tag = tag
        self.catalog = f"{tag}:catalog".encode()  # the generation in use (absent: the version has no catalog)
        self.catalogs = f"{tag}:catalogs".encode()
        self.catalog_pattern = f"{tag}:catalog:*".encode()
        self._prefixes = [f"ctr:{{{model}:{version}:{s}}}:e:".encode() for s in range(shards)]
        self.counts = [f"ctr:{{{model}:{version}:{s}}}:n".encode() for s in range(shards)]
        # SCAN patterns of the version's feature and count keys (braces are literal in Redis globs)
        self.feature_pattern = f"ctr:{{{model}:{version}:*}}:e:*".encode()
        self.count_pattern = f"ctr:{{{model}:{version}:*}}:n".encode()

    def catalog_manifest(self, generation: str) -> bytes:
        return f"{self._tag}:catalog:{check_name('catalog generation', generation)}:manifest".encode()

    def catalog_part(self, generation: str, file: str, part: int) -> bytes:
        return f"{self._tag}:catalog:{check_name('catalog generation', generation)}:{file}:{part}".encode()

    def shard_of(self, features: np.ndarray) -> np.ndarray:
        """Shard of each hashed feature id (int64, non-negative)."""
        return features % self.shards

    def feature(self, feature: int) -> bytes:
        return self._prefixes[feature % self.shards] + b"%016x" % feature

    def features(self, features: np.ndarray) -> list[bytes]:
        """Keys of hashed feature ids, in order."""
        prefixes, shards = self._prefixes, self.shards
        return [prefixes[f % shards] + b"%016x" % f for f in features.tolist()]


def pack_rows(rows: np.ndarray) -> bytes:
    """Rows as stored: little-endian float32, row after row."""
    return np.ascontiguousarray(rows, dtype=ROW_DTYPE).tobytes()


def unpack_rows(data: bytes, width: int) -> np.ndarray:
    """Inverse of :func:`pack_rows`: (n, width) native float32 (a copy, so it is writable)."""
    if len(data) % (width * ROW_DTYPE.itemsize):
        raise ValueError(f"{len(data)} bytes are not whole rows of {width} float32")
    return np.frombuffer(data, dtype=ROW_DTYPE).reshape(-1, width).astype(np.float32)
