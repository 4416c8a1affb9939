"""Where should ranking arithmetic run? Times each stage of /v1/rank and its alternatives, no HTTP.

    python -m benchmarks.rank_compute --model-dir models/ml100k --out reports/rank_compute.json

For 1, 100 and 1000 candidates against one context, in one process, it times (median and p90 of
many repeats, µs):

* encoding the two sides (context once, candidates on their slots) vs the flat merged records;
* gathering rows from the in-process store: split ids vs the flat (n, M) ids;
* scoring: numpy on the split terms (float64 and float32), the exported ONNX graph on merged rows
  (what /v1/score runs), and a second ONNX graph that takes the precomputed context terms;
* a per-model-version cache of candidate terms (decision 24), keyed by the candidate's encoded ids
  or by its raw JSON (what app.ranking.cache does), against computing them;
* explanations per row.

Stages are timed with the garbage collector tuned as the server tunes it (app.main.tune_gc), after a
measurement of what that tuning changes. Needs the [train] extra only for ``onnx`` (to build the
second graph).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from app.ranking.cache import CandidateCache
from app.ranking.plan import plan_for, rank_logits, side_terms
from app.ranking.request import RankRequest, encode_candidates, encode_context
from app.scoring.explain import Explainer
from app.scoring.model import ScoringModel
from app.settings import Settings
from contract.fm import fm_logit
from load_tests.workload import Workload


def timed(fn: Callable[[], Any], budget_s: float = 0.4, min_reps: int = 20) -> dict[str, float]:
    """Median, mean, p90 and p99 wall time of ``fn`` in µs over repeats filling ``budget_s`` seconds
    (the mean and p99 carry the rare full garbage collections that the median hides)."""
    fn()  # warm
    samples = []
    deadline = time.perf_counter() + budget_s
    while len(samples) < min_reps or time.perf_counter() < deadline:
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    us = np.array(samples) * 1e6
    return {
        "median_us": round(float(np.median(us)), 2),
        "mean_us": round(float(us.mean()), 2),
        "p90_us": round(float(np.percentile(us, 90)), 2),
        "p99_us": round(float(np.percentile(us, 99)), 2),
        "reps": len(samples),
    }


def split_graph(m_i: int, dim: int) -> bytes:
    """ONNX: candidate rows (n, Mi, K+1), values (n, Mi) + context terms S_c (K,), const () -> logit (n,)."""
    from onnx import TensorProto, checker, helper

    f32 = TensorProto.FLOAT
    nodes = [
        helper.make_node("Unsqueeze", ["values", "ax2"], ["x"]),
        helper.make_node("Mul", ["rows", "x"], ["weighted"]),
        helper.make_node("Slice", ["weighted", "zero", "one", "ax2"], ["lin_cols"]),
        helper.make_node("ReduceSum", ["lin_cols", "ax12"], ["lin"], keepdims=0),
        helper.make_node("Slice", ["weighted", "one", "big", "ax2"], ["vectors"]),
        helper.make_node("ReduceSum", ["vectors", "ax1"], ["sums"], keepdims=0),
        helper.make_node("Mul", ["vectors", "vectors"], ["sq"]),
        helper.make_node("ReduceSum", ["sq", "ax12"], ["sq_sum"], keepdims=0),
        helper.make_node("Mul", ["sums", "sums"], ["ss"]),
        helper.make_node("ReduceSum", ["ss", "ax1"], ["ss_sum"], keepdims=0),
        helper.make_node("Sub", ["ss_sum", "sq_sum"], ["diff"]),
        helper.make_node("Mul", ["diff", "half"], ["pair"]),
        helper.make_node("MatMul", ["sums", "context_sum"], ["cross"]),
        helper.make_node("Add", ["lin", "pair"], ["a"]),
        helper.make_node("Add", ["a", "cross"], ["b"]),
        helper.make_node("Add", ["b", "context_constant"], ["logit"]),
    ]
    inits = [
        helper.make_tensor("ax1", TensorProto.INT64, [1], [1]),
        helper.make_tensor("ax2", TensorProto.INT64, [1], [2]),
        helper.make_tensor("ax12", TensorProto.INT64, [2], [1, 2]),
        helper.make_tensor("zero", TensorProto.INT64, [1], [0]),
        helper.make_tensor("one", TensorProto.INT64, [1], [1]),
        helper.make_tensor("big", TensorProto.INT64, [1], [dim + 1]),
        helper.make_tensor("half", f32, [], [0.5]),
    ]
    graph = helper.make_graph(
        nodes,
        "fm_rank",
        [
            helper.make_tensor_value_info("rows", f32, ["n", m_i, dim + 1]),
            helper.make_tensor_value_info("values", f32, ["n", m_i]),
            helper.make_tensor_value_info("context_sum", f32, [dim]),
            helper.make_tensor_value_info("context_constant", f32, []),
        ],
        [helper.make_tensor_value_info("logit", f32, ["n"])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    checker.check_model(model)
    return model.SerializeToString()


def measure(model: ScoringModel, n: int, seed: int) -> dict[str, Any]:
    import onnxruntime as ort

    plan = plan_for(model, cache_size=0)
    encoder = model.encoder
    body = Workload(encoder, seed=seed).rank_body(n)
    request = RankRequest(body["context"], body["candidates"], None, False)
    records = Workload.flat_records(body)
    positions = np.arange(n)

    def encode_rank() -> tuple[np.ndarray, ...]:
        context_ids, context_values = encode_context(request, plan, encoder)
        batch = encode_candidates(request.candidates, positions, plan, encoder)
        return context_ids, context_values, batch.ids, batch.values

    enc = SimpleNamespace(**dict(zip(("context_ids", "context_values", "candidate_ids", "candidate_values"),
                                     encode_rank(), strict=True)))  # fmt: skip
    flat = encoder.encode_records(records)
    table = model.store.table  # type: ignore[attr-defined]  # in-process store only
    split_ids = np.concatenate([enc.context_ids, enc.candidate_ids.reshape(-1)])[None, :]
    gathered = table.take(split_ids, axis=0)[0]
    m_c, m_i = len(enc.context_ids), enc.candidate_ids.shape[1]
    ctx_rows, cand_rows = gathered[:m_c], gathered[m_c:].reshape(n, m_i, -1)
    flat_rows = table.take(flat.ids, axis=0)
    dim = table.shape[1] - 1

    def numpy_split(dtype: type) -> np.ndarray:
        c = side_terms(ctx_rows[None].astype(dtype), enc.context_values[None].astype(dtype))
        i = side_terms(cand_rows.astype(dtype), enc.candidate_values.astype(dtype))
        return rank_logits(plan.bias, c, i.lin + i.pair, i.sums)

    def numpy_split32() -> np.ndarray:
        # the same arithmetic kept in float32 end to end
        x = enc.candidate_values[..., None]
        w = cand_rows * x
        s = w[..., 1:].sum(axis=1)
        pair = 0.5 * ((s * s).sum(axis=1) - np.einsum("nmk,nmk->n", w[..., 1:], w[..., 1:]))
        wc = ctx_rows * enc.context_values[:, None]
        sc = wc[:, 1:].sum(axis=0)
        const = plan.bias + wc[:, 0].sum() + 0.5 * (sc @ sc - (wc[:, 1:] ** 2).sum())
        return const + w[..., 0].sum(axis=1) + pair + s @ sc

    options = model.session.get_session_options()
    session = ort.InferenceSession(split_graph(m_i, dim), sess_options=options, providers=["CPUExecutionProvider"])

    def onnx_split() -> np.ndarray:
        c = side_terms(ctx_rows[None], enc.context_values[None])
        feeds = {"rows": cand_rows, "values": enc.candidate_values, "context_sum": c.sums[0].astype(np.float32),
                 "context_constant": np.array(plan.bias + c.lin[0] + c.pair[0], np.float32)}  # fmt: skip
        return session.run(None, feeds)[0]

    def onnx_flat_from_split() -> np.ndarray:
        # /v1/score's graph fed from the split gather: merged rows built by broadcasting the context
        rows = plan.merge(ctx_rows, cand_rows)
        values = plan.merge(enc.context_values, enc.candidate_values)
        return model.infer(rows, values).logits

    # decision 24: cache candidate terms per version. (a) keyed by the encoded ids and values, as the
    # decision suggests: the request must still be encoded first. (b) keyed by the candidate's raw JSON
    # (app.ranking.cache): a hit skips validation, encoding, the gather and the reduction.
    cand_terms = side_terms(cand_rows, enc.candidate_values)
    keys = [enc.candidate_ids[r].tobytes() + enc.candidate_values[r].tobytes() for r in range(n)]
    by_ids = {k: (cand_terms.lin[r], cand_terms.pair[r], cand_terms.sums[r]) for r, k in enumerate(keys)}

    def lookup_by_encoded_ids() -> tuple[np.ndarray, ...]:
        ids, vals = enc.candidate_ids, enc.candidate_values
        hits = [by_ids[ids[r].tobytes() + vals[r].tobytes()] for r in range(n)]
        lin, pair, sums = zip(*hits, strict=True)
        return np.array(lin), np.array(pair), np.stack(sums)

    context_terms = side_terms(ctx_rows[None], enc.context_values[None])
    cand_own, cand_sums = cand_terms.lin + cand_terms.pair, cand_terms.sums
    raw_cache = CandidateCache(n, m_i, dim)
    raw_cache.insert(request.candidates, enc.candidate_ids, enc.candidate_values,
                     cand_terms.lin + cand_terms.pair, cand_terms.sums)  # fmt: skip

    def lookup_by_raw_json() -> tuple[np.ndarray, ...]:
        entries = raw_cache.lookup(request.candidates)
        return raw_cache.own[entries], raw_cache.sums[entries]

    def miss_path() -> np.ndarray:
        # what a candidate costs without the cache: encode, gather, reduce (the context excluded)
        batch = encode_candidates(request.candidates, positions, plan, encoder)
        rows = table.take(batch.ids, axis=0)
        return side_terms(rows, batch.values).sums

    explainer = Explainer.for_model(model)
    merged_rows = plan.merge(ctx_rows, cand_rows)
    merged_ids = plan.merge(enc.context_ids, enc.candidate_ids)
    merged_values = plan.merge(enc.context_values, enc.candidate_values)
    logits64 = numpy_split(np.float64)

    exact = fm_logit(flat_rows, flat.values, plan.bias)
    onnx_logits = model.infer(flat_rows, flat.values).logits
    store = model.store
    loop = asyncio.new_event_loop()
    try:
        gather_split = timed(lambda: loop.run_until_complete(store.gather(split_ids)))
        gather_flat = timed(lambda: loop.run_until_complete(store.gather(flat.ids)))
    finally:
        loop.close()
    return {
        "candidates": n,
        "slots": {"context": m_c, "candidate": m_i, "embedding_dim": dim},
        "encode": {
            "rank_sides": timed(encode_rank),
            "flat_records": timed(lambda: encoder.encode_records(records)),
        },
        "gather": {"split": gather_split, "flat": gather_flat},
        "score": {
            "numpy_split_float64": timed(lambda: numpy_split(np.float64)),
            "numpy_split_float32": timed(numpy_split32),
            "onnx_split_graph": timed(onnx_split),
            "onnx_flat_graph_on_flat_rows": timed(lambda: model.infer(flat_rows, flat.values)),
            "onnx_flat_graph_on_merged_split_rows": timed(onnx_flat_from_split),
        },
        "score_from_cached_terms": timed(lambda: rank_logits(plan.bias, context_terms, cand_own, cand_sums)),
        "candidate_terms": {
            "compute_from_gathered_rows": timed(lambda: side_terms(cand_rows, enc.candidate_values)),
            "uncached_encode_gather_compute": timed(miss_path),
            "cache_keyed_by_encoded_ids_lookup_only": timed(lookup_by_encoded_ids),
            "cache_keyed_by_raw_json_lookup": timed(lookup_by_raw_json),
        },
        "explain": {
            "all_rows": timed(lambda: explainer.explain(merged_ids, merged_rows, merged_values, logits64)),
        },
        "max_abs_logit_error_vs_float64_reference": {
            "numpy_split_float64": float(np.abs(logits64 - exact).max()),
            "numpy_split_float32": float(np.abs(numpy_split32() - exact).max()),
            "onnx_split_graph": float(np.abs(onnx_split() - exact).max()),
            "onnx_flat_graph": float(np.abs(onnx_logits - exact).max()),
        },
    }


def parse_cost_by_gc(model: ScoringModel, n: int, seed: int) -> dict[str, Any]:
    """Parsing a 1 x n /v1/rank body with Python's GC defaults vs after app.main.tune_gc, which
    stays applied (as in the server)."""
    import gc

    import orjson

    from app.main import tune_gc
    from app.ranking.request import parse_rank_request

    plan = plan_for(model, cache_size=0)
    workload = Workload(model.encoder, seed=seed)
    bodies = [orjson.dumps(workload.rank_body(n, workload.catalogue(2 * n))) for _ in range(8)]
    turn = iter(range(10**9))

    def parse() -> Any:
        return parse_rank_request(bodies[next(turn) % len(bodies)], plan, 10**6)

    defaults = {"threshold": gc.get_threshold(), **timed(parse, budget_s=1.0)}
    tune_gc(10_000)
    tuned = {"threshold": gc.get_threshold(), "frozen_objects": gc.get_freeze_count(), **timed(parse, budget_s=1.0)}
    gc.disable()
    disabled = timed(parse, budget_s=1.0)
    gc.enable()
    return {"candidates": n, "python_defaults": defaults, "tune_gc_10000": tuned, "gc_disabled": disabled}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", default="models/ml100k", help="artifact to measure (train one with ctr train)")
    parser.add_argument("--sizes", default="1,100,1000", help="candidate counts")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="reports/rank_compute.json")
    parser.add_argument("--note", default="", help="free text stored in the JSON, e.g. whether the machine was busy")
    args = parser.parse_args()
    model = ScoringModel.load(Settings(model_dir=Path(args.model_dir)))
    load_before = os.getloadavg()
    # First the garbage collector's effect; it leaves the GC tuned as in the server for the stages.
    gc_effect = parse_cost_by_gc(model, max(int(n) for n in args.sizes.split(",")), args.seed)
    results = [measure(model, int(n), args.seed) for n in args.sizes.split(",")]
    for r in results:
        per_row = r["explain"]["all_rows"]["median_us"] / r["candidates"]
        r["explain"]["per_row_us"] = round(per_row, 2)
    report = {
        "command": "python -m benchmarks.rank_compute " + f"--model-dir {args.model_dir} --sizes {args.sizes}",
        "model": {"name": model.name, "version": model.version},
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "loadavg_before": load_before,
            "loadavg_after": os.getloadavg(),
            "note": args.note,
        },
        "parse_rank_body_by_gc_setting": gc_effect,
        "results": results,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    for r in results:
        print(f"n={r['candidates']:>5}  " + "  ".join(f"{k}={v['median_us']:.0f}µs" for k, v in r["score"].items()))
        print(f"        encode rank={r['encode']['rank_sides']['median_us']:.0f}µs "
              f"flat={r['encode']['flat_records']['median_us']:.0f}µs  "
              f"uncached={r['candidate_terms']['uncached_encode_gather_compute']['median_us']:.0f}µs "
              f"cached={r['candidate_terms']['cache_keyed_by_raw_json_lookup']['median_us']:.0f}µs  "
              f"explain/row={r['explain']['per_row_us']:.1f}µs")  # fmt: skip
    g = gc_effect
    for key in ("python_defaults", "tune_gc_10000", "gc_disabled"):
        t = g[key]
        print(f"parse 1x{g['candidates']} body, {key}: median {t['median_us']:.0f}µs mean {t['mean_us']:.0f}µs "
              f"p99 {t['p99_us']:.0f}µs")  # fmt: skip
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
