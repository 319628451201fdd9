"""The measured float spread of a reproduction profile, and the drift tolerances it implies.

Runs `cti-nb reproduce --profile P --threads T` for each thread count (default 1 and 2: on our machines the same seed
rounds differently with 1 and 2 threads), and again with torch's CPU kernels dispatched to another instruction set
(`ATEN_CPU_CAPABILITY`, with MKL's `MKL_ENABLE_INSTRUCTIONS` and oneDNN's `DNNL_MAX_CPU_ISA` to match; default
`default avx2`: the portable kernels, which sum in another order, and the AVX2 ones, which on an AVX-512 machine
stand in for a CPU of our kind without AVX-512). It then measures, for every pair among those runs, the committed
reference (figures/P) and any --extra manifests, the largest difference of each field family (`cti_nb.drift.measured_spread`). The tolerances are --factor
times the largest spread of each family, shared within a group of like fields (`cti_nb.drift.tolerances_from_spread`),
plus one step of the threshold grid for near-ties; they are written, with the command and every measured number, to
figures/P/drift_tolerances.json, which `cti-nb reproduce --profile P --compare figures/P` uses on any machine that is
not the reference's.

    .venv/bin/python bench/drift_spread.py [--profile smoke] [--threads 1 2] [--isa default avx2] [--work runs/drift-spread]
        [--extra NAME=MANIFEST ...] [--no-run] [--factor 3]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import save_record  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


# the instruction set of torch's own kernels (ATEN_CPU_CAPABILITY), of MKL's BLAS and of oneDNN, for one capability
MKL_ISA = {'default': 'SSE4_2', 'avx2': 'AVX2', 'avx512': 'AVX512'}
DNNL_ISA = {'default': 'SSE41', 'avx2': 'AVX2', 'avx512': 'AVX512_CORE'}


def isa_env(isa: str) -> dict:
    "Environment that dispatches torch, MKL and oneDNN to `isa`'s kernels (a stand-in for a CPU that has no more)."
    env = {'ATEN_CPU_CAPABILITY': isa, 'MKL_ENABLE_INSTRUCTIONS': MKL_ISA.get(isa), 'DNNL_MAX_CPU_ISA': DNNL_ISA.get(isa)}
    return {k: v for k, v in env.items() if v}


def run_profile(profile: str, threads: int, work: Path, isa: str = '') -> Path:
    "`cti-nb reproduce` of the profile with `threads` threads (and torch's kernels for `isa`) in its own work folder."
    out = work / (f't{threads}' + (f'-{isa}' if isa else ''))
    cmd = [str(Path(sys.executable).parent / 'cti-nb'), 'reproduce', '--profile', profile, '--threads', str(threads),
           '--work', str(out), '--out', str(out / 'figures'), '--figures', 'results']   # the metrics; one notebook
    print('$', ' '.join(cmd), flush=True)
    env = {**os.environ, **(isa_env(isa) if isa else {})}
    subprocess.run(cmd, check=True, env=env)
    return out / 'figures' / profile / 'manifest.json'


def main(argv=None):
    from cti_nb.core import cpu_signature
    from cti_nb.drift import DRIFT_TOLERANCES, measured_spread, tolerances_from_spread
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--profile', default='smoke')
    p.add_argument('--threads', type=int, nargs='*', default=[1, 2])
    p.add_argument('--isa', nargs='*', default=['default', 'avx2'], metavar='CAPABILITY',
                   help="ATEN_CPU_CAPABILITY values to run each thread count with as well ('' for none)")
    p.add_argument('--work', default=str(ROOT / 'runs' / 'drift-spread'))
    p.add_argument('--reference', default=None, help='the reference folder (default figures/PROFILE)')
    p.add_argument('--extra', nargs='*', default=[], metavar='NAME=MANIFEST',
                   help='more manifests of the same profile, e.g. one made on another CPU')
    p.add_argument('--no-run', action='store_true', help='use the runs already in --work')
    p.add_argument('--factor', type=float, default=3.0, help='tolerance = factor x the largest measured spread')
    a = p.parse_args(argv)
    reference = Path(a.reference or ROOT / 'figures' / a.profile)
    work = Path(a.work) / a.profile
    files = {'reference': reference / 'manifest.json'}
    for t in a.threads:
        for isa in [''] + [i for i in a.isa if i]:
            name = f'{t} thread(s)' + (f', {isa} kernels' if isa else '')
            folder = work / (f't{t}' + (f'-{isa}' if isa else ''))
            files[name] = (folder / 'figures' / a.profile / 'manifest.json' if a.no_run
                           else run_profile(a.profile, t, work, isa))
    for item in a.extra:
        name, _, path = item.partition('=')
        files[name] = Path(path)
    mans = {name: json.loads(Path(f).read_text()) for name, f in files.items()}
    spread = measured_spread(mans)
    # one step of the reference's threshold grid ('start:stop:step'): a near-tie may move the chosen threshold by it
    grid = str((mans['reference'].get('profile') or {}).get('thresholds', '')).split(':')
    rules = tolerances_from_spread(spread, a.factor, threshold_step=float(grid[2]) if len(grid) == 3 else 0.0)
    for pair, worst in spread.items():
        print(f'{pair}: ' + ', '.join(f'{k} {v:.3g}' for k, v in worst.items() if ':' not in k and v))
    describe = lambda m: {'cpu': cpu_signature(m.get('environment') or {}),
                          'torch_threads': (m.get('environment') or {}).get('torch_threads'),
                          'train_threads': (m.get('environment') or {}).get('train_threads'),
                          'git_commit': (m.get('environment') or {}).get('git_commit')}
    path = save_record({'what': f'Drift tolerances of the {a.profile} profile: {a.factor:g} x the largest difference of '
                              'each field family measured between the manifests below, over every stage, shared '
                              'within the percent and the fraction families (cti_nb.drift.tolerances_from_spread); '
                              'threshold_step: a chosen threshold may move by one grid step (a near-tie), and the '
                              'fields read at it are then not compared',
                      'command': ' '.join(['python', 'bench/drift_spread.py'] + (argv or sys.argv[1:]))
                                 + (' (over the runs in --work, made by the same command without --no-run)'
                                    if a.no_run else ''),
                      'factor': a.factor,
                      'manifests': {name: {'file': str(f), **describe(mans[name])} for name, f in files.items()},
                      'spread': spread, 'tolerances': rules}, reference / DRIFT_TOLERANCES)
    print(f'{len(rules)} tolerances written to {path}')


if __name__ == '__main__':
    main()
