"""Benchmark 1: the training step. DeiT-S at 224 px, batch 4 (CPU by default).

* Side by side (one process, the same weights, interleaved step by step, AdamW included): the official step restated
  (`four_pass_step`: the four full passes of `models/model_CTI.py::update`, float32) against the optimised step in
  exact float32 and with `--amp bf16`. Targets: optimised <= 0.70x the official time in float32, <= 0.50x in bf16.
* Per configuration in its own process, so that peak memory is its own (forward + backward, no optimiser): baseline
  (1 view), CTI four-pass, CTI optimised, and the synth-voc preset's optimised step — median of the steps after a
  warm-up, peak RSS (CUDA max-allocated on GPU).

Prints tables and writes bench/results/train_step_vs_official.json (side by side, with the load average: the
machine may be shared) and bench/results/train_step.json (per process).

    .venv/bin/python bench/bench_train_step.py [--steps 5] [--threads N] [--side-by-side-only] [--amps off bf16]
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import time
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
    from cti_nb.step import benchmark_step
    from cti_nb.presets import get_config
    kw = {}
    if case.get('preset'):
        cfg = get_config(case['preset'])
        kw = {k: v for k, v in cfg.model_kwargs(12).items() if k not in ('bg_token', 'tokenizer')}
        kw.update(batch_size=cfg.batch_size)
    r = benchmark_step(case['impl'], n_steps=steps, **kw)
    r['peak_rss_mb'] = peak_rss_mb()
    r['cuda_max_allocated_mb'] = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None
    return r


SIDE_BY_SIDE = (('official four-pass, fp32', 'four-pass', 'off'), ('cti_nb optimised, fp32', 'optimised', 'off'),
                ('cti_nb optimised, bf16', 'optimised', 'bf16'))


def side_by_side(steps: int, batch_size: int = 4, amps=('off', 'bf16')) -> list[dict]:
    "Official four-pass vs optimised (fp32, bf16) steps with AdamW on copies of one DeiT-S, interleaved step by step."
    import torch
    from cti_nb.model import CTIModel
    from cti_nb.step import make_step, memory_for, variant_settings
    from cti_nb.trainloop import make_optimizer
    torch.manual_seed(0)
    net0 = CTIModel(num_classes=20, drop_path=0.1).train()
    s = variant_settings('cti')
    x1, x2 = torch.randn(batch_size, 3, 224, 224), torch.randn(batch_size, 3, 224, 224)
    y = torch.zeros(batch_size, 20); y[torch.arange(batch_size), torch.arange(batch_size) % 20] = 1
    runs = []
    for name, impl, amp in SIDE_BY_SIDE:
        if impl != 'four-pass' and amp not in amps: continue
        net = copy.deepcopy(net0)
        mem = memory_for(net, s)
        mem.lists = [torch.randn(s.memory_size, mem.dim, generator=torch.Generator().manual_seed(c))
                     for c in range(mem.num_classes)]                     # full memory: the cross pass runs
        opt = make_optimizer(net, 5e-4 * batch_size / 512)                 # the official lr rule
        runs.append((name, impl, amp, make_step(net, s, impl, mem, amp=amp, optimizer=opt)))
    times, cpu, losses = ({name: [] for name, *_ in runs} for _ in range(3))
    for i in range(steps + 1):                                              # step 0: warm-up
        for name, impl, amp, run in runs:
            t0, c0 = time.perf_counter(), time.process_time()
            out = run(x1, x2, y)
            dt, dc = time.perf_counter() - t0, time.process_time() - c0
            losses[name].append(float(out['loss'].detach()))
            if i: times[name].append(dt); cpu[name].append(dc)
            print(f"  {'step ' + str(i) if i else 'warm-up'}: {name}: {dt:.2f} s wall, {dc:.2f} s CPU", flush=True)
    med = lambda d, name: statistics.median(d[name])
    first = runs[0][0]
    return [{'case': name, 'impl': impl, 'amp': amp, 'optimizer': 'adamw', 'median_s': med(times, name),
             'times': times[name], 'vs_official': med(times, name) / med(times, first),
             'median_cpu_s': med(cpu, name), 'cpu_times': cpu[name], 'cpu_vs_official': med(cpu, name) / med(cpu, first),
             'losses': losses[name], 'batch_size': batch_size, 'img_size': 224, 'threads': torch.get_num_threads()}
            for name, impl, amp, _ in runs]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--steps', type=int, default=5)
    p.add_argument('--threads', type=int, default=None, help='torch threads (default: torch default)')
    p.add_argument('--side-by-side-only', action='store_true', help='skip the per-process cases')
    p.add_argument('--amps', nargs='+', default=['off', 'bf16'], choices=['off', 'bf16'],
                   help='precisions of the optimised step side by side with the official one (default: off bf16)')
    p.add_argument('--one', default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.one:
        print('RESULT ' + json.dumps(one(CASES[a.one], a.steps, a.threads)))
        return
    import torch
    if a.threads: torch.set_num_threads(a.threads)
    load_before = os.getloadavg()
    sbs = side_by_side(a.steps, amps=tuple(a.amps))
    print(table(sbs, ['case', 'median_s', 'vs_official', 'median_cpu_s', 'cpu_vs_official', 'threads']))
    payload = {'side_by_side': sbs, 'cpu_capability': torch.backends.cpu.get_cpu_capability()}
    for r in sbs[1:]:                                       # targets: fp32 <= 0.70x, bf16 <= 0.50x
        tag = 'fp32' if r['amp'] == 'off' else r['amp']
        target = 0.70 if r['amp'] == 'off' else 0.50
        payload.update({f'{tag}_vs_official': r['vs_official'], f'{tag}_cpu_vs_official': r['cpu_vs_official'],
                        f'{tag}_target_met': r['vs_official'] <= target})
        print(f"optimised {tag} / official, AdamW included: {r['vs_official']:.2f}x wall-clock, "
              f"{r['cpu_vs_official']:.2f}x CPU time (target <= {target:.2f}: "
              f"{'met' if r['vs_official'] <= target else 'not met'})")
    payload['load_average'] = {'before': load_before, 'after': os.getloadavg()}
    print('load average (1, 5, 15 min) before', load_before, 'after', payload['load_average']['after'])
    print('wrote', write_result('train_step_vs_official', payload))
    if a.side_by_side_only: return
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
