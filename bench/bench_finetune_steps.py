"""Fine-tune steps per second of each variant at the synth-voc preset (the regime every profile trains in): the
12-block width-64 ViT of the shipped synth-in backbone at 80 px (10 x 10 patches), the preset's batch (16) and
views (2, the baseline too), 20 classes, optimised step with AdamW, memory full so that every pass of CTI runs.
Each variant runs in its own process (median of `--steps` steps after a warm-up step); data loading is not timed.

Roofline per variant: the FLOPs of one step counted by `torch.utils.flop_counter.FlopCounterMode` over one more
step of the same network (forward + backward + the AdamW step; the counter counts the matrix products, i.e. the
linear layers, the attention's two batched products and the patch convolution, forward and backward, at 2 FLOPs per
multiply-add; softmax, norms, activations, the losses' elementwise work and the AdamW update count 0), the achieved
rate (those FLOPs / the median step time) and the fraction of this machine's float32 matmul peak, measured in the
same process at the same thread count as the best of several 1024^3 `torch.mm` (sgemm).
Writes bench/results/finetune_steps.json (with the machine record of `env_info`, CPU model and SIMD flags included).

    .venv/bin/python bench/bench_finetune_steps.py [--steps 5] [--threads 2] [--variants baseline cti] [--out FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import table, write_result  # noqa: E402

VARIANTS = ('baseline', 'bgt', 'intra', 'cti')
SGEMM_N = 1024


def sgemm_peak(n: int = SGEMM_N, repeats: int = 10) -> dict:
    "Best-of-`repeats` float32 FLOP rate of an n x n x n `torch.mm` at the current thread count (GFLOP/s)."
    import torch
    a, b = torch.randn(n, n), torch.randn(n, n)
    c = torch.empty(n, n)
    for _ in range(3): torch.mm(a, b, out=c)
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter(); torch.mm(a, b, out=c); ts.append(time.perf_counter() - t0)
    return {'n': n, 'repeats': repeats, 'best_s': min(ts), 'gflops': 2 * n ** 3 / min(ts) / 1e9}


def preset_step_args(variant: str) -> dict:
    "`benchmark_step` arguments of one variant's fine-tune step at the synth-voc preset (20 classes, AdamW)."
    from cti_nb.presets import get_config
    cfg = get_config('synth-voc', variant=variant)
    kw = {k: v for k, v in cfg.model_kwargs(20).items() if k not in ('bg_token', 'tokenizer', 'num_classes')}
    impl = 'baseline' if variant == 'baseline' else 'optimised'
    return dict(impl=impl, variant='cti' if impl == 'baseline' else variant, batch_size=cfg.batch_size,
                views=cfg.views, optimizer=True, **kw)   # the baseline with the preset's 2 views


def one(variant: str, steps: int, threads: int) -> dict:
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    torch.set_num_threads(threads)
    from cti_nb.step import benchmark_step
    from cti_nb.presets import get_config
    cfg = get_config('synth-voc', variant=variant)
    args = preset_step_args(variant)
    impl = args['impl']
    r = benchmark_step(n_steps=steps, **args)
    with FlopCounterMode(display=False) as fc:            # one more step (a fresh network), counted, not timed
        benchmark_step(n_steps=1, warmup=0, **args)
    flops = fc.get_total_flops()
    ops = {str(op): n for op, n in sorted(fc.get_flop_counts().get('Global', {}).items(), key=lambda t: -t[1])}
    peak = sgemm_peak()
    achieved = flops / r['median_s'] / 1e9
    return {'variant': variant, 'impl': impl, 'batch': cfg.batch_size, 'img_size': cfg.img_size,
            'depth': cfg.depth, 'embed_dim': cfg.embed_dim, 'median_s': r['median_s'], 'times_s': r['times'],
            'steps_per_s': 1 / r['median_s'], 'images_per_s': cfg.batch_size / r['median_s'],
            'gflop_per_step': flops / 1e9, 'gflop_by_op': {k: v / 1e9 for k, v in ops.items()},
            'gflops_achieved': achieved, 'peak_sgemm_gflops': peak['gflops'], 'peak_sgemm': peak,
            'fraction_of_peak': achieved / peak['gflops'], 'threads': torch.get_num_threads()}


def roofline(r: dict) -> str:
    return (f"roofline: {r['variant']} {r['gflop_per_step']:.1f} GFLOP/step, {r['gflops_achieved']:.1f} GFLOP/s "
            f"achieved, peak sgemm {r['peak_sgemm_gflops']:.0f} GFLOP/s ({r['threads']} threads), "
            f"{100 * r['fraction_of_peak']:.0f} %")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--steps', type=int, default=5)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--variants', nargs='+', choices=VARIANTS, default=list(VARIANTS))
    ap.add_argument('--out', help='result file (default bench/results/finetune_steps.json)')
    ap.add_argument('--one', help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        print(json.dumps(one(a.one, a.steps, a.threads))); return
    rows, load = [], {'start': os.getloadavg()}   # other work on the cores slows steps and sgemm alike
    for v in a.variants:   # a fresh process each: no allocator or thread-pool state carried over
        out = subprocess.run([sys.executable, __file__, '--one', v, '--steps', str(a.steps), '--threads',
                              str(a.threads)], capture_output=True, text=True, check=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
        print(roofline(rows[-1]), flush=True)
    print(table(rows, ['variant', 'impl', 'batch', 'img_size', 'median_s', 'steps_per_s', 'images_per_s',
                       'gflop_per_step', 'gflops_achieved', 'peak_sgemm_gflops', 'fraction_of_peak']))
    load['end'] = os.getloadavg()
    print(f"load average (1, 5, 15 min): start {load['start']}, end {load['end']}")
    import torch
    torch.set_num_threads(a.threads)   # the machine record's torch_threads is the benchmark's
    write_result('finetune_steps', {'steps': a.steps, 'threads': a.threads, 'sgemm_n': SGEMM_N, 'load_average': load,
                                    'flops_counted': 'FlopCounterMode over one step: matrix products (linear, '
                                                     'attention bmm, patch convolution) forward and backward, 2 FLOPs '
                                                     'per multiply-add; elementwise work and the AdamW update count 0',
                                    'rows': rows}, a.out)


if __name__ == '__main__':
    main()
