# Praxis: `make run` runs the whole system, `make test` runs the whole suite.
# Both set up what they need first (virtual environments, the embedded database,
# RabbitMQ when it is installed but not running).

PYTHON ?= python3
VENV   := .venv
DBVENV := .venv-db
BIN    := $(VENV)/bin
# nx-27017 needs pymongo>=4.18 while the services need pymongo<4.16 (eventlet):
# the database server gets its own virtual environment.
NX_VERSION := 0.8.1
# ralph's Learning Record Store (the xAPI integration test starts it) has its own environment
LRSVENV := .venv-lrs

.PHONY: run test install bench unit integration e2e clean tools

install: $(VENV)/.installed $(DBVENV)/.installed $(LRSVENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip 'setuptools<82' wheel
	$(BIN)/pip install -q -e '.[test]'
	touch $@

$(DBVENV)/.installed:
	$(PYTHON) -m venv $(DBVENV)
	$(DBVENV)/bin/pip install -q --upgrade pip
	$(DBVENV)/bin/pip install -q 'nx-27017==$(NX_VERSION)'
	touch $@

$(LRSVENV)/.installed:
	$(PYTHON) -m venv $(LRSVENV)
	$(LRSVENV)/bin/pip install -q --upgrade pip
	$(LRSVENV)/bin/pip install -q 'ralph-malph[backend-fs,lrs]>=5,<6' requests
	touch $@

# docker-compose validates docker-compose.yml offline (no Docker engine runs here).
tools:
	@command -v docker-compose >/dev/null 2>&1 || { \
	  command -v apt-get >/dev/null 2>&1 && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-compose >/dev/null) ; } || \
	  echo "make: docker-compose is missing; the compose-file check will fail"
	@command -v chromedriver >/dev/null 2>&1 || { \
	  command -v apt-get >/dev/null 2>&1 && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null) ; } || \
	  echo "make: chromium/chromium-driver are missing; the dashboard browser test will be skipped"

run: install
	$(BIN)/python -m deploy.local run

test: install tools
	$(BIN)/python -m deploy.local broker
	$(BIN)/nameko test tests -q -p no:cacheprovider --reruns 1 -rfER

unit: install
	$(BIN)/nameko test tests/unit -q -p no:cacheprovider

integration: install
	$(BIN)/python -m deploy.local broker
	$(BIN)/nameko test tests/integration -q -p no:cacheprovider

e2e: install
	$(BIN)/python -m deploy.local broker
	$(BIN)/nameko test tests/e2e -q -p no:cacheprovider

bench: install
	$(BIN)/python -m deploy.local broker
	$(BIN)/python -m bench
	$(BIN)/python -m bench.selection --seed
	$(BIN)/python -m bench.supervision

clean:
	rm -rf $(VENV) $(DBVENV) $(LRSVENV) var .pytest_cache
