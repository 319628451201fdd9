# cti_nb — the README's two commands are `make reproduce` (set-up + main job) and `make test`.
PYTHON  ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
PROFILE ?= quick
export HF_HUB_OFFLINE := 1
export MPLBACKEND ?= Agg
export PYTHONHASHSEED ?= 0

.PHONY: setup backbone backbone-data backbone-local backbone-group release reproduce test check-sync nbtest pytest smoke kill-resume bench lab docs docs-test browser-deps browser-test wheel-test clean

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

# The shipped synth-in backbone from nothing (one-time, 3.0 h measured on 2 CPU cores; each command resumes where it
# stopped): its data, the pretraining run in runs/backbone/run, a warm-started continuation in runs/backbone/warm, and
# the export into cti_nb/weights/ (then pin the printed sha256 in SHIPPED_BACKBONES, nbs/03b_checkpoints.ipynb). The shipped
# run followed these four commands: the 30-epoch cosine to step 4563, the horizon set to 44 epochs (the schedule
# follows --epochs on resume); then a continuation from that classifier (fresh optimiser, lr 5e-4, other images:
# seed 2) on a 36-epoch cosine to step 1240, finished with the horizon set to 30 epochs.
BACKBONE := cti_nb/weights/synth-in_vit12-d64.safetensors
BACKBONE_RUN ?= runs/backbone/run
BACKBONE_WARM ?= runs/backbone/warm
backbone: backbone-data
	$(BIN)/cti-nb pretrain --data-root runs/backbone/synth-in --out $(BACKBONE_RUN) --resume --no-progress \
	    --epochs 30 --set stop_after_steps=4563
	$(BIN)/cti-nb pretrain --data-root runs/backbone/synth-in --out $(BACKBONE_RUN) --resume --no-progress --epochs 44
	$(BIN)/cti-nb pretrain --data-root runs/backbone/synth-in --out $(BACKBONE_WARM) --init $(BACKBONE_RUN) --seed 2 \
	    --resume --no-progress --epochs 36 --set lr=5e-4 stop_after_steps=1240
	$(BIN)/cti-nb pretrain --data-root runs/backbone/synth-in --out $(BACKBONE_WARM) --init $(BACKBONE_RUN) --seed 2 \
	    --resume --no-progress --epochs 30 --set lr=5e-4 --export $(BACKBONE) --extra-val seed1=runs/backbone/synth-in-seed1

backbone-data: setup
	$(BIN)/cti-nb synth --kind synth-in --out runs/backbone/synth-in --seed 0 --n-train 128 --n-val 2000 --no-progress
	$(BIN)/cti-nb synth --kind synth-in --out runs/backbone/synth-in-seed1 --seed 1 --n-train 64 --n-val 2000 --no-progress

# The shipped synth-in-local backbone (the presets' init): synth-in continued for 8 epochs (1,600 steps, ~18 min on
# 2 cores) with ConViT's locality prior in all 12 blocks, its gate started at 2 (05b_pretrain, "The shipped choice").
# The shipped file is the backbone screen's run of this recipe, trained with 1 thread; the same recipe with another
# thread count or CPU rounds differently, so pin the sha256 this prints if you replace the file.
BACKBONE_LOCAL := cti_nb/weights/synth-in-local_vit12-d64.safetensors
backbone-local: backbone-data
	OMP_NUM_THREADS=1 $(BIN)/cti-nb pretrain --data-root runs/backbone/synth-in --out runs/backbone/local --init synth-in \
	    --resume --no-progress --epochs 8 --set lr=5e-4 local_blocks=12 local_gate=2 --export $(BACKBONE_LOCAL) \
	    --name synth-in-local --extra-val seed1=runs/backbone/synth-in-seed1

# The synth-in-group backbone: synth-in continued for 8 epochs (1,600 steps, ~14 min on 2 cores) with an AFA-style loss
# that asks the attention summed over blocks 4-11 to carry each patch to far patches of its own label
# (`attn_group=1`; 05b_pretrain, "Grouping by content"). The shipped file is the backbone screen's run of this recipe,
# trained with 2 threads; pin the sha256 this prints if you replace the file.
BACKBONE_GROUP := cti_nb/weights/synth-in-group_vit12-d64.safetensors
backbone-group: backbone-data
	OMP_NUM_THREADS=2 $(BIN)/cti-nb pretrain --data-root runs/backbone/synth-in --out runs/backbone/group --init synth-in \
	    --resume --no-progress --epochs 8 --set lr=5e-4 attn_group=1 --export $(BACKBONE_GROUP) \
	    --name synth-in-group --extra-val seed1=runs/backbone/synth-in-seed1

