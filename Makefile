# Two commands do all the set-up on a fresh clone: `make run` and `make test`.
# Each creates the virtualenv from pinned requirements on its first run.

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
SAM_VENV := .venv-sam
CHECKOV_VENV := .venv-checkov
REQUIREMENTS := requirements/runtime.txt requirements/dev.txt requirements/constraints.txt
PYTEST_ARGS ?=
STAGE ?=
SAM := SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam

.PHONY: help run reset seed operator-token test lint typecheck cfn-lint checkov validate unit integration e2e local-tests emulator browser browser-deps bench soak invoice build deploy portal teardown partner-user clean

help:  ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(VENV)/.installed: $(REQUIREMENTS)
	@PYTHON=$$(scripts/find-python.sh) || exit 1; \
	  echo "Creating $(VENV) with $$PYTHON"; \
	  [ -x $(PY) ] || $$PYTHON -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements/dev.txt -c requirements/constraints.txt
	@touch $@

$(SAM_VENV)/.installed: requirements/sam.txt
	@PYTHON=$$(scripts/find-python.sh) || exit 1; [ -x $(SAM_VENV)/bin/sam ] || $$PYTHON -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements/sam.txt
	@touch $@

# checkov pins packages the project's own requirements conflict with: like the SAM CLI, it has its own virtualenv.
$(CHECKOV_VENV)/.installed: requirements/checkov.txt
	@PYTHON=$$(scripts/find-python.sh) || exit 1; [ -x $(CHECKOV_VENV)/bin/checkov ] || $$PYTHON -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements/checkov.txt
	@touch $@

LOCAL_STATE_DIR ?= .local/state
SIZE ?= small

# Every target that starts or talks to the local stack reads its ports from API_PORT and STRIPE_PORT (make run
# API_PORT=3100 STRIPE_PORT=12200, then make seed API_PORT=3100 and make invoice API_PORT=3100 PERIOD=...).
API_PORT ?= 3000
STRIPE_PORT ?= 12111
export API_PORT STRIPE_PORT

run: $(VENV)/.installed  ## Start the local stack (API and portal on API_PORT, default 3000; Stripe emulator on STRIPE_PORT, default 12111), keeping its data in .local/state
	LOCAL_STATE_DIR=$(LOCAL_STATE_DIR) $(PY) -m local

reset: $(VENV)/.installed  ## Like run, but discard the kept data first: start clean
	LOCAL_STATE_DIR=$(LOCAL_STATE_DIR) LOCAL_STATE_RESET=1 $(PY) -m local

seed: $(VENV)/.installed  ## Fill the running stack (on API_PORT) with demo partners: SIZE=small|medium|large or a license count
	$(PY) scripts/seed_demo.py --size $(SIZE)

test: lint typecheck cfn-lint validate $(CHECKOV_VENV)/.installed browser-deps  ## Everything CI checks: linters, types, templates, and every test but the soak variants (make soak)
	$(PY) -m pytest -m "not soak" $(PYTEST_ARGS)

lint: $(VENV)/.installed  ## ruff
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check layers functions

typecheck: $(VENV)/.installed  ## mypy, strict on the shared layer, local/ (but the Stripe emulator), bench/, scripts/, testkit/
	$(VENV)/bin/mypy

cfn-lint: $(VENV)/.installed  ## cfn-lint on template.yaml, informational rules included
	$(VENV)/bin/cfn-lint -c I -- template.yaml

checkov: $(CHECKOV_VENV)/.installed $(SAM_VENV)/.installed  ## checkov on template.yaml and on what SAM makes of it (each skip explained in docs/security.md)
	@mkdir -p .aws-sam/checkov
	AWS_DEFAULT_REGION=us-east-1 SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/python tests/deploy/sam_transform.py --single template.yaml > .aws-sam/checkov/template.json
	$(CHECKOV_VENV)/bin/checkov --config-file .checkov.yaml -f template.yaml -f .aws-sam/checkov/template.json

validate: $(SAM_VENV)/.installed  ## sam validate --lint (SAM CLI in its own virtualenv)
	AWS_DEFAULT_REGION=us-east-1 SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam validate --lint --template template.yaml

unit: $(VENV)/.installed  ## Unit tests only
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

integration: $(VENV)/.installed  ## Handlers against moto
	$(PY) -m pytest tests/integration $(PYTEST_ARGS)

e2e: $(VENV)/.installed  ## Over HTTP against a local stack the tests start
	$(PY) -m pytest tests/e2e $(PYTEST_ARGS)

local-tests: $(VENV)/.installed  ## The local stack's own tests: gateway, controls, fast DynamoDB, kept state
	$(PY) -m pytest tests/local $(PYTEST_ARGS)

