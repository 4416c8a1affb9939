# The two commands of the README. Both create .venv themselves on a fresh machine.
.PHONY: demo test lint

demo:  ## install, train on MovieLens-100k, export, serve, score a real request over HTTP, stop
	./scripts/demo.sh

test:  ## install, fetch test data, make sure Redis answers, run ruff and the default test suite
	./scripts/test.sh

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .
