# Every target sets up what it needs first; `make setup` is idempotent.
PYTHON ?= python3
VENV   := .venv
LOCKS  := requirements/tools.txt requirements/dev.txt requirements/runtime.txt
BIN    := $(VENV)/bin
ANVIL  := .devnet/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil
CLIENTS := .clients/node_modules/viem/package.json
CRDS   := .tools/node_modules/@kubernetes-models/prometheus-operator/package.json

.PHONY: setup lock clients run test test-fast lint typecheck unit bench bench-quick bench-tools wrk promtool pgbouncer haproxy redis \
        deploy-tools compose cluster-up cluster-down cluster-capacity clean readme

setup: $(VENV)/.installed $(ANVIL) pgbouncer haproxy redis

# The node (with its dev tools) and the benchmark harness, bizra-node-bench in bench/,
# installed exactly as locked: requirements/tools.txt (uv, the build backend) by pip with
# hashes, then requirements/dev.txt by `uv pip sync` (which also removes what the lock
# does not name), then the two local packages without their dependencies.
# Versions move only through `make lock` (tests/unit/test_lock.py fails when the venv
# differs from the lock).
$(VENV)/.installed: $(LOCKS) pyproject.toml bench/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check --require-hashes --no-deps -r requirements/tools.txt
	$(BIN)/uv pip sync -q --python $(BIN)/python --require-hashes requirements/dev.txt
	$(BIN)/uv pip install -q --python $(BIN)/python --no-deps --no-build-isolation -e . -e ./bench
	touch $@

# Re-resolve every Python dependency on purpose (`make lock`, or `make lock
# UPGRADE=msgspec` for one package), install the result and run the whole suite.
# The lock is for CPython 3.11 on Linux (the machine, CI and the Dockerfile); pyproject's
# ranges stay for people who install the wheel.
UV_COMPILE = $(BIN)/uv pip compile -q --generate-hashes --python-version 3.11 \
             --python-platform linux --custom-compile-command "make lock"
lock: $(VENV)/.installed
	$(UV_COMPILE) $(if $(UPGRADE),--upgrade-package $(UPGRADE),--upgrade) \
	  --no-emit-package bizra-node --no-emit-package bizra-node-bench \
	  requirements/dev.in -o requirements/dev.txt
	$(UV_COMPILE) -c requirements/dev.txt requirements/tools.in -o requirements/tools.txt
	$(UV_COMPILE) -c requirements/dev.txt pyproject.toml -o requirements/runtime.txt
	rm -f $(VENV)/.installed
	$(MAKE) test

# npm tools, each a package.json with its package-lock.json under scripts/npm/<name>/,
# installed exactly as locked (`npm ci`) into a git-ignored folder. To move a version:
# change package.json, run `npm install --package-lock-only` in its folder, commit both.
$(ANVIL): scripts/npm/devnet/package.json scripts/npm/devnet/package-lock.json
	mkdir -p .devnet
	cp scripts/npm/devnet/package.json scripts/npm/devnet/package-lock.json .devnet/
	cd .devnet && npm ci --no-audit --no-fund --loglevel=error
	test -x $(ANVIL) && touch $(ANVIL)

# ethers v6 and viem, the JavaScript clients the end-to-end tests drive against /rpc.
$(CLIENTS): scripts/npm/clients/package.json scripts/npm/clients/package-lock.json
	mkdir -p .clients
	cp scripts/npm/clients/package.json scripts/npm/clients/package-lock.json .clients/
	cd .clients && npm ci --no-audit --no-fund --loglevel=error
	test -f $(CLIENTS) && touch $(CLIENTS)

clients: $(CLIENTS)

# Debian's pgbouncer, for the store's PgBouncer tests; installed only if missing (needs
# root). If it cannot be installed, setup goes on and those tests skip with the reason.
pgbouncer:
	@command -v pgbouncer >/dev/null || test -x /usr/sbin/pgbouncer || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer \
	    >/dev/null) || echo "pgbouncer could not be installed: its tests will skip" >&2

# Debian's haproxy, the balancer of `bizra-node cluster` (tests/integration/cluster);
# installed only if missing (needs root; its service is not started).
haproxy:
	@command -v haproxy >/dev/null || test -x /usr/sbin/haproxy || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy \
	    >/dev/null) || echo "haproxy could not be installed: the cluster tests will skip" >&2

# redis-server and redis-cli (Debian's redis-server, which brings redis-tools): the
# Cluster and Sentinel tests start their own servers with them (a sentinel is
# `redis-server --sentinel`, so Debian's redis-sentinel package is not needed).
redis:
	@command -v redis-server >/dev/null && command -v redis-cli >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server \
	    >/dev/null) || echo "redis-server could not be installed: its tests will skip" >&2

# A local cluster on this machine (docs/scaling.md): 3 nodes behind HAProxy on :8090.
cluster-up: setup
	$(BIN)/bizra-node cluster up

cluster-down: setup
	$(BIN)/bizra-node cluster down

# docs/scaling.md's capacity figures: a throwaway local cluster loaded with wrk (~3 min).
cluster-capacity: setup
	$(BIN)/python scripts/cluster_capacity.py --out docs/data/scaling-capacity.json

run: setup
	$(BIN)/bizra-node serve

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

# The suite on TEST_WORKERS processes (pytest-xdist): every test but the `serial` ones
# (tests/conftest.py SERIAL_PATHS: the performance gate, the cluster, the end-to-end
# tests that measure memory, sockets or timings) in parallel, then those alone, coverage
# added up; TEST_WORKERS=0 runs it all in one process. Measured on the shared 2-core
# machine (2026-12-07): 706 s with 2 workers, ~1 030 s in one process;
# the integration tier's parallel part 127 s against 152 s (medians of 3).
TEST_WORKERS ?= 2
test: setup lint promtool wrk deploy-tools clients compose
ifeq ($(TEST_WORKERS),0)
	$(BIN)/pytest --cov --cov-report=term:skip-covered
else
	$(BIN)/pytest -n $(TEST_WORKERS) -m "not serial" --cov --cov-report= --cov-fail-under=0
	$(BIN)/pytest -m serial --cov --cov-append --cov-report=term:skip-covered
endif

# The Prometheus Operator's CRD schemas (npm @kubernetes-models/prometheus-operator) for
# deploy/kubernetes/servicemonitor.yaml, which kubernetes-validate has no schema for.
deploy-tools: $(CRDS) .tools/validate-crd.mjs

$(CRDS): scripts/npm/deploy-tools/package.json scripts/npm/deploy-tools/package-lock.json
	mkdir -p .tools
	cp scripts/npm/deploy-tools/package.json scripts/npm/deploy-tools/package-lock.json .tools/
	cd .tools && npm ci --no-audit --no-fund --loglevel=error
	test -f $(CRDS) && touch $(CRDS)

.tools/validate-crd.mjs: scripts/validate-crd.mjs
	mkdir -p .tools
	cp scripts/validate-crd.mjs $@

# Debian's docker-compose (Compose v1, Python) for `docker-compose config` on
# deploy/compose; without recommends, so no container engine comes with it.
compose:
	@command -v docker-compose >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    --no-install-recommends docker-compose >/dev/null) || \
	  echo "docker-compose could not be installed: its check will skip" >&2

# promtool checks and unit-tests deploy/prometheus/alerts.yml (tests/unit/deploy);
# it comes with Debian's prometheus package (needs root; its service is not started).
promtool:
	@command -v promtool >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus)

unit: setup
	$(BIN)/pytest tests/unit

# The unit tier alone, for a quick check while working (~45 s on the shared 2-core
# machine): it starts no anvil (ANVIL_BIN points nowhere, so a test that tried would fail;
# the trust tests read blocks recorded from one, tests/fixtures/trust) and needs no network.
test-fast: $(VENV)/.installed
	ANVIL_BIN=/nonexistent/anvil $(BIN)/pytest -q tests/unit

# The performance suite (docs/performance.md): ~16 minutes; bench-quick: ~6 minutes
# (944 s and 352 s measured on the shared 2-core machine under load, 2026-12-07).
# `make test` runs the short regression gate (tests/bench) on its own.
bench: setup
	$(BIN)/bizra-node bench suite

bench-quick: setup
	$(BIN)/bizra-node bench suite --quick

# wrk and nginx for the regression gate in `make test` (tests/bench); installed only if
# missing (needs root). Without wrk the gate measures with its own aiohttp client
# (weaker); without nginx it leaves out its ratios to nginx proxy_cache.
wrk:
	@command -v wrk >/dev/null && command -v nginx >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx-light >/dev/null) || \
	  echo "wrk/nginx could not be installed: the performance gate uses its aiohttp client" \
	    "or leaves out nginx" >&2

# wrk and hey load generators and nginx (the proxy_cache baseline) for `bizra-node bench`.
bench-tools:
	@command -v wrk >/dev/null && command -v hey >/dev/null && command -v nginx >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk hey nginx-light)

clean:
	rm -rf $(VENV) .devnet .data .cluster .tools .clients .pytest_cache .mypy_cache .ruff_cache .coverage

# Regenerate the README's settings table from settings.py.
readme: setup
	$(BIN)/python scripts/readme_settings.py
