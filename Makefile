# meridian.observability — the two commands are `make demo` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON_BOOTSTRAP ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
# The stamp is keyed on the lock file, so a second `make` skips pip entirely.
VENV_STAMP := $(VENV)/.installed-$(shell sha256sum requirements.txt | cut -c1-16)
SANITY_FLAGS ?=
# What ships in the collection; the lab, tests and docs are checked by lint and pytest instead.
SANITY_DEPENDENCIES := amazon community kubernetes
SANITY_CONTENT := plugins roles playbooks meta changelogs galaxy.yml README.md
# The pip version ansible-test bootstraps its sanity venvs with; see tests/sanity/get_pip_offline.py.
ANSIBLE_TEST_PIP ?=
# ansible-test reads the file list from git, so the copy lives outside this checkout, in its own repository.
SANITY_ROOT := $(or $(TMPDIR),/tmp)/meridian-sanity
SANITY_DIR := $(SANITY_ROOT)/ansible_collections/meridian/observability
COLLECTION_LINK := collections/ansible_collections/meridian/observability
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PATH := $(CURDIR)/$(BIN):$(PATH)
# pytest's temporary files and ansible's local tmp stay inside the checkout's ignored dirs.
export ANSIBLE_LOCAL_TEMP := $(CURDIR)/.ansible/tmp
export ANSIBLE_HOME := $(CURDIR)/.ansible

.PHONY: help
help: ## Show the targets
	@grep -hE '^[a-z][a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

# ---------------------------------------------------------------- bootstrap
$(VENV_STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON_BOOTSTRAP) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@rm -f $(VENV)/.installed-*
	@touch $@

$(COLLECTION_LINK):
	@mkdir -p $(dir $@)
	@ln -sfn ../../.. $@

.PHONY: bootstrap
bootstrap: $(VENV_STAMP) $(COLLECTION_LINK) ## Create .venv from requirements.txt and link this collection into collections/

# ---------------------------------------------------------------- the two commands
DEMO_LOGS := $(ANSIBLE_HOME)/demo
.PHONY: demo
demo: lab-up ## The main job on the local lab: topology summary, site.yml per region, a second unchanged run, a summary
	@mkdir -p $(DEMO_LOGS)
	$(BIN)/ansible-playbook playbooks/summary.yml -i inventories/lab
	$(BIN)/ansible-playbook playbooks/site.yml -i inventories/lab -l us-east-1 | tee $(DEMO_LOGS)/first-us-east-1.log
	$(BIN)/ansible-playbook playbooks/site.yml -i inventories/lab -l eu-west-1 | tee $(DEMO_LOGS)/first-eu-west-1.log
	@echo "== second run: every layer must report changed=0"
	$(BIN)/ansible-playbook playbooks/site.yml -i inventories/lab | tee $(DEMO_LOGS)/rerun.log
	$(PY) -m lab status
	$(PY) -m lab.demo_isolation
	@# Which servers run, ok/changed per region and layer in both runs; exits 1 unless the re-run changed nothing.
	$(PY) -m lab.demo_summary --first $(DEMO_LOGS)/first-us-east-1.log --first $(DEMO_LOGS)/first-eu-west-1.log \
		--rerun $(DEMO_LOGS)/rerun.log

.PHONY: test
test: bootstrap lint sanity terraform-check unit ee policy-test integration e2e molecule ## Everything CI runs

# ---------------------------------------------------------------- checks
.PHONY: lint
lint: bootstrap ## yamllint, ansible-lint (production profile, offline), actionlint (shellcheck on every run: block) and shellcheck on every tracked shell script
	$(BIN)/yamllint --strict .
	$(BIN)/ansible-lint --offline
	@# Pinned in lab/versions.yml: about 10 s to build the first time, then cached. Its own log, not the lab's.
	MERIDIAN_LAB_STATE_DIR=.lab/lint-tools $(PY) -m lab.build -q actionlint shellcheck
	@# -shellcheck names the pinned binary: without one on PATH, actionlint would skip run: blocks silently.
	actionlint=$$($(PY) -m lab tool-path actionlint) && shellcheck=$$($(PY) -m lab tool-path shellcheck) && \
		"$$actionlint" -shellcheck "$$shellcheck" -pyflakes= && \
		scripts=$$(git ls-files -z | xargs -0 awk 'FNR == 1 { if (FILENAME ~ /\.(ba)?sh$$/ || /^#!.*[\/ ](ba|da)?sh( |$$)/) print FILENAME; nextfile }') && \
		echo "shellcheck $$scripts" && "$$shellcheck" $$scripts

