"""Fuzz every endpoint of the server's OpenAPI schema with schemathesis, through the app as deployed.

``run(artifact, workdir, examples)`` builds the server the way ``ctr serve`` does (``create_app``: the
pure-ASGI front answers the scoring endpoints, ``hot_path`` on) over a real model version, with the
file impression log on (under ``workdir``) so ``/v1/feedback`` takes events, and then, for each
operation of ``/openapi.json``, sends schemathesis' examples of both kinds — ``positive`` (bodies the
schema allows) and ``negative`` (bodies it forbids: wrong types, missing or extra keys, broken
limits) — plus raw bodies (any JSON value, any bytes, wrong content types) to each POST endpoint.
The same run is repeated with ``hot_path`` off, through FastAPI's own routes.

Each answer is checked: no 5xx (``not_a_server_error``), status, content type and body as the schema
documents them (``status_code_conformance``, ``content_type_conformance``,
``response_schema_conformance``), and ``error_body``: every 4xx is the one error body and a 422
names the key at fault (``load_tests.fuzz_inputs.error_problem``). Failures are counted, not raised,
so one run reports them all; the first few of each kind keep their request for a reproduction.

    python -m load_tests.fuzz --examples 2000 --out reports/fuzz.json   # docs/fuzzing.md
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from load_tests.fuzz_inputs import dumps, error_problem, json_values, schema_names

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

KEPT_FAILURES = 5  # per (operation, check): enough to reproduce, small enough to commit
_KNOWN: dict[str, set[str]] = {}  # operation label -> property names its request schema declares


@schemathesis.check
def error_body(ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case) -> None:
    """Every 4xx is ``{"error", "detail", "field"}`` with its status' code; a 422 names the key at fault."""
    sent = case.body if isinstance(case.body, dict | list | str | int | float | bool) else None
    known = _KNOWN.get(case.operation.label, set())
    headers = {name: values[0] for name, values in response.headers.items() if values}  # lower-case keys
    problem = error_problem(response.status_code, headers, response.content, sent, known)
    if problem is not None:
        raise AssertionError(problem)


CHECKS = (not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          error_body)  # fmt: skip


class Tally:
    """What a run saw: examples and statuses per operation and mode, and the failures of each check."""

    def __init__(self) -> None:
        self.examples: Counter[str] = Counter()
        self.by_mode: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self.by_mode_status: Counter[tuple[str, int]] = Counter()
        self.failed: Counter[str] = Counter()  # check name -> failing examples
        self.failures: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.bad_inputs = 0

    def fail(self, operation: str, check: str, status: int, request: str, message: str) -> None:
        self.failed[check] += 1
        kept = self.failures.setdefault((operation, check), [])
        if len(kept) < KEPT_FAILURES:
            kept.append({"status": status, "request": request[:600], "message": message[:600]})


def _send(client: TestClient, case: schemathesis.Case) -> Any:
    """Send a schemathesis case through the test client (and so through ``ScoringApp.__call__``)."""
    kwargs = case.as_transport_kwargs(base_url="http://testserver")
    body: dict[str, Any] = {}
    if "json" in kwargs:
        body["content"] = json.dumps(kwargs["json"]).encode()
    elif isinstance(kwargs.get("data"), bytes | str):
        body["content"] = kwargs["data"]
    elif kwargs.get("data") is not None:
        body["data"] = kwargs["data"]
    headers = dict(kwargs.get("headers") or {})
    if kwargs.get("cookies"):  # none of our operations takes cookies; sent as a header, not per-request cookies
        headers["cookie"] = "; ".join(f"{k}={v}" for k, v in kwargs["cookies"].items())
    return client.request(kwargs["method"], kwargs["url"], headers=headers, params=kwargs.get("params"), **body)


def _hypothesis(examples: int, run_seed: int) -> Any:
    """Generate only (no shrinking: failures are counted, not raised); the same examples for the same seed."""
    config = settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate],
                      suppress_health_check=list(HealthCheck))  # fmt: skip
    return lambda test: seed(run_seed)(config(test))


