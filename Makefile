# Two entry points for a fresh machine with Python 3.11+: `make preview` and `make test` (and `make drill`).
# Each creates ./venv when missing and installs the pinned requirements first.
PYTHON ?= python3
VENV := venv
PY := $(VENV)/bin/python
STACK ?= prod

.PHONY: preview test lint bench install clean test-tools drill package

$(VENV)/.installed: requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (set PYTHON=...)")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

install: $(VENV)/.installed

preview: $(VENV)/.installed
	$(PY) -m drctl preview --stack $(STACK)

# Debian's haproxy validates every rendered config (`haproxy -c`) and runs the live loopback test; Debian's graphviz
# (`dot`) draws `drctl diagram`'s pictures. Installed when missing by .ci/install-test-tools with apt-get as root, or
# with passwordless sudo as another user (GitHub-hosted runners), no service started. Otherwise the tests that need
# them are skipped, except under CI=true, where they fail.
test-tools:
	@sh .ci/install-test-tools

# The gates, run first by `make test` (so by CI): ruff's lint rules and formatting, and mypy over the four packages
# (rules in pyproject.toml; its cache, .mypy_cache, makes a warm run take seconds instead of about a minute).
LINT_PATHS := components failover policies drctl tests bench examples __main__.py
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/ruff format --check $(LINT_PATHS)
	$(VENV)/bin/mypy

# PYTEST_ARGS narrows the run (e.g. PYTEST_ARGS=tests/test_haproxy_live.py); CI runs everything. The suite runs
# in parallel (pytest-xdist), one worker per core; TEST_WORKERS=0 runs it in one process. loadgroup keeps together
# the tests marked with one xdist_group: a module sharing a module-scoped fixture, the timing-sensitive ones.
PYTEST_ARGS ?=
TEST_WORKERS ?= auto
test: $(VENV)/.installed test-tools lint
	AWS_ACCOUNT_ID_ENDPOINT_MODE=disabled $(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

# The DR drill on loopback, the default scenarios (under 3 minutes): drill-out/drill-report.json and a timeline per
# scenario; exit 1 on any safety violation or a figure more than 20% over the production budget.
# DRILL_MODE=eventual: the data table eventually consistent (the streams replicator); the control table stays strong.
DRILL_MODE ?= strong
drill: $(VENV)/.installed
	AWS_ACCOUNT_ID_ENDPOINT_MODE=disabled $(PY) -m drctl drill --mode $(DRILL_MODE) --out drill-out

# The package dynamodb-dr (docs/package.md): its sdist and wheel in dist/, built offline with the venv's pinned
# build, setuptools and wheel (`$(PY) -m build` alone fetches setuptools into an isolated environment instead).
package: $(VENV)/.installed
	$(PY) -m build --no-isolation --outdir dist .

bench: $(VENV)/.installed
	$(PY) bench/preview_bench.py
	$(PY) bench/runtime_bench.py
	$(PY) bench/haproxy_hash_bench.py
	$(PY) bench/replicator_bench.py
	$(PY) bench/tier_preview_bench.py
	$(PY) bench/metrics_bench.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .mypy_cache .ruff_cache drill-out dist build *.egg-info
