"""Training beyond one machine's memory: synthetic Criteo-like shards, a mergeable counting pass,
streamed mini-batches, and data-parallel training under ``torchrun`` (docs/scaling.md).

* ``synthetic``  — dated Parquet shards with a planted FM ground truth (so AUC has a known ceiling);
* ``counting``   — per-shard value counts, merged (in parallel processes, or across ranks);
* ``shards``     — which shards each rank reads, and the split by partition date;
* ``batches``    — shards -> shuffle buffer -> (augmented) mini-batches, memory bounded by the buffer;
* ``histogram``  — streaming AUC and log loss, mergeable across ranks;
* ``distributed``— process group, DistributedDataParallel, all-reduce helpers;
* ``trainer``    — the streamed training loop (reusing training.model/augment/train);
* ``job``        — the job end to end: split, counting, training, test metrics, rank 0's export and publish;
* ``config``     — the job's TOML configuration; ``cli`` — ``ctr stream ...`` (= ``python -m training.stream``).
"""
