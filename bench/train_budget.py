"""Training budget of a reproduction: wall-clock of every training run of a work folder, from its log.jsonl.

    .venv/bin/python bench/train_budget.py runs/reproduce/full

A run's time is `cti_nb.runs.train_seconds` (the log's segments added over resumes). Each run's torch thread count
comes from its config.json: one-thread runs add up to single-thread CPU-minutes. Runs renamed aside
(`*.replaced-*`) and segmenter runs are skipped."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cti_nb.runs import train_seconds


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('work', help='a reproduce work folder (e.g. runs/reproduce/full) or run directories', nargs='+')
    a = p.parse_args(argv)
    runs = sorted({q.parent for w in a.work for q in Path(w).rglob('log.jsonl')   # CTI runs, not segmenters
                   if '.replaced-' not in str(q) and (q.parent / 'config.json').is_file()})
    if not runs: print(f'no training runs (log.jsonl) under {" ".join(a.work)}', file=sys.stderr); return 1
    by_threads: dict[int, float] = {}
    for run in runs:
        threads = json.loads((run / 'config.json').read_text())['env']['torch_threads']
        s = train_seconds(run)
        by_threads[threads] = by_threads.get(threads, 0.0) + s
        print(f'{run}: {s / 60:.1f} min on {threads} thread(s)')
    for threads, s in sorted(by_threads.items()):
        print(f'total of the {threads}-thread runs: {s / 60:.1f} min')
    return 0


if __name__ == '__main__':
    sys.exit(main())
