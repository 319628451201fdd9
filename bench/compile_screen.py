"""Would `torch.compile` speed up the fine-tune step on CPU? The synth-voc fine-tune step of each variant (the regime of
`bench_finetune_steps.py`: 12 blocks, width 64, 80 px, batch 16, two views, AdamW, memory full), eager against each of
the network's 12 blocks compiled by TorchInductor (`Block.compile()`, regional compilation: the step's own Python,
losses and optimiser stay eager). Each (variant, mode) runs in its own process; the first steps (compilation) are
timed apart from the median of the steps after them, so the cost a training run pays once is visible too.
Writes bench/results/compile_screen.json.

    .venv/bin/python bench/compile_screen.py [--steps 8] [--warmup 3] [--threads 2] [--variants baseline cti]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import table, write_result  # noqa: E402


def one(variant: str, mode: str, steps: int, warmup: int, threads: int) -> dict:
    import torch
    torch.set_num_threads(threads)
    import cti_nb.model as M
    from cti_nb.step import benchmark_step
    from bench_finetune_steps import preset_step_args
    if mode == 'compiled-blocks':
        eager = M.CTIModel

        class CompiledBlocks(eager):   # what benchmark_step builds, with every block compiled in place
            def __init__(self, *a, **k):
                super().__init__(*a, **k)
                for b in self.blocks: b.compile(dynamic=False)
        M.CTIModel = CompiledBlocks
    t0 = time.perf_counter()
    r = benchmark_step(n_steps=steps, warmup=warmup, **preset_step_args(variant))
    total = time.perf_counter() - t0
    return {'variant': variant, 'mode': mode, 'median_s': r['median_s'], 'steps_per_s': 1 / r['median_s'],
            'times_s': r['times'], 'warmup_steps': warmup,
            'warmup_s': total - sum(r['times']), 'threads': torch.get_num_threads(), 'losses': r['losses']}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--steps', type=int, default=8)
    ap.add_argument('--warmup', type=int, default=3)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--variants', nargs='+', default=['baseline', 'cti'])
    ap.add_argument('--out', help='result file (default bench/results/compile_screen.json)')
    ap.add_argument('--one', nargs=2, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        print(json.dumps(one(a.one[0], a.one[1], a.steps, a.warmup, a.threads))); return
    rows = []
    for v in a.variants:
        for mode in ('eager', 'compiled-blocks'):
            out = subprocess.run([sys.executable, __file__, '--one', v, mode, '--steps', str(a.steps), '--warmup',
                                  str(a.warmup), '--threads', str(a.threads)], capture_output=True, text=True)
            if out.returncode:
                rows.append({'variant': v, 'mode': mode, 'error': out.stderr.strip().splitlines()[-1][:300]})
            else:
                rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(rows[-1].get('error') or f"{v:9} {mode:16} {rows[-1]['steps_per_s']:.2f} steps/s, "
                  f"first {a.warmup} steps {rows[-1]['warmup_s']:.1f} s", flush=True)
    for v in a.variants:
        e, c = (next((r for r in rows if r['variant'] == v and r['mode'] == m and 'error' not in r), None)
                for m in ('eager', 'compiled-blocks'))
        if e and c: c['speedup'] = e['median_s'] / c['median_s']
    print(table([r for r in rows if 'error' not in r], ['variant', 'mode', 'median_s', 'steps_per_s', 'warmup_s']))
    import torch
    torch.set_num_threads(a.threads)
    write_result('compile_screen', {'steps': a.steps, 'warmup': a.warmup, 'threads': a.threads, 'rows': rows}, a.out)


if __name__ == '__main__':
    main()
