"""A streamed training job end to end: shards -> split by date -> counting pass -> vocabulary ->
distributed training -> test metrics -> export (and publish) by rank 0.

Every rank runs this same function (``torchrun`` starts them); ranks differ only in the shards they
read and in rank 0's duties (progress, logs, export, publish). The summary it returns (on every rank)
holds the metrics, the split, the timings and each rank's peak RSS.
"""

from __future__ import annotations

import json
import logging
import resource
import time
from pathlib import Path
from typing import Any

from contract.encoding import FeatureEncoder
from contract.schema import load_schema
from training.data.errors import DataError
from training.stream import distributed
from training.stream.batches import encoded_chunks, sample_records
from training.stream.config import StreamConfig
from training.stream.counting import ShardCounts, check_streamable, count_shards
from training.stream.distributed import Cluster
from training.stream.shards import assign, list_shards, split_by_date
from training.stream.trainer import Data, evaluate, train_loop

CHECK_ROWS = 4096  # test rows the exporter scores with PyTorch and onnxruntime (parity check)
METRICS_LOG = "metrics.jsonl"
SAMPLE_REQUEST = "sample_request.json"


def run_job(config: StreamConfig, cluster: Cluster, progress: bool = True, export: bool = True) -> dict[str, Any]:
    """Run the job on this rank; returns the summary (``artifact`` is set on rank 0 when exporting)."""
    started = time.perf_counter()
    main = cluster.is_main
    schema = load_schema(config.dataset)
    check_streamable(schema)
    split = split_by_date(list_shards(schema, config.data), config.validation_days, config.test_days)
    if len(split.train) < cluster.world_size:
        raise DataError(f"{len(split.train)} training shards for {cluster.world_size} ranks: each rank needs one")
    mine = assign(split.train, cluster.rank, cluster.world_size)
    _log(main, "%s: %d process(es), backend %s; rank 0 reads %d of %d training shards", schema.name,
         cluster.world_size, cluster.backend or "none", len(mine), len(split.train), event="split",
         split=split.describe())  # fmt: skip

    counted, counted_cpu = time.perf_counter(), time.process_time()
    counts = _count(config, schema, split.train, mine, cluster, progress and main)
    encoder = FeatureEncoder.from_counts(schema.fields, counts.counts)
    count_seconds = time.perf_counter() - counted
    count_cpu = sum(distributed.gather_objects(time.process_time() - counted_cpu, cluster))
    stages = {"after_counting": peak_rss_mb()}
    _log(main, "vocabulary: %s features in %d fields, %d slots (%.1f s counting)", f"{encoder.num_features:,}",
         len(encoder.fields), encoder.num_slots, count_seconds, event="vocabulary",
         features=encoder.num_features)  # fmt: skip

    data = Data(schema, encoder, mine, assign(split.validation, cluster.rank, cluster.world_size),
                config.chunk_rows, config.buffer_rows)  # fmt: skip
    log: list[dict[str, Any]] = []

    def on_epoch(record: dict[str, Any]) -> None:
        log.append(record)
        _log(main, "epoch %d: loss %.4f, validation AUC %.4f, %s samples/s", record["epoch"], record["train_loss"],
             record["val_auc"], f"{record['samples_per_s']:,.0f}", event="epoch", **record)  # fmt: skip

    trained = time.perf_counter()
    result = train_loop(config.training, data, cluster, on_epoch)
    train_seconds = time.perf_counter() - trained
    stages["after_training"] = peak_rss_mb()
    test = evaluate(result.model, data, assign(split.test, cluster.rank, cluster.world_size), cluster)
    metrics = {
        "validation": result.best_validation,
        "test": {**test.summary(), "ece": test.ece()},
        "best_epoch": result.best_epoch,
        "epochs_run": len(result.history),
    }
    peaks = distributed.gather_objects(peak_rss_mb(), cluster)
    summary: dict[str, Any] = {
        "dataset": schema.name,
        "split": split.describe(),
        **metrics,
        "distributed": {"world_size": cluster.world_size, "backend": cluster.backend, "device": str(cluster.device)},
        "features": encoder.num_features,
        "training_rows": sum(counts.rows.values()),
        "cpu_seconds": {"count": round(count_cpu, 3), "train": round(sum(r["cpu_seconds"] for r in result.history), 3)},
        "seconds": {
            "count": round(count_seconds, 3),
            "train": round(train_seconds, 3),
            "total": round(time.perf_counter() - started, 3),
        },
        # training rows per second of the training passes (the validation passes excluded)
        "samples_per_s": round(
            sum(r["rows"] for r in result.history) / max(sum(r["seconds"] for r in result.history), 1e-9), 1
        ),
        # the peak so far at the end of each stage (this rank's), then the whole run's per rank
        "peak_rss_mb": {"per_rank": peaks, "max": max(peaks), "sum": round(sum(peaks), 1), "stages": stages},
        "history": result.history,
    }
    if main and export:
        artifact = _export(config, summary, data, split.test[0], result.model.cpu(), log)
        summary["artifact"] = str(artifact)
        if config.publish is not None:
            summary["published"] = publish_artifact(config, artifact, progress)
    distributed.barrier(cluster)  # nobody leaves (and tears the group down) while rank 0 still exports
    return summary


