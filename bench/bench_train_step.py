"""Benchmark 1: the training step. DeiT-S at 224 px, batch 4 (CPU by default): baseline (1 view), CTI straightforward
four-pass step, CTI optimised step — median of >=5 steps after a warm-up, and peak memory (RSS; CUDA max-allocated
on GPU). Also the synth-voc preset's optimised step. Each configuration runs in its own process so that peak memory
is its own. Prints a table and writes bench/results/train_step.json.

    .venv/bin/python bench/bench_train_step.py [--steps 5] [--threads N]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import peak_rss_mb, table, write_result  # noqa: E402

CASES = {
    'baseline (1 view), DeiT-S 224, batch 4': dict(impl='baseline'),
    'CTI four-pass, DeiT-S 224, batch 4': dict(impl='four-pass'),
    'CTI optimised, DeiT-S 224, batch 4': dict(impl='optimised'),
    'CTI optimised, synth-voc preset, batch 32': dict(impl='optimised', preset='synth-voc'),
}


def one(case: dict, steps: int, threads: int | None) -> dict:
    import torch
    if threads: torch.set_num_threads(threads)
    from cti_nb.train import benchmark_step, get_config
    kw = {}
    if case.get('preset'):
        cfg = get_config(case['preset'])
        kw = {k: v for k, v in cfg.model_kwargs(12).items() if k not in ('bg_token', 'tokenizer')}
        kw.update(batch_size=cfg.batch_size)
    r = benchmark_step(case['impl'], n_steps=steps, **kw)
    r['peak_rss_mb'] = peak_rss_mb()
    r['cuda_max_allocated_mb'] = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None
    return r


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--steps', type=int, default=5)
    p.add_argument('--threads', type=int, default=None, help='torch threads (default: torch default)')
    p.add_argument('--one', default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.one:
        print('RESULT ' + json.dumps(one(CASES[a.one], a.steps, a.threads)))
        return
    rows = []
    for name in CASES:
        cmd = [sys.executable, __file__, '--one', name, '--steps', str(a.steps)] + (['--threads', str(a.threads)] if a.threads else [])
        out = subprocess.run(cmd, capture_output=True, text=True)
        line = [l for l in out.stdout.splitlines() if l.startswith('RESULT ')]
        if out.returncode or not line: raise SystemExit(f'{name} failed:\n{out.stderr[-2000:]}')
        r = json.loads(line[0][7:]); r['case'] = name
        rows.append(r); print(f"{name}: {r['median_s']:.3f} s/step, peak RSS {r['peak_rss_mb']:.0f} MB", flush=True)
    four = next(r for r in rows if r['impl'] == 'four-pass'); opt = next(r for r in rows if r['case'].startswith('CTI optimised, DeiT'))
    ratio, mem_ratio = opt['median_s'] / four['median_s'], opt['peak_rss_mb'] / four['peak_rss_mb']
    print(table(rows, ['case', 'median_s', 'peak_rss_mb', 'threads']))
    print(f'optimised / four-pass: time {ratio:.2f}x (target <= 0.85), peak RSS {mem_ratio:.2f}x (target <= 1.00)')
    print('wrote', write_result('train_step', {'rows': rows, 'optimised_over_four_pass_time': ratio,
                                                'optimised_over_four_pass_peak_rss': mem_ratio}))


if __name__ == '__main__':
    main()
