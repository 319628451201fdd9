"""Benchmark 2: seed-CAM inference with flip, images/s.

* VOC size (500x375, DeiT-S, 20 classes), side by side in one process on the same weights, interleaved round by
  round: the official recipe restated plainly (`cti_nb.cam.official_seed_cams`: one image at a time, one forward per
  flip, `torch.no_grad`, float32, as `infer_trm.py` runs it) against `cti_nb.cam.seed_cams` (images and their
  mirror images in one forward, `torch.inference_mode`), batched, in float32 and with `--amp bf16`. Target:
  `seed_cams` with bf16 >= 1.5x the official speed.
* the synthetic size (the synth-voc preset's network, 64 px): `seed_cams` batched vs one image at a time. Target:
  batched >= 1.5x.

Random weights: speed does not depend on them. The float32 maps of the two implementations are compared (max abs
difference). Prints tables and writes bench/results/cams_vs_official.json (VOC size) and bench/results/cams.json
(synthetic size), with the load average before and after (the machine may be shared).

    .venv/bin/python bench/bench_cams.py [--n 4] [--batch 4] [--rounds 2] [--threads 2]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import table, write_result  # noqa: E402


def _seconds(fn) -> tuple[float, float, object]:
    "(wall-clock seconds, process CPU seconds, result) of `fn()`."
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - t0, time.process_time() - c0, out


def voc_side_by_side(n: int, batch: int, rounds: int) -> tuple[list[dict], float]:
    "Official one-at-a-time vs seed_cams fp32 / bf16 at 500x375; images/s (median over rounds) and the fp32 max diff."
    import torch
    from cti_nb.cam import official_seed_cams, seed_cams
    from cti_nb.model import CTIModel
    torch.manual_seed(0)
    net = CTIModel(num_classes=20).eval()
    x = torch.randn(n, 3, 375, 500)
    y = torch.zeros(n, 20); y[torch.arange(n), torch.arange(n) % 20] = 1
    paths = {
        'official (one image, no_grad, fp32)': lambda: [official_seed_cams(net, x[i], y[i]) for i in range(n)],
        f'seed_cams batch {batch}, fp32': lambda: [seed_cams(net, x[k:k + batch], y[k:k + batch])
                                                   for k in range(0, n, batch)],
        f'seed_cams batch {batch}, bf16': lambda: [seed_cams(net, x[k:k + batch], y[k:k + batch], amp='bf16')
                                                   for k in range(0, n, batch)],
    }
    official_seed_cams(net, x[0], y[0]); seed_cams(net, x[:1], y[:1]); seed_cams(net, x[:1], y[:1], amp='bf16')
    times, cpu, maps = {k: [] for k in paths}, {k: [] for k in paths}, {}
    for r in range(rounds):
        for name, fn in paths.items():
            wall, c, maps[name] = _seconds(fn)
            times[name].append(wall); cpu[name].append(c)
            print(f'  round {r + 1}: {name}: {n / wall:.3f} img/s ({c / n:.2f} CPU-s per image)', flush=True)
    official, fp32 = (maps[k] for k in list(paths)[:2])
    diff = float((torch.cat(fp32) - torch.stack(official)).abs().max())
    first = next(iter(paths))
    base, base_cpu = n / statistics.median(times[first]), n / statistics.median(cpu[first])
    rows = []
    for name, ts in times.items():
        speed, cpu_speed = n / statistics.median(ts), n / statistics.median(cpu[name])
        rows.append({'setup': f'VOC-like 500x375, DeiT-S: {name}', 'images': n, 'img_s': speed,
                     'vs_official': speed / base, 'img_per_cpu_s': cpu_speed, 'cpu_vs_official': cpu_speed / base_cpu,
                     'threads': torch.get_num_threads()})
    return rows, diff


def synthetic(n: int, batch: int) -> dict:
    "seed_cams one image at a time vs batched at the synth-voc preset's size."
    import torch
    from cti_nb.cam import seed_cams
    from cti_nb.model import CTIModel
    from cti_nb.presets import get_config
    torch.manual_seed(0)
    cfg = get_config('synth-voc')
    net = CTIModel(**cfg.model_kwargs(12)).eval()
    x = torch.randn(n, 3, cfg.img_size, cfg.img_size)
    y = torch.zeros(n, 12); y[torch.arange(n), torch.arange(n) % 12] = 1
    seed_cams(net, x[:1], y[:1])
    one = n / _seconds(lambda: [seed_cams(net, x[k:k + 1], y[k:k + 1]) for k in range(n)])[0]
    batched = n / _seconds(lambda: [seed_cams(net, x[k:k + batch], y[k:k + batch]) for k in range(0, n, batch)])[0]
    return {'setup': f'synthetic {cfg.img_size}x{cfg.img_size}, synth-voc preset', 'images': n,
            'one_at_a_time_img_s': one, f'batched_{batch}_img_s': batched, 'speedup': batched / one,
            'threads': torch.get_num_threads()}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--n', type=int, default=4, help='images per measurement at the VOC size')
    p.add_argument('--batch', type=int, default=4, help='seed_cams batch at the VOC size')
    p.add_argument('--rounds', type=int, default=2, help='interleaved rounds at the VOC size (median taken)')
    p.add_argument('--n-synth', type=int, default=64, help='images per measurement at the synthetic size')
    p.add_argument('--batch-synth', type=int, default=8)
    p.add_argument('--threads', type=int, default=None, help='torch threads (default: torch default)')
    a = p.parse_args(argv)
    import torch
    if a.threads: torch.set_num_threads(a.threads)
    load_before = os.getloadavg()
    rows, diff = voc_side_by_side(a.n, a.batch, a.rounds)
    bf16 = rows[2]['vs_official']
    print(table(rows, ['setup', 'images', 'img_s', 'vs_official', 'img_per_cpu_s', 'cpu_vs_official', 'threads']))
    print(f'fp32 seed_cams vs official: max abs difference {diff:.2e}')
    print(f"target: seed_cams with bf16 >= 1.5x the official speed: {bf16:.2f}x wall-clock "
          f"({'met' if bf16 >= 1.5 else 'not met'}), {rows[2]['cpu_vs_official']:.2f}x in CPU time")
    synth = synthetic(a.n_synth, a.batch_synth)
    print(table([synth], ['setup', 'images', 'one_at_a_time_img_s', f'batched_{a.batch_synth}_img_s', 'speedup']))
    print(f"target: batched >= 1.5x one-at-a-time at the synthetic size: {synth['speedup']:.2f}x")
    load = {'before': load_before, 'after': os.getloadavg()}
    print('load average (1, 5, 15 min) before', load['before'], 'after', load['after'])
    print('wrote', write_result('cams_vs_official', {
        'rows': rows, 'fp32_max_abs_diff_vs_official': diff, 'bf16_vs_official': bf16, 'bf16_target_met': bf16 >= 1.5,
        'bf16_cpu_vs_official': rows[2]['cpu_vs_official'],
        'load_average': load, 'cpu_capability': torch.backends.cpu.get_cpu_capability()}))
    print('wrote', write_result('cams', {'rows': [synth], 'batch': a.batch_synth, 'load_average': load}))


if __name__ == '__main__':
    main()
