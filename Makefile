# The course's commands. Students need two: `make lab` and `make test`.
# Both create .venv when it is missing and (re)install from requirements.txt
# only when requirements.txt or pyproject.toml is newer than the last install.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# No cell timeout here: conftest.py gives nbval the one every notebook run shares
# (tools/nbexec.py CELL_TIMEOUT; `make test COURSE_CELL_TIMEOUT=120` changes it everywhere).

# kernels running the same notebook at once in the harness (make test-heavy: 10)
COURSE_KERNELS ?= 4
export COURSE_KERNELS

# pytest runs the tests/ suite and nbval over notebooks/ in one session, inside a
# loopback-only network namespace where the runner can make one (tools/loopback-only.sh).
PYTEST_ARGS := tests notebooks --nbval --nbval-current-env \
	--nbval-sanitize-with tests/sanitize.cfg

.PHONY: lab test test-heavy test-busy lint bench notebooks nav check lock install

install: $(STAMP)

# The lock is made for Python 3.11 and newer: say so plainly instead of letting pip
# fail later on a package that has no release for an older interpreter.
$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "The course needs Python 3.11 or newer; $(PYTHON) is " + sys.version.split()[0] + ". Install a newer Python and run: make PYTHON=python3.12 lab")'
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements.txt pyproject.toml | $(PY)
	$(PY) -m pip install --disable-pip-version-check --quiet -r requirements.txt
	$(PY) -m pip install --disable-pip-version-check --quiet --no-deps -e .
	touch $(STAMP)

# Token authentication stays on (Jupyter's default). Jupyter refuses to run as
# root unless told; inside a container root is common, so allow it there.
LAB_ROOT := $(if $(filter 0,$(shell id -u 2>/dev/null)),--allow-root)

lab: $(STAMP)
	$(PY) -m jupyter lab --ip=127.0.0.1 $(LAB_ROOT) notebooks/00_start_here.ipynb

test: $(STAMP)
	sh tools/loopback-only.sh $(PY) -m pytest $(PYTEST_ARGS)

test-heavy:
	$(MAKE) test COURSE_KERNELS=10

# The suite on a busy machine, as on a class hub or a CI box: two processes that
# each keep a core busy run beside it, and stop with it.
test-busy: $(STAMP)
	$(PY) -c 'while True: pass' & hog1=$$!; $(PY) -c 'while True: pass' & hog2=$$!; \
	trap 'kill $$hog1 $$hog2' EXIT; $(MAKE) test

# Lint, as CI runs it: ruff over Python files and notebooks, the helpers' layer
# contract (pyproject.toml, [tool.importlinter]) and the front door's generated map.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache
	$(PY) tools/frontdoor.py --check

bench: $(STAMP)
	$(PY) tools/bench.py
	$(PY) tools/bench_mailsink.py

notebooks: $(STAMP)
	$(PY) tools/nbtool.py run

nav: $(STAMP)
	$(PY) tools/nbtool.py nav

check: $(STAMP)
	$(PY) tools/nbtool.py check

lock:
	uv pip compile --universal --python-version 3.11 requirements.in -o requirements.txt

# The class hub (deploy/; README, "Teaching a class on JupyterHub"). hub-install adds the
# hub's proxy from npm (pinned in deploy/package-lock.json) beside the course's environment;
# hub starts JupyterHub with the shipped configuration on 127.0.0.1:8000.
.PHONY: hub hub-install

hub-install: $(STAMP)
	sh deploy/install.sh

hub: hub-install
	sh deploy/hub.sh
