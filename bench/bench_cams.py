"""Benchmark 2: seed-CAM inference with flip (`cti_nb.cam.seed_cams`): images/s batched vs one image at a time, at a
VOC-like size (500x375, DeiT-S) and at the synthetic size (the synth-voc preset's network, 64 px). Random weights:
speed does not depend on them. Prints a table and writes bench/results/cams.json.

    .venv/bin/python bench/bench_cams.py [--n 8] [--batch 8]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import table, write_result  # noqa: E402


def throughput(net, images, labels, batch: int) -> float:
    import torch
    from cti_nb.cam import seed_cams
    seed_cams(net, images[:1], labels[:1])                       # warm-up
    t0 = time.perf_counter()
    for k in range(0, len(images), batch): seed_cams(net, images[k:k + batch], labels[k:k + batch])
    return len(images) / (time.perf_counter() - t0)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--n', type=int, default=8, help='images per measurement at the VOC size')
    p.add_argument('--n-synth', type=int, default=64, help='images per measurement at the synthetic size')
    p.add_argument('--batch', type=int, default=8)
    a = p.parse_args(argv)
    import torch
    from cti_nb.model import CTIModel
    from cti_nb.train import get_config
    torch.manual_seed(0)
    cfg = get_config('synth-voc')
    setups = [('VOC-like 500x375, DeiT-S', CTIModel(num_classes=20).eval(), a.n, (375, 500)),
              (f'synthetic {cfg.img_size}x{cfg.img_size}, synth-voc preset', CTIModel(**cfg.model_kwargs(12)).eval(),
               a.n_synth, (cfg.img_size, cfg.img_size))]
    rows = []
    for name, net, n, (h, w) in setups:
        C = net.num_classes
        x = torch.randn(n, 3, h, w)
        y = torch.zeros(n, C); y[torch.arange(n), torch.arange(n) % C] = 1
        one = throughput(net, x, y, 1)
        batched = throughput(net, x, y, a.batch)
        rows.append({'setup': name, 'images': n, 'one_at_a_time_img_s': one, f'batched_{a.batch}_img_s': batched,
                     'speedup': batched / one, 'threads': torch.get_num_threads()})
        print(f'{name}: {one:.2f} img/s one at a time, {batched:.2f} img/s batched ({batched / one:.2f}x)', flush=True)
    print(table(rows, ['setup', 'images', 'one_at_a_time_img_s', f'batched_{a.batch}_img_s', 'speedup', 'threads']))
    print('target: batched >= 1.5x one-at-a-time at the synthetic size')
    print('wrote', write_result('cams', {'rows': rows, 'batch': a.batch}))


if __name__ == '__main__':
    main()
