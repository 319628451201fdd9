"""How many epochs and which learning rate the `quick` profile's synth-voc fine-tunes get: each trial trains one
network from the shipped backbone on the quick profile's data (600 train / 120 val synth-voc images, seed 0, 80 px)
and reports the two `quick` gates: val mAP (`cti_nb.study.classifier_report`) and the best no-affinity seed mIoU
over a 0.05..0.94 sweep on the first 200 train ids, as a multiple of the centred-blob predictor.

    python bench/bench_quick_regime.py --trials baseline:8:2e-3 baseline:12:2e-3 cti:12:2e-3 [--jobs 2]

Each trial is `cti-nb train --preset synth-voc --variant V --epochs E --lr LR`, then `cti-nb cams --affinity-layers 0`
and `cti-nb evaluate`; trials run `--jobs` at a time with cores/jobs threads each. Writes
`bench/results/quick_regime.json` (or `--name`.json)."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _common import table, write_result

def _cli(*args, threads: int) -> None:
    env = {**os.environ, 'OMP_NUM_THREADS': str(threads), 'MKL_NUM_THREADS': str(threads)}
    subprocess.run([sys.executable, '-m', 'cti_nb.cli', *map(str, args)], check=True, env=env,
                   stdout=subprocess.DEVNULL)


def trial(spec: str, data: Path, work: Path, eval_list: Path, blob: float, threads: int) -> dict:
    variant, epochs, lr = spec.split(':')
    run = work / f'{variant}-e{epochs}-lr{lr}'
    t0 = time.perf_counter()
    _cli('train', '--preset', 'synth-voc', '--data-root', data, '--out', run, '--variant', variant, '--seed', 0,
         '--epochs', epochs, '--lr', lr, '--no-progress', threads=threads)
    train_s = time.perf_counter() - t0
    _cli('cams', '--run', run, '--data-root', data, '--list', eval_list, '--out', run / 'cams_aff0', '--batch-size',
         16, '--workers', 0, '--quiet', '--affinity-layers', 0, threads=threads)
    _cli('evaluate', '--cams', run / 'cams_aff0', '--gt', data / 'SegmentationClass', '--list', eval_list,
         '--num-classes', 13, '--thresholds', '0.05:0.95:0.01', '--quiet', '--out', run / 'seed_aff0.json',
         threads=threads)
    from cti_nb.study import classifier_report
    seed = json.loads((run / 'seed_aff0.json').read_text())
    return {'trial': spec, 'variant': variant, 'epochs': int(epochs), 'lr': float(lr), 'train_s': round(train_s, 1),
            **classifier_report(run, data), 'seed_mIoU_no_affinity': round(seed['mIoU'], 2),
            'seed_threshold': seed['label']['threshold'], 'seed_vs_blob': round(seed['mIoU'] / blob, 3)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--trials', nargs='+', required=True, help='VARIANT:EPOCHS:LR, e.g. baseline:12:2e-3')
    p.add_argument('--work', default='runs/bench/quick_regime', help='data and runs (default: %(default)s)')
    p.add_argument('--n-train', type=int, default=600)
    p.add_argument('--n-val', type=int, default=120)
    p.add_argument('--eval-images', type=int, default=200)
    p.add_argument('--jobs', type=int, default=2)
    p.add_argument('--name', default='quick_regime', help='result file bench/results/NAME.json')
    a = p.parse_args(argv)
    work = Path(a.work)
    data = work / 'synth-voc'
    if not (data / 'synth_card.json').is_file():
        _cli('synth', '--kind', 'synth-voc', '--out', data, '--seed', 0, '--n-train', a.n_train, '--n-val', a.n_val,
             '--size', 80, threads=os.cpu_count() or 1)
    ids = (data / 'ImageSets' / 'Segmentation' / 'train.txt').read_text().split()[:a.eval_images]
    eval_list = work / 'seed_eval.txt'
    eval_list.write_text('\n'.join(ids) + '\n')
    blob = json.loads((data / 'synth_card.json').read_text())['trivial_mIoU']['centred_blob']
    threads = max(1, (os.cpu_count() or 1) // a.jobs)
    with ThreadPoolExecutor(a.jobs) as pool:
        rows = list(pool.map(lambda s: trial(s, data, work, eval_list, blob, threads), a.trials))
    print(table(rows, ['trial', 'val_mAP', 'cls_loss_ratio', 'seed_mIoU_no_affinity', 'seed_vs_blob', 'train_s']))
    write_result(a.name, {'what': 'quick-profile regime trials on synth-voc (synthetic benchmark, one seed each)',
                          'centred_blob_mIoU': blob, 'trials': rows})
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
