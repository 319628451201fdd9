#!/usr/bin/env bash
# The GPU check (bench/device_check.py): at most 8 minutes on one GPU, printing as it goes, results in
# bench/results/gpu.json. `--dry-run` runs it on the CPU with tiny sizes (CI: tests/test_device_check.py).
#
#   bash bench/device_check.sh [--dry-run] [--budget SECONDS] [--out FILE]
#
# Python packages the GPU machine lacks (papermill, ipykernel and their needs) travel as wheels in .whl/ (see
# bench/README.md for the download command); they are installed first, without an index, into /tmp/cti-nb-site.
# The project itself is put on the path (PYTHONPATH), not installed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}   # .venv here, python3 on the GPU machine
if compgen -G ".whl/*.whl" >/dev/null; then
  echo "== installing $(ls .whl/*.whl | wc -l) wheels from .whl/ into /tmp/cti-nb-site"
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/cti-nb-site .whl/*.whl
  export PYTHONPATH=/tmp/cti-nb-site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 MPLBACKEND=Agg PYTHONHASHSEED=0
exec "$PY" bench/device_check.py "$@"
