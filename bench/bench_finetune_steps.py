"""Fine-tune steps per second of each variant at the synth-voc preset (the regime every profile trains in): the
12-block width-64 ViT of the shipped synth-in backbone at 80 px (10 x 10 patches), the preset's batch (16) and
views (2, the baseline too), 20 classes, optimised step with AdamW, memory full so that every pass of CTI runs.
Each variant runs in its own process (median of `--steps` steps after a warm-up step); data loading is not timed.
Writes bench/results/finetune_steps.json.

    .venv/bin/python bench/bench_finetune_steps.py [--steps 5] [--threads 2]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import table, write_result  # noqa: E402

VARIANTS = ('baseline', 'bgt', 'intra', 'cti')


def one(variant: str, steps: int, threads: int) -> dict:
    import torch
    torch.set_num_threads(threads)
    from cti_nb.step import benchmark_step
    from cti_nb.presets import get_config
    cfg = get_config('synth-voc', variant=variant)
    kw = {k: v for k, v in cfg.model_kwargs(20).items() if k not in ('bg_token', 'tokenizer', 'num_classes')}
    impl = 'baseline' if variant == 'baseline' else 'optimised'
    r = benchmark_step(impl, variant='cti' if impl == 'baseline' else variant, batch_size=cfg.batch_size,
                       views=cfg.views, n_steps=steps, optimizer=True, **kw)   # the baseline with the preset's 2 views
    return {'variant': variant, 'impl': impl, 'batch': cfg.batch_size, 'img_size': cfg.img_size,
            'depth': cfg.depth, 'embed_dim': cfg.embed_dim, 'median_s': r['median_s'],
            'steps_per_s': 1 / r['median_s'], 'images_per_s': cfg.batch_size / r['median_s']}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--steps', type=int, default=5)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--one', help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        print(json.dumps(one(a.one, a.steps, a.threads))); return
    rows = []
    for v in VARIANTS:   # a fresh process each: no allocator or thread-pool state carried over
        out = subprocess.run([sys.executable, __file__, '--one', v, '--steps', str(a.steps), '--threads',
                              str(a.threads)], capture_output=True, text=True, check=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1])); print(rows[-1], flush=True)
    print(table(rows, ['variant', 'impl', 'batch', 'img_size', 'median_s', 'steps_per_s', 'images_per_s']))
    write_result('finetune_steps', {'steps': a.steps, 'threads': a.threads, 'rows': rows})


if __name__ == '__main__':
    main()
