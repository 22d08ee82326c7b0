# Two entry points for a fresh machine with Python 3.11+: `make preview` and `make test` (and `make drill`).
# Each creates ./venv when missing and installs the pinned requirements first.
PYTHON ?= python3
VENV := venv
PY := $(VENV)/bin/python
STACK ?= prod

.PHONY: preview test bench install clean haproxy-bin drill

$(VENV)/.installed: requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (set PYTHON=...)")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

install: $(VENV)/.installed

preview: $(VENV)/.installed
	$(PY) -m drctl preview --stack $(STACK)

# Debian's haproxy validates every rendered config (`haproxy -c`) and runs the live loopback test. Installed
# through apt-get when running as root (as CI does); otherwise those tests are skipped, except under CI=true,
# where a missing haproxy fails them. The package's service is never started: a temporary policy-rc.d
# denies it unless the machine already has one.
haproxy-bin:
	@if command -v haproxy >/dev/null 2>&1 || test -x /usr/sbin/haproxy; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian's haproxy for the config checks and the live test"; \
		added=; if [ ! -e /usr/sbin/policy-rc.d ]; then \
			printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && added=1; fi; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends haproxy; \
		rc=$$?; if [ -n "$$added" ]; then rm -f /usr/sbin/policy-rc.d; fi; exit $$rc; \
	else echo "haproxy is not installed and this is not root: the haproxy tests will be skipped"; fi

test: $(VENV)/.installed haproxy-bin
	AWS_ACCOUNT_ID_ENDPOINT_MODE=disabled $(PY) -m pytest -q

# The DR drill on loopback (under 3 minutes): drill-out/drill-report.json and timeline pictures; exit 1 over budget.
# DRILL_MODE=eventual uses the streams replicator instead of the synchronous (strong) emulation.
DRILL_MODE ?= strong
drill: $(VENV)/.installed
	AWS_ACCOUNT_ID_ENDPOINT_MODE=disabled $(PY) -m drctl drill --mode $(DRILL_MODE) --out drill-out

bench: $(VENV)/.installed
	$(PY) bench/preview_bench.py
	$(PY) bench/runtime_bench.py
	$(PY) bench/haproxy_hash_bench.py
	$(PY) bench/replicator_bench.py
	$(PY) bench/tier_preview_bench.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis drill-out
