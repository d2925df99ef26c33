# Every command a user or CI needs. `make test` is what CI runs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The platform of `make package`: lambda_architecture and the version of lambda_runtime.
ARCH ?= arm64
PYTHON_VERSION ?= 3.13

.PHONY: venv test lint test-python test-terraform test-deploy demo bench package clean

venv: $(VENV)/.installed

$(VENV)/.installed: requirements-dev.txt lambda/pyproject.toml local/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt -e ./lambda -e ./local
	touch $@

## test: lint, the Python tests, the Terraform checks, the deploy test and the end-to-end demo
test: lint test-python test-terraform test-deploy demo

lint: venv
	$(VENV)/bin/ruff check lambda local tests bench tools
	$(VENV)/bin/ruff format --check lambda local tests bench tools
	$(VENV)/bin/mypy lambda/src
	$(VENV)/bin/mypy local/src

test-python: venv
	$(PY) -m pytest tests

## test-terraform: the module on hashicorp/aws v5 (the real provider) and v6 (its schema, served locally)
test-terraform: venv
	bash scripts/terraform-check.sh
	bash scripts/terraform-check-v6.sh

## test-deploy: the examples applied with the real provider against moto, checked, run, upgraded and destroyed
test-deploy: venv
	PYTHONPATH=tests $(PY) -m deploy

## demo: the whole pipeline on this machine, on built-in defaults
demo: venv
	$(PY) -m cwotlp_local.demo

## bench: the forwarder's throughput, memory, bytes on the wire and start-up on realistic data (.bench-data/)
bench: venv
	$(PY) bench/bench.py

## package: the Lambda deployment package, for runners without Python (lambda_package_path), built for
## ARCH (lambda_architecture) and PYTHON_VERSION (lambda_runtime); the defaults are the module's
package: venv
	$(PY) lambda/build.py --output dist/cwotlp-lambda.zip --arch $(ARCH) --python-version $(PYTHON_VERSION)

clean:
	rm -rf $(VENV) .venv-* dist build .pytest_cache .mypy_cache .ruff_cache