def fuzz_operation(client: TestClient, operation: Any, mode: GenerationMode, examples: int, tally: Tally,
                   run_seed: int = 0) -> int:  # fmt: skip
    """Send up to ``examples`` schemathesis cases of one operation; returns how many were sent."""
    sent = 0

    @_hypothesis(examples, run_seed)
    @given(operation.as_strategy(generation_mode=mode))
    def one(case: schemathesis.Case) -> None:
        nonlocal sent
        sent += 1
        response = _send(client, case)
        tally.statuses[response.status_code] += 1
        tally.by_mode_status[mode.value, response.status_code] += 1
        for check in CHECKS:
            try:
                case.validate_response(response, checks=[check])
            except (Exception, BaseExceptionGroup) as exc:  # schemathesis' FailureGroup is a BaseExceptionGroup
                tally.fail(operation.label, check.__name__, response.status_code, case.as_curl_command(), str(exc))

    with contextlib.suppress(Unsatisfiable):  # e.g. GET /healthz: no parameters, so nothing to negate
        one()
    return sent


RAW_CONTENT_TYPES = ["application/json", "text/plain", "application/x-www-form-urlencoded", "", "application/xml"]


def raw_bodies() -> st.SearchStrategy[tuple[bytes, str]]:
    """Bodies no schema describes: any JSON value (also NaN, ±inf, lone surrogates), any bytes."""
    as_json = st.builds(lambda v, a: dumps(v, ascii=a), json_values(wire=False), st.booleans())
    return st.tuples(st.one_of(as_json, st.binary(max_size=64)), st.sampled_from(RAW_CONTENT_TYPES))


def fuzz_raw(client: TestClient, path: str, examples: int, tally: Tally, run_seed: int = 0) -> int:
    """POST ``examples`` raw bodies to ``path``: never a 5xx, every error in the one error body."""
    label, sent = f"POST {path} (raw bodies)", 0

    @_hypothesis(examples, run_seed)
    @given(raw_bodies())
    def one(body_and_type: tuple[bytes, str]) -> None:
        nonlocal sent
        sent += 1
        content, media = body_and_type
        response = client.post(path, content=content, headers={"content-type": media} if media else {})
        tally.statuses[response.status_code] += 1
        tally.by_mode_status["raw", response.status_code] += 1
        try:
            parsed = json.loads(content)
        except ValueError:
            parsed = None
        problem = error_problem(response.status_code, response.headers, response.content, parsed, _KNOWN.get(label))
        if problem is not None:
            check = "not_a_server_error" if response.status_code >= 500 else "error_body"
            tally.fail(label, check, response.status_code, repr(content[:400]) + f" as {media!r}", problem)

    one()
    return sent


@contextlib.contextmanager
def serving(artifact: Path, workdir: Path, hot_path: bool) -> Iterator[TestClient]:
    """The app as ``ctr serve`` builds it, over ``artifact`` (a version or a model directory)."""
    from app.main import create_app
    from app.settings import Settings

    with warnings.catch_warnings():  # starlette's notice that httpx2 will replace httpx: not ours to act on
        warnings.simplefilter("ignore", DeprecationWarning)
        from fastapi.testclient import TestClient

    model_dir = artifact.parent if (artifact / "manifest.json").exists() else artifact
    version = artifact.name if model_dir != artifact else None
    settings_ = Settings(model_dir=model_dir, model_version=version, impression_log="file",
                         impression_dir=workdir / f"impressions-{'front' if hot_path else 'routes'}",
                         hot_path=hot_path, log_level="error", log_format="json")  # fmt: skip
    with TestClient(create_app(settings_), raise_server_exceptions=False) as client:
        yield client


