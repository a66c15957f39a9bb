# Two commands do all the set-up on a fresh machine (Python 3.11+ and the package registries):
#   make demo   - the main job on the embedded synthetic Kukar data
#   make test   - the whole test suite (what CI runs)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench browser clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m targeting.audit._rank_kernels  # compile the audit's kernels into numba's cache
	$(BIN)/python -c "from targeting.explain import _reasons, _treeshap_kernels; _reasons.warm(); _treeshap_kernels.warm()"  # and the explanation's
	$(BIN)/python -c "from targeting import _hmac_sha256; _hmac_sha256.warm()"  # and the pseudonyms'
	touch $(STAMP)

# Headless Chromium for the report's browser tests and PDF printing (Debian's package).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  elif command -v sudo >/dev/null 2>&1; then sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else false; fi; } || echo "chromium could not be installed here: browser tests will be skipped and the PDF omitted"

demo: $(STAMP) browser
	$(BIN)/targeting models keygen --if-missing
	$(BIN)/targeting demo

test: $(STAMP) browser
	$(BIN)/python -m pytest -n 2 --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check src api tests benchmarks
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf .targeting
