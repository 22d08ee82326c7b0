# Two entry points for a fresh machine with Python 3.11+: `make preview` and `make test`.
# Each creates ./venv when missing and installs the pinned requirements first.
PYTHON ?= python3
VENV := venv
PY := $(VENV)/bin/python
STACK ?= prod

.PHONY: preview test bench install clean

$(VENV)/.installed: requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (set PYTHON=...)")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

install: $(VENV)/.installed

preview: $(VENV)/.installed
	$(PY) -m drctl preview --stack $(STACK)

test: $(VENV)/.installed
	AWS_ACCOUNT_ID_ENDPOINT_MODE=disabled $(PY) -m pytest -q

bench: $(VENV)/.installed
	$(PY) bench/preview_bench.py
	$(PY) bench/runtime_bench.py
	$(PY) bench/replicator_bench.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