class _Unhandled(logging.Handler):
    """Collects the exception types the server logged as unhandled (its 500s), for the report."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.types: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[0] is not None:
            self.types[f"{record.exc_info[0].__name__}: {record.exc_info[1]}"[:200]] += 1


def run(artifact: Path, workdir: Path, examples: int = 100, *, run_seed: int = 0,
        fronts: tuple[bool, ...] = (True, False)) -> dict[str, Any]:  # fmt: skip
    """Fuzz every operation (``examples`` per operation, mode and front) and return a JSON-able summary."""
    started = time.perf_counter()
    tally, unhandled = Tally(), _Unhandled()
    logging.getLogger("app").addHandler(unhandled)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request otherwise
    operations: list[str] = []
    try:
        for hot_path in fronts:
            with serving(artifact, workdir, hot_path) as client:
                raw = client.get("/openapi.json").json()
                schema = schemathesis.openapi.from_dict(raw)
                for result in schema.get_all_operations():
                    operation = result.ok()
                    body = (operation.definition.raw.get("requestBody") or {}).get("content", {})
                    _KNOWN[operation.label] = schema_names(body)
                    _KNOWN[f"{operation.label} (raw bodies)"] = _KNOWN[operation.label]
                    for mode in GenerationMode:
                        sent = fuzz_operation(client, operation, mode, examples, tally, run_seed)
                        tally.examples[operation.label] += sent
                        tally.by_mode[mode.value] += sent
                        tally.bad_inputs += sent if mode is GenerationMode.NEGATIVE else 0
                    if operation.method.upper() == "POST":
                        sent = fuzz_raw(client, operation.path, examples, tally, run_seed)
                        tally.examples[f"{operation.label} (raw bodies)"] += sent
                        tally.by_mode["raw"] += sent
                        tally.bad_inputs += sent
                operations = sorted(tally.examples)
    finally:
        logging.getLogger("app").removeHandler(unhandled)
    server_errors = sum(n for status, n in tally.statuses.items() if status >= 500)
    failed = {name: tally.failed[name] for name in [c.__name__ for c in CHECKS]}
    return {
        "artifact": str(artifact),
        "fronts": ["hot_path" if f else "fastapi_routes" for f in fronts],
        "examples_per_operation_and_mode": examples,
        "seed": run_seed,
        "operations": operations,
        "examples": dict(sorted(tally.examples.items())),
        "examples_total": sum(tally.examples.values()),
        "examples_by_mode": dict(tally.by_mode),
        "bad_inputs_tried": tally.bad_inputs,
        "status_counts": {str(k): v for k, v in sorted(tally.statuses.items())},
        "status_counts_by_mode": {
            mode: {str(status): n for (m, status), n in sorted(tally.by_mode_status.items()) if m == mode}
            for mode in tally.by_mode
        },
        "server_errors": server_errors,
        "non_conforming_4xx": tally.failed["error_body"],
        "failed_examples_by_check": failed,
        "checks": {name: n == 0 for name, n in failed.items()},
        "defects": [
            {"operation": op, "check": check, "examples": kept} for (op, check), kept in sorted(tally.failures.items())
        ],
        "unhandled_exceptions": dict(unhandled.types),
        "seconds": round(time.perf_counter() - started, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)  # fmt: skip
    parser.add_argument(
        "--artifact",
        type=Path,
        help="a model or version directory; default: train the tiny test model (tests/fixtures/tiny.csv, with "
        "its catalog) into --workdir (needs [train])",
    )
    parser.add_argument("--examples", type=int, default=200, help="examples per operation, mode and front")
    parser.add_argument("--workdir", type=Path, help="for the impression log (and the tiny model); default: a temp dir")
    parser.add_argument("--seed", type=int, default=0, help="hypothesis seed: the same examples for the same seed")
    parser.add_argument("--hot-path-only", action="store_true", help="skip the run through the FastAPI routes")
    parser.add_argument("--out", type=Path, help="write the JSON summary here too (e.g. reports/fuzz.json)")
    args = parser.parse_args(argv)
    with contextlib.ExitStack() as stack:
        workdir = args.workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ctr-fuzz-")))
        workdir.mkdir(parents=True, exist_ok=True)
        artifact = args.artifact
        if artifact is None:
            from load_tests.fuzz_model import tiny_artifact

            artifact = tiny_artifact(workdir / "models")
        fronts = (True,) if args.hot_path_only else (True, False)
        summary = run(artifact, workdir, args.examples, run_seed=args.seed, fronts=fronts)
    text = json.dumps(summary, indent=2, ensure_ascii=False)
    if args.out is not None:
        args.out.write_text(text + "\n")
    print(text)
    return 0 if all(summary["checks"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
