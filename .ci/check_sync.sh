#!/usr/bin/env bash
# Fail when the notebooks (the source of truth) and the exported package are out of step, or when a notebook
# carries outputs / metadata noise that nbdev_clean would remove. Run from the repository root.
set -euo pipefail
BIN=${BIN:-.venv/bin}
snapshot() { find "$@" -type f \( -name '*.py' -o -name '*.ipynb' \) -not -path '*/.ipynb_checkpoints/*' \
               -not -path '*/__pycache__/*' -print0 | sort -z | xargs -0 sha256sum; }

before=$(snapshot cti_nb)
"$BIN/nbdev_export"
after=$(snapshot cti_nb)
if [ "$before" != "$after" ]; then
  echo "FAIL: nbdev_export changed cti_nb/: the package is out of step with nbs/." >&2
  diff <(echo "$before") <(echo "$after") >&2 || true
  git --no-pager diff --stat -- cti_nb >&2 2>/dev/null || true
  echo "Fix: edit the notebook (never cti_nb/*.py by hand), run nbdev_export, commit both." >&2
  exit 1
fi

before=$(snapshot nbs)
"$BIN/nbdev_clean"
after=$(snapshot nbs)
if [ "$before" != "$after" ]; then
  echo "FAIL: nbdev_clean changed notebooks: they carried outputs or metadata noise." >&2
  diff <(echo "$before") <(echo "$after") >&2 || true
  echo "Fix: run nbdev_clean and commit the cleaned notebooks." >&2
  exit 1
fi
echo "sync: notebooks and cti_nb/ are in step; notebooks are clean."