.PHONY: sanity
sanity: bootstrap ## ansible-test sanity on a copy laid out as ansible_collections/meridian/observability
	@rm -rf $(SANITY_ROOT) && mkdir -p $(SANITY_DIR)
	@git ls-files -z --cached --others --exclude-standard -- $(SANITY_CONTENT) | tar -cf - --null -T - | tar -xf - -C $(SANITY_DIR)
	@cd $(SANITY_DIR) && git init -q && git add -A
	@# ansible-test resolves our dependencies (amazon.aws, kubernetes.core, ...) beside the collection.
	@for namespace in $(SANITY_DEPENDENCIES); do \
		ln -sfn $(CURDIR)/$(VENV)/lib/python3.11/site-packages/ansible_collections/$$namespace $(SANITY_ROOT)/ansible_collections/$$namespace; done
	@mkdir -p $(HOME)/.ansible/test/cache && for version in 24.2 $(ANSIBLE_TEST_PIP); do \
		cp tests/sanity/get_pip_offline.py $(HOME)/.ansible/test/cache/get_pip_$${version//./_}.py; done
	cd $(SANITY_DIR) && $(CURDIR)/$(BIN)/ansible-test sanity --python 3.11 --local --color no $(SANITY_FLAGS)

.PHONY: unit
unit: bootstrap ## Unit tests (no servers)
	$(BIN)/pytest tests/unit -q

.PHONY: policy-test
policy-test: lab-build ## Gatekeeper policies: opa check and opa test of every Rego, gator verify of every template as the policy role renders it
	$(BIN)/ansible-playbook tests/policy/render.yml
	@# Assigned first, so a missing binary stops here instead of leaving an empty command.
	opa=$$($(PY) -m lab tool-path opa) && "$$opa" check --strict roles/policy/files/rego && \
		"$$opa" test --verbose roles/policy/files/rego tests/policy/rego
	gator=$$($(PY) -m lab tool-path gator) && "$$gator" verify --verbose tests/policy/gator/...

.PHONY: bench-aws
bench-aws: bootstrap ## AWS layer (network + eks) of REGION (default us-east-1) on a private moto: first run, no-change re-run and check --diff with wall time and AWS calls (no lab lock)
	$(PY) bench/aws_layer.py --region $(or $(REGION),us-east-1)

# ---------------------------------------------------------------- delivery
EE_DIR := $(ANSIBLE_HOME)/ee
.PHONY: ee
ee: bootstrap ## Execution environment: the collection tarball and ansible-builder's build context in .ansible/ee/context, checked (no image: needs podman or docker)
	@rm -rf $(EE_DIR) && mkdir -p $(EE_DIR)/collection
	$(BIN)/ansible-galaxy collection build --force --output-path $(EE_DIR)/collection . >/dev/null
	@# A fixed name, so execution-environment.yml need not change with the version.
	mv $(EE_DIR)/collection/meridian-observability-*.tar.gz $(EE_DIR)/collection/meridian-observability.tar.gz
	$(BIN)/ansible-builder create -f execution-environment.yml -c $(EE_DIR)/context --output-filename Containerfile
	$(PY) -m delivery.execution_environment $(EE_DIR)/context

ENV ?= lab
.PHONY: drift
drift: bootstrap ## Drift report of ENV (default lab): site.yml and its tenant layer in check mode with diff over every region; .drift/ENV/drift.md and .json; exit 2 on drift
	$(PY) -m delivery.drift --inventory inventories/$(ENV)

# ---------------------------------------------------------------- the lab
.PHONY: lab-build
lab-build: bootstrap ## Build or reuse the lab's pinned binaries (cold: about 30 min on 2 cores, once; cached in ~/.cache/meridian/lab; log .lab/lab-build.log)
	$(PY) -m lab.build

.PHONY: lab-up
lab-up: lab-build ## Start (or reuse) every lab server on 127.0.0.1
	$(PY) -m lab up

.PHONY: lab-status
lab-status: bootstrap ## Table of the lab's services and their health
	$(PY) -m lab status

.PHONY: lab-down
lab-down: bootstrap ## Stop every lab server this checkout started
	$(PY) -m lab down

.PHONY: integration
integration: lab-up ## Tests against the lab's real servers
	# --durations: the slowest tests are named in every CI log, where the run's time budget is spent.
	$(BIN)/pytest tests/integration -q --durations=25 --durations-min=20

.PHONY: e2e
e2e: lab-up ## The tenant isolation matrix: Keycloak tokens through each region's Envoy into Thanos, both regions
	$(BIN)/pytest tests/e2e -q

MOLECULE_SCENARIOS ?= $(sort $(notdir $(wildcard molecule/*-*)))
.PHONY: molecule
molecule: lab-up ## Every role's molecule scenario against the lab (converge, idempotence, verify)
	@# The driver is unmanaged, so no destroy step resets molecule's state; a stale "prepared: true"
	@# would skip prepare on the next run against a lab that may have been restarted empty.
	@rm -rf $(ANSIBLE_HOME)/tmp/molecule.*
	@for scenario in $(MOLECULE_SCENARIOS); do \
		echo "== molecule test -s $$scenario"; \
		$(BIN)/molecule test -s $$scenario || exit 1; \
	done

# ---------------------------------------------------------------- terraform
TERRAFORM ?= $(shell command -v terraform || command -v tofu)
TERRAFORM_PLUGIN_DIR ?= /opt/tf-plugins
TOOLS_VENV := .venv-tools
CHECKOV_VERSION := 3.3.30

.PHONY: terraform-tfvars
terraform-tfvars: bootstrap ## Render terraform/live/<env>/*/terraform.tfvars.json from every topology
	@for environment in dev stage prod lab; do \
		$(BIN)/ansible-playbook playbooks/terraform_tfvars.yml -i inventories/$$environment; done

$(TOOLS_VENV)/bin/checkov:
	$(PYTHON_BOOTSTRAP) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/pip install --quiet --disable-pip-version-check checkov==$(CHECKOV_VERSION)

.PHONY: terraform-check
terraform-check: $(TOOLS_VENV)/bin/checkov ## fmt and validate (where a terraform binary and provider mirror exist), checkov
	@if [ -z "$(TERRAFORM)" ]; then echo "terraform-check: no terraform or tofu binary; fmt/validate skipped"; else \
		$(TERRAFORM) fmt -check -recursive terraform; \
		if [ -d "$(TERRAFORM_PLUGIN_DIR)" ]; then \
			for stack in terraform/live/dev/*/; do \
				data=$$(mktemp -d); \
				TF_DATA_DIR=$$data $(TERRAFORM) -chdir=$$stack init -input=false -backend=false -plugin-dir=$(TERRAFORM_PLUGIN_DIR) >/dev/null; \
				TF_DATA_DIR=$$data $(TERRAFORM) -chdir=$$stack validate; rm -rf $$data; \
			done; \
		else echo "terraform-check: no provider mirror at $(TERRAFORM_PLUGIN_DIR); validate skipped"; fi; fi
	$(TOOLS_VENV)/bin/checkov -d terraform --quiet --compact --framework terraform --skip-download

# ---------------------------------------------------------------- docs
.PHONY: diagram
diagram: bootstrap ## Regenerate docs/architecture.svg and .png from inventories/dev
	$(PY) docs/generate_diagram.py --inventory inventories/dev --output docs/architecture

.PHONY: clean
clean: ## Remove generated test output (keeps .venv and the lab cache)
	rm -rf .ansible tests/output .pytest_cache