emulator: $(VENV)/.installed  ## The Stripe emulator's own tests
	$(PY) -m pytest tests/emulator $(PYTEST_ARGS)

browser: $(VENV)/.installed browser-deps  ## The portal driven in headless Chromium (screenshots in tests/browser/screenshots)
	$(PY) -m pytest tests/browser $(PYTEST_ARGS)

browser-deps:  ## Debian's Chromium for the browser tests (installed only when /usr/bin/chromium is missing)
	@[ -x /usr/bin/chromium ] || { SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }

OPERATOR ?= ops-1
operator-token: $(VENV)/.installed  ## Print an operator's ID token for the running local stack (on API_PORT), its authenticator app enrolled on first use: OPERATOR=ops-1
	@$(PY) scripts/operator_token.py $(OPERATOR)

invoice: $(VENV)/.installed  ## Month-end invoicing of PERIOD=YYYY-MM (a month that has ended) on the running local stack (on API_PORT)
	@$(PY) scripts/invoice_run.py $(PERIOD)

soak: $(VENV)/.installed  ## The long variants of the reliability tests
	$(PY) -m pytest -m soak $(PYTEST_ARGS)

bench: $(VENV)/.installed  ## Benchmarks: cold start, calls per request, latency, scale; writes bench/results.md
	$(PY) -m bench

# sam build runs `python3.13` for the layer and functions: put the one find-python.sh finds first on PATH,
# ahead of a pyenv shim that would answer with another version (or refuse).
# Then every module of the layer and the functions is compiled to bytecode. Lambda's code directories are
# read-only, so without .pyc files Python compiles each module it imports again on every cold start (about
# 2 to 3 times the init time with them: bench/results.md). The .pyc files are "unchecked-hash": Python uses them
# without comparing the source's timestamp, which a zip file keeps only to 2 seconds.
BUILD_DIR ?= .aws-sam/build
build: $(SAM_VENV)/.installed  ## sam build with Python 3.13 (no Docker needed), then bytecode for every module
	@PYTHON=$$(scripts/find-python.sh) || exit 1; \
	  echo "sam build with $$PYTHON"; \
	  export PATH="$$(dirname $$PYTHON):$$PATH"; \
	  if command -v pyenv >/dev/null 2>&1; then \
	    export PYENV_VERSION="$$("$$PYTHON" -c 'import platform; print(platform.python_version())'):$$(pyenv version-name)"; fi; \
	  $(SAM) build --build-dir $(BUILD_DIR) && \
	  "$$PYTHON" scripts/compile_build.py $(BUILD_DIR)

deploy: $(VENV)/.installed  ## Deploy STAGE=prod|staging, then publish the portal (first time: STRIPE_PUBLISHABLE_KEY=pk_... ALARM_EMAIL=...)
	@[ -n "$(STAGE)" ] || { echo "usage: make deploy STAGE=prod|staging" >&2; exit 2; }
	@echo "== Deploying stage $(STAGE) =="
	$(MAKE) build BUILD_DIR=.aws-sam/build  # where sam deploy reads the built template
	$(PY) scripts/deploy.py --stage $(STAGE) --sam $(SAM_VENV)/bin/sam

portal: $(VENV)/.installed  ## Publish only the portal of STAGE (config.js from the stack outputs, upload, invalidate)
	@[ -n "$(STAGE)" ] || { echo "usage: make portal STAGE=prod|staging" >&2; exit 2; }
	$(PY) scripts/deploy.py --stage $(STAGE) --portal-only

teardown: $(VENV)/.installed  ## Delete STAGE's stack (asks for its name; the table and user pool are kept: docs/runbook.md)
	@[ -n "$(STAGE)" ] || { echo "usage: make teardown STAGE=staging" >&2; exit 2; }
	$(PY) scripts/deploy.py --stage $(STAGE) --teardown

partner-user: $(VENV)/.installed  ## Create a portal user: STAGE= EMAIL= PARTNER_ID= [OPERATOR=1]
	@[ -n "$(STAGE)" ] && [ -n "$(EMAIL)" ] && [ -n "$(PARTNER_ID)" ] || \
	  { echo "usage: make partner-user STAGE=prod EMAIL=someone@agency.example PARTNER_ID=agency-1 [OPERATOR=1]" >&2; exit 2; }
	$(PY) scripts/partner_user.py --stage $(STAGE) --email "$(EMAIL)" --partner-id "$(PARTNER_ID)" $(if $(OPERATOR),--operator)

clean:  ## Remove virtualenvs and caches
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) .aws-sam .mypy_cache .ruff_cache .hypothesis