# The test command (CI runs exactly this through .ci/run).
# The released checkpoints (cti_nb/weights/synth-voc-{baseline,cti}.safetensors): the full profile's seed-0 synth-voc
# runs, trained in runs/reproduce/full (where `make reproduce PROFILE=full` reuses them) and exported; it prints the
# sha256 lines to pin in cti_nb.checkpoints.RELEASED_CHECKPOINTS (nbs/03b_checkpoints.ipynb).
release: setup
	$(BIN)/cti-nb reproduce --profile full --release

test: setup check-sync nbtest pytest smoke

check-sync: setup
	BIN=$(BIN) bash .ci/check_sync.sh

nbtest: setup
	$(BIN)/nbdev_test --n_workers 2 --timing

# pytest exits 5 when no test is collected; that is not a failure here. Slow tests run in `make kill-resume`; the
# browser, docs and wheel tests have their own targets below.
pytest: setup
	$(BIN)/python -m pytest -q -m 'not slow and not browser and not docs and not wheel and not drift' tests; rc=$$?; [ $$rc -eq 0 ] || [ $$rc -eq 5 ]

# The smoke run (in runs/reproduce/smoke/), then the drift check against the committed figures/smoke: bit-exact when
# this machine's CPU signature and thread counts match the reference's, else within the tolerances measured beside it
# (figures/smoke/drift_tolerances.json, written by bench/drift_spread.py); the configuration is always compared
# exactly. SMOKE_TOLERANCE=0 asks for bit-equality anywhere, SMOKE_TOLERANCE=x for one tolerance for every number.
# Then tests/test_drift_real.py proves the check still fails on real drift (a changed loss weight or threshold grid).
SMOKE_TOLERANCE ?=
smoke: setup
	$(BIN)/cti-nb reproduce --profile smoke --compare figures/smoke $(if $(SMOKE_TOLERANCE),--tolerance $(SMOKE_TOLERANCE))
	$(BIN)/python -m pytest -q -m drift tests

# Kill -9 the smoke reproduction during each stage, resume, and compare with the smoke run (not in `make test`).
kill-resume: smoke
	CTI_NB_REFERENCE=runs/reproduce/smoke/figures/manifest.json $(BIN)/python -m pytest -q -m slow tests/test_kill_resume.py

bench: setup
	$(BIN)/cti-nb bench

# JupyterLab on nbs/, bound to 127.0.0.1 (LAB_IP=0.0.0.0 to open it to the network); --allow-root when run as root.
LAB_IP ?= 127.0.0.1
ALLOW_ROOT := $(if $(filter 0,$(shell id -u 2>/dev/null)),--allow-root)
lab: setup
	$(BIN)/jupyter lab nbs/ --ip $(LAB_IP) $(ALLOW_ROOT)

# The static HTML site of the notebooks (method notebooks executed) in _docs/; open _docs/index.html.
docs: setup
	$(BIN)/cti-nb docs --out _docs

# The system Chromium the browser tests drive through playwright (Debian's chromium; no browser is downloaded).
browser-deps:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core; \
	  else echo "browser-deps: no Chromium; install it (Debian: apt-get install chromium fonts-dejavu-core)" >&2; fi

# The explorer in a real JupyterLab + headless Chromium; screenshots in runs/browser-test/.
browser-test: setup browser-deps
	$(BIN)/python -m pytest -q -rs -m browser tests

# The whole docs site built into a temporary folder and checked; screenshots (index, equations) in runs/docs-test/.
docs-test: setup browser-deps
	$(BIN)/python -m pytest -q -rs -m docs tests

# python -m build, the wheel in a fresh venv (third-party packages linked from .venv), used outside the checkout.
wheel-test: setup
	$(BIN)/python -m pytest -q -rs -m wheel tests

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache _docs
