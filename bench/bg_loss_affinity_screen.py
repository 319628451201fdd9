"""Mechanism screen: does CTI's background token flip because the BG loss is satisfied through the patch affinity?

First-epoch screen on the `full` profile's synth-voc (1,200 train images, 75 steps an epoch at batch 16): CTI with the
paper's VOC setting (weights 0.1 / 1 / 1, no warm-up, infusion after block 3), stopped after its first epoch, once with
the BG loss computed as `models/model_CTI.py` does (maps refined by the patch affinity of every block: `official`) and
once on unrefined maps (`--set bg_affinity=identity`, a diagnostic switch, not a method). Per run: the background
CAM's precision and recall on the true background under both CAM recipes (refined = the official seed recipe;
unrefined = no affinity), and the last logged classification loss. A run counts as flipped when its unrefined
background precision is below 0.9 (the study's criterion). Extra arms (`--arm NAME=KEY=VALUE,...`) test other
settings, e.g. the optimiser.

    .venv/bin/python bench/bg_loss_affinity_screen.py [--seeds 0 1 ... 8] [--steps 75] [--jobs 2]
        [--arm identity=bg_affinity=identity] [--work runs/screens/bg-affinity] [--out bench/results/...json]

Each training runs with one thread (`OMP_NUM_THREADS=1`), `--jobs` at a time; finished runs are reused.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import save_record  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ARMS = ('official=', 'identity=bg_affinity=identity')


def train_commands(root: Path, work: Path, arms: dict, seeds, steps: int) -> list[tuple[Path, list[str]]]:
    "(run folder, `cti-nb train` command) of every arm and seed not finished yet."
    todo = []
    for arm, sets in arms.items():
        for s in seeds:
            run = work / arm / f'cti-s{s}'
            if (run / 'checkpoints' / 'last.pth').is_file() and (run / 'screen.done').is_file(): continue
            cmd = [str(Path(sys.executable).parent / 'cti-nb'), 'train', '--preset', 'synth-voc', '--data-root',
                   str(root), '--out', str(run), '--variant', 'cti', '--seed', str(s), '--no-progress',
                   '--set', f'stop_after_steps={steps}'] + [a for kv in sets for a in ('--set', kv)]
            if (run / 'checkpoints' / 'last.pth').is_file(): cmd.append('--resume')   # an interrupted screen run
            todo.append((run, cmd))
    return todo


def run_all(todo, jobs: int) -> None:
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'MKL_NUM_THREADS': '1'}
    active = []
    while todo or active:
        while todo and len(active) < jobs:
            run, cmd = todo.pop(0)
            run.mkdir(parents=True, exist_ok=True)
            print('$', ' '.join(cmd), flush=True)
            log = open(run / 'train.log', 'w')
            active.append((subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env), run, log))
        time.sleep(2)
        for item in list(active):
            proc, run, log = item
            if proc.poll() is None: continue
            log.close(); active.remove(item)
            if proc.returncode: raise SystemExit(f'{run}: training failed (exit {proc.returncode}); see {run}/train.log')
            (run / 'screen.done').write_text('ok\n')
            print(f'finished {run}', flush=True)


def last_cls_loss(run: Path, n: int = 10) -> float | None:
    "The mean classification loss of the last `n` step lines of the run's log.jsonl."
    from cti_nb.runs import read_log
    steps = [r['loss_cls'] for r in read_log(run)[0] if 'loss_cls' in r]
    return round(float(np.mean(steps[-n:])), 4) if steps else None


def measure(run: Path, x, y, gt_of) -> dict:
    from cti_nb.regime import background_cam_precision
    from cti_nb.runs import load_run
    net = load_run(run, checkpoint='last')
    gt = gt_of(net.patch_size)
    with torch.no_grad():
        out = {name: background_cam_precision(net.cam(x, affinity_layers=k), y, gt)
               for name, k in (('refined', None), ('unrefined', 0))}
    return {'bg_precision_refined': out['refined']['precision'], 'bg_recall_refined': out['refined']['recall'],
            'bg_precision_unrefined': out['unrefined']['precision'],
            'bg_recall_unrefined': out['unrefined']['recall'], 'cls_loss': last_cls_loss(run)}


def main(argv=None) -> int:
    from cti_nb.core import env_info
    from cti_nb.figdata import figure_samples
    from cti_nb.profiles import get_profile
    from cti_nb.regime import patch_labels
    from cti_nb.reproduce import stage_data
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--seeds', type=int, nargs='*', default=list(range(9)))
    p.add_argument('--steps', type=int, default=75, help='optimiser steps (75 = one epoch of the full synth-voc)')
    p.add_argument('--jobs', type=int, default=2)
    p.add_argument('--arm', nargs='*', default=list(DEFAULT_ARMS), metavar='NAME=KEY=VALUE,...')
    p.add_argument('--data-work', default=str(ROOT / 'runs' / 'reproduce'), help="the full profile's work folder")
    p.add_argument('--work', default=str(ROOT / 'runs' / 'screens' / 'bg-affinity'))
    p.add_argument('--n-images', type=int, default=64)
    p.add_argument('--out', default=str(ROOT / 'bench' / 'results' / 'bg_loss_affinity_screen.json'))
    a = p.parse_args(argv)
    arms = {name: [kv for kv in rest.split(',') if kv] for name, _, rest in (arm.partition('=') for arm in a.arm)}
    t0 = time.perf_counter()
    full = get_profile('full')
    root = Path(stage_data(full.override(coco_variants=()), Path(a.data_work) / 'full', False)['synth-voc'])
    run_all(train_commands(root, Path(a.work), arms, a.seeds, a.steps), a.jobs)
    torch.set_num_threads(1)
    s = figure_samples(root, 'val', n=a.n_images)
    x, y, masks = torch.stack(s['tensors']), torch.as_tensor(s['labels']).float(), np.stack(s['gts'])
    gts = {}
    gt_of = lambda ps: gts.setdefault(ps, patch_labels(masks, ps))
    rows = {arm: {str(sd): measure(Path(a.work) / arm / f'cti-s{sd}', x, y, gt_of) for sd in a.seeds} for arm in arms}
    summary = {}
    for arm, by_seed in rows.items():
        pu = [r['bg_precision_unrefined'] or 0.0 for r in by_seed.values()]
        flipped = [sd for sd, r in by_seed.items() if (r['bg_precision_unrefined'] or 0.0) < 0.9]
        summary[arm] = {'flipped': f'{len(flipped)} of {len(by_seed)}', 'flipped_seeds': flipped,
                        'bg_precision_unrefined_mean': round(float(np.mean(pu)), 3),
                        'cls_loss_mean': round(float(np.mean([r['cls_loss'] for r in by_seed.values()])), 4)}
    print('| arm | seed | bg precision, unrefined | bg precision, refined | cls loss |\n|---|---|---|---|---|')
    for arm, by_seed in rows.items():
        for sd, r in by_seed.items():
            f = lambda v: '—' if v is None else f'{v:.2f}'
            print(f"| {arm} | {sd} | {f(r['bg_precision_unrefined'])} | {f(r['bg_precision_refined'])} | "
                  f"{r['cls_loss']} |")
    for arm, sm in summary.items(): print(f"{arm}: flipped {sm['flipped']} (seeds {sm['flipped_seeds']})")
    save_record({'what': __doc__.splitlines()[0], 'command': ' '.join(['python', 'bench/bg_loss_affinity_screen.py']
                                                                      + (argv or sys.argv[1:])),
               'arms': arms, 'steps': a.steps, 'seeds': a.seeds, 'data_root': str(root), 'n_images': a.n_images,
               'flip_criterion': 'unrefined background precision < 0.9', 'runs': rows, 'summary': summary,
               'wall_clock_s': round(time.perf_counter() - t0, 1), 'threads_per_training': 1,
               'environment': env_info(), 'note': 'synthetic benchmark (synth-voc), not VOC'}, a.out)
    print(f'wrote {a.out}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
