# cti_nb — the README's two commands are `make reproduce` (set-up + main job) and `make test`.
PYTHON  ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
PROFILE ?= quick
export HF_HUB_OFFLINE := 1
export MPLBACKEND ?= Agg
export PYTHONHASHSEED ?= 0

.PHONY: setup reproduce test check-sync nbtest pytest smoke kill-resume bench lab clean

setup: $(VENV)/.cti-nb-installed

# Creates .venv if needed and installs the package (editable) with the tested pins of .ci/constraints.txt.
$(VENV)/.cti-nb-installed: settings.ini setup.py .ci/constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q -c .ci/constraints.txt -e '.[dev]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name python3 >/dev/null
	@touch $@

# The main job: the whole pipeline on the built-in synthetic benchmark and every figure (PROFILE=smoke|quick|full).
# Writes to runs/reproduce/$(PROFILE)/figures (never the committed figures/); `cti-nb reproduce --profile P --out
# figures` regenerates a committed profile.
reproduce: setup
	$(BIN)/cti-nb reproduce --profile $(PROFILE)

# The test command (CI runs exactly this through .ci/run).
test: setup check-sync nbtest pytest smoke

check-sync: setup
	BIN=$(BIN) bash .ci/check_sync.sh

nbtest: setup
	$(BIN)/nbdev_test --n_workers 2 --timing

# pytest exits 5 when no test is collected; that is not a failure here. Tests marked slow run in `make kill-resume`.
pytest: setup
	$(BIN)/python -m pytest -q -m 'not slow' tests; rc=$$?; [ $$rc -eq 0 ] || [ $$rc -eq 5 ]

# The smoke run (in runs/reproduce/smoke/), then the drift check: its metrics must equal the committed figures/smoke.
smoke: setup
	$(BIN)/cti-nb reproduce --profile smoke --compare figures/smoke

# Kill -9 the smoke reproduction during each stage, resume, and compare with the smoke run (not in `make test`).
kill-resume: smoke
	CTI_NB_REFERENCE=runs/reproduce/smoke/figures/manifest.json $(BIN)/python -m pytest -q -m slow tests/test_kill_resume.py

bench: setup
	$(BIN)/cti-nb bench

lab: setup
	$(BIN)/jupyter lab nbs/

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
