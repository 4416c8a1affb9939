"""Interactive load test with Locust: watch req/s and latency percentiles live in a browser.

Not the benchmark (that is ``load_tests/bench.py``, scripted with wrk and an open-loop driver);
this is for poking at a running server by hand. Locust is in the ``bench`` extra only::

    .venv/bin/pip install -e '.[bench]'
    CTR_MODEL_DIR=models/ml100k .venv/bin/uvicorn app.main:create_app --factory --port 8000 &
    .venv/bin/locust -f load_tests/locustfile.py --host http://127.0.0.1:8000
    # then open http://127.0.0.1:8089; or headless:
    .venv/bin/locust -f load_tests/locustfile.py --host http://127.0.0.1:8000 --headless -u 32 -r 8 -t 30s

Importing this file reads the MovieLens split (~10 s), and Locust's ``-t`` clock is already running
then: give headless runs that much extra time.

Request bodies are real MovieLens-100k test-split records, Zipf-skewed by user
(``load_tests/skewed.py``; needs the [train] extra to read the split). ``LOCUST_BATCH`` (default 1)
sets the records per body; tasks post them in the records form (weight 3) and the columns form
(weight 1). Locust's Python client costs far more CPU per request than wrk: on a 2-core machine it
measures itself before the server, so take throughput figures from the benchmark, not from here.
"""

from __future__ import annotations

import itertools
import os

from locust import FastHttpUser, between, task

from load_tests.skewed import bodies, movielens_test_records, zipf_sample

BATCH = int(os.environ.get("LOCUST_BATCH", "1"))
_SAMPLE = zipf_sample(movielens_test_records(), 2000 * BATCH if BATCH < 16 else 64 * BATCH, seed=0)
RECORDS_BODIES = bodies(_SAMPLE, BATCH, "records")
COLUMNS_BODIES = bodies(_SAMPLE, BATCH, "columns")
HEADERS = {"content-type": "application/json"}


class ScoringUser(FastHttpUser):
    wait_time = between(0, 0.01)

    def on_start(self) -> None:
        self.records = itertools.cycle(RECORDS_BODIES)
        self.columns = itertools.cycle(COLUMNS_BODIES)

    @task(3)
    def score_records(self) -> None:
        self.client.post("/v1/score", data=next(self.records), headers=HEADERS, name=f"/v1/score records x{BATCH}")

    @task(1)
    def score_columns(self) -> None:
        self.client.post("/v1/score", data=next(self.columns), headers=HEADERS, name=f"/v1/score columns x{BATCH}")