def _count(
    config: StreamConfig, schema: Any, train: list[Any], mine: list[Any], cluster: Cluster, progress: bool
) -> ShardCounts:
    """Alone: every training shard, in ``count_workers`` processes. Distributed: each rank its own shards,
    then every rank merges everyone's counts (so all build the same vocabulary)."""
    if not cluster.distributed:
        return count_shards(schema, train, config.chunk_rows, config.count_workers, progress)
    local = count_shards(schema, mine, config.chunk_rows, 1, progress)
    parts = distributed.gather_objects(local, cluster)
    total = parts[0]
    for part in parts[1:]:
        total.merge(part)
    return total


def _export(
    config: StreamConfig,
    summary: dict[str, Any],
    data: Data,
    test_shard: Any,
    model: Any,
    log: list[dict[str, Any]],
) -> Path:
    from training.export import export_artifact

    check = next(encoded_chunks(data.schema, data.encoder, [test_shard], CHECK_ROWS))
    return export_artifact(
        model,
        data.encoder,
        config.out,
        config.name or data.schema.name,
        check_rows=check,
        manifest_extra={
            "dataset": {"name": data.schema.name, "schema": data.schema.to_dict(), "data": str(config.data)},
            "split": summary["split"],
            "metrics": {k: summary[k] for k in ("validation", "test", "best_epoch", "epochs_run")},
            "training": config.training.to_dict(),
            "stream": {**config.to_dict(), "world_size": summary["distributed"]["world_size"]},
        },
        extra_files={
            METRICS_LOG: "".join(json.dumps(r) + "\n" for r in log).encode(),
            SAMPLE_REQUEST: json.dumps({"records": sample_records(data.schema, test_shard, 5)}, indent=2).encode(),
        },
    )


def publish_artifact(config: StreamConfig, artifact: Path, progress: bool) -> dict[str, Any]:
    """``ctr publish`` of the exported version to the job's ``[publish]`` Redis (Cluster); rank 0 only.

    Credentials and TLS come from the CTR_REDIS_* environment, as for ``ctr publish`` (docs/redis.md).
    """
    import asyncio

    from app.settings import Settings
    from app.stores.publish import publish
    from app.stores.redis_client import connect

    target = config.publish
    assert target is not None
    settings = Settings(redis_url=target.redis_url, redis_cluster=target.cluster)

    async def go() -> Any:
        client = connect(settings)
        try:
            return await publish(client, settings.redis_address, artifact, model=target.model or config.name,
                                 shards=target.shards, progress=progress)  # fmt: skip
        finally:
            await client.aclose()

    result = asyncio.run(go())
    _log(True, "published %s version %s to %s (%d rows, %.1f s)", result.model, result.version,
         settings.redis_address, result.features, result.seconds, event="published")  # fmt: skip
    return {"model": result.model, "version": result.version, "features": result.features,
            "seconds": round(result.seconds, 3), "redis": settings.redis_address}  # fmt: skip


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, MiB (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


logger = logging.getLogger("training.stream")


def _log(enabled: bool, message: str, *args: Any, **fields: Any) -> None:
    """Rank 0's log line (JSON off a terminal, contract/logs.py); ``fields`` become the record's fields."""
    if enabled:
        logger.info(message, *args, extra=fields)
