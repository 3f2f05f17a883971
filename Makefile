# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test system-deps clean

run: $(VENV)/.runtime node_modules/.installed
	@$(BIN)/flask --app web init
	$(BIN)/flask --app web run --host $(HOST) --port $(PORT)

# TEST_DATABASE_URL=postgresql+psycopg://user:pw@host:port/db (from the environment) runs it on PostgreSQL.
test: $(VENV)/.dev node_modules/.installed system-deps
	$(BIN)/python -m pytest -n auto

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt constraints.txt | $(VENV)/bin/python
	$(BIN)/pip install --quiet -r requirements.txt -c constraints.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt constraints.txt | $(VENV)/bin/python
	$(BIN)/pip install --quiet -r requirements-dev.txt -c constraints.txt
	touch $@ $(VENV)/.runtime

node_modules/.installed: package.json package-lock.json
	npm ci --omit=optional --no-audit --no-fund --loglevel=error
	touch $@

# Debian packages: WeasyPrint's Pango and HarfBuzz; poppler, qpdf, NSS tools and zbar to check PDFs, seals and QR codes;
# Chromium for the browser tests; nginx and envsubst (gettext-base) for the production recipe, which a test runs.
SYSTEM_PACKAGES := poppler-utils zbar-tools qpdf libnss3-tools libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 chromium \
                   nginx gettext-base
system-deps:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "Please install: sudo apt-get install $$missing"; exit 1; fi; \
	fi

clean:
	rm -rf $(VENV) node_modules instance .pytest_cache
