"""Benchmark 4: wall-clock per stage of the `smoke` and `quick` reproduction profiles, read from their manifests
(figures/<profile>/manifest.json, written by `cti-nb reproduce`). With --run, the profiles are (re)computed first.

    .venv/bin/python bench/bench_reproduce.py [--run] [--profiles smoke quick]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import table, write_result  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--profiles', nargs='*', default=['smoke', 'quick'])
    p.add_argument('--run', action='store_true', help='run `cti-nb reproduce --force` for each profile first')
    a = p.parse_args(argv)
    rows, payload = [], {}
    for prof in a.profiles:
        if a.run:
            from cti_nb.reproduce import reproduce
            reproduce(prof, out=ROOT / 'figures', work=ROOT / 'runs' / 'reproduce', force=True)
        man = ROOT / 'figures' / prof / 'manifest.json'
        if not man.is_file():
            print(f'{man}: missing; run `cti-nb reproduce --profile {prof}` or pass --run', file=sys.stderr)
            continue
        m = json.loads(man.read_text())
        wall = m['wall_clock_s']
        rows.append({'profile': prof, **{k: v for k, v in wall.items()},
                     'cpu_count': m['environment'].get('cpu_count'), 'git_commit': m['environment'].get('git_commit')})
        payload[prof] = {'wall_clock_s': wall, 'environment': m['environment']}
    if not rows: raise SystemExit('no manifest found')
    cols = ['profile'] + [c for c in ('data', 'train', 'cams', 'evaluate', 'pseudo', 'segment', 'figures', 'total')
                          if any(c in r for r in rows)] + ['cpu_count']
    print(table(rows, cols))
    print('wrote', write_result('reproduce', {'profiles': payload}))


if __name__ == '__main__':
    main()
