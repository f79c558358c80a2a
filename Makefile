# pixelflow: `make run` serves the app on the embedded stack, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# LocalStack (the default S3 + SQS emulator) in a virtualenv of its own: its pins conflict with ours.
LS_VENV := .venv-localstack
LS_STAMP := $(LS_VENV)/.installed

.PHONY: run test test-unit lint bench deploy-local package install clean settings-table routes-table

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	# The project itself, editable: puts the `pixelflow` command in $(VENV)/bin (its dependencies are pinned above).
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

$(LS_STAMP): requirements-localstack.txt
	test -x $(LS_VENV)/bin/python || $(PYTHON) -m venv $(LS_VENV)
	$(LS_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-localstack.txt
	touch $(LS_STAMP)

install: $(STAMP) $(LS_STAMP)

## Serve the app on 127.0.0.1:8000 with its event handlers, on the embedded stack (Ctrl-C stops it all).
run: $(STAMP) $(LS_STAMP)
	$(PY) -m functions.local.serve

## Lint and type checks first (ruff, mypy: pyproject.toml), then every test on the default emulator
## (LocalStack), then the integration tests again on moto.
test: lint $(LS_STAMP)
	$(PY) -m pytest tests
	PIXELFLOW_EMULATOR=moto $(PY) -m pytest tests/integration

## ruff (errors, import order, one typing style) on the whole tree; mypy on functions/ and infra/.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test-unit: $(STAMP)
	$(PY) -m pytest tests/unit

## Provision the bucket, queues, notification and schema on AWS_ENDPOINT_URL / DATABASE_URL.
deploy-local: $(STAMP)
	$(PY) -m infra.deploy_local

## A deployable template under build/: chalice package + layer + what Chalice cannot express.
package: $(STAMP)
	$(PY) infra/package.py

## Stand-ins for the official images docker-compose.yml names (postgres, localstack, python), built
## from Debian packages and PyPI, for machines that cannot reach Docker Hub (CI). Root, dockerd, debootstrap.
.PHONY: compose-images
compose-images:
	bash infra/compose/build-images.sh

## Benchmarks: printed figures, never asserted.
bench: $(STAMP)
	$(PY) bench/run_all.py

routes-table: $(STAMP)
	$(PY) -m infra.readme_tables routes

settings-table: $(STAMP)
	$(PY) -m infra.readme_tables settings

clean:
	rm -rf $(VENV) $(LS_VENV) .pixelflow build .pytest_cache
