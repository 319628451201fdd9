"""synth-coco at the `full` profile's size: which lever lets both networks pass the full training gates (val mAP
>= 0.90, final classification loss <= 0.35 of the label prior)? Generates synth-coco (all 40 classes, data seed 0) with
`--n-train` training images, fine-tunes MCTformer-V2 and CTI from the shipped backbone with their presets (`--epochs`
overrides both schedules), the two at once with one thread each, and scores every epoch's checkpoint (val mAP of the
class-token logits) and the final run (`cti_nb.study.classifier_report`). Each configuration is added to
bench/results/coco_full_screen.json under its label; finished runs are reused. Synthetic benchmark, one seed: a screen.

    .venv/bin/python bench/coco_full_screen.py --n-train 3000 --epochs 24     # about 80 min on 2 cores (CTI's run)
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine, write_result  # noqa: E402

GATES = {'val_mAP': 0.90, 'cls_loss_ratio': 0.35}
CLI = str(Path(sys.executable).parent / 'cti-nb')


def epoch_maps(run: Path, data: Path) -> list[float]:
    "Val mAP of the class-token logits of each checkpoints/epoch_XXX.pth, in epoch order."
    from cti_nb.data import load_dataset
    from cti_nb.runs import load_run
    from cti_nb.study import class_token_mAP
    val = load_dataset(data, 'val')
    return [round(class_token_mAP(load_run(run, checkpoint=ckpt.stem), val), 4)
            for ckpt in sorted((run / 'checkpoints').glob('epoch_*.pth'))]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--n-train', type=int, default=1200, help="training images (full's: 1200)")
    p.add_argument('--n-val', type=int, default=200)
    p.add_argument('--epochs', type=int, default=0, help="fine-tune epochs of both networks (0: each preset's)")
    p.add_argument('--seed', type=int, default=0, help='training seed (the data seed is 0, as in full)')
    p.add_argument('--variants', nargs='+', default=['baseline', 'cti'])
    p.add_argument('--work', default='runs/coco-lever')
    a = p.parse_args(argv)
    from cti_nb.presets import preset_settings
    from cti_nb.study import classifier_report
    work = Path(a.work)
    data = work / f'data-n{a.n_train}'
    if not (data / 'synth_card.json').is_file():
        subprocess.run([CLI, 'synth', '--kind', 'synth-coco', '--seed', '0', '--n-train', str(a.n_train),
                        '--n-val', str(a.n_val), '--size', '80', '--out', str(data)], check=True)
    label = f'n{a.n_train}-' + (f'e{a.epochs}' if a.epochs else 'presets') + (f'-s{a.seed}' if a.seed else '')
    runs, procs = {}, []
    for v in a.variants:
        runs[v] = run = work / f'{v}-{label}'
        if (run / 'model.pth').is_file(): continue
        cmd = [CLI, 'train', '--preset', 'synth-coco', '--data-root', str(data), '--out', str(run), '--variant', v,
               '--seed', str(a.seed), '--no-progress', '--resume', '--set', 'keep_epoch_checkpoints=True']
        if a.epochs: cmd += ['--set', f'epochs={a.epochs}']
        with open(work / f'{v}-{label}.log', 'a') as log:   # the child keeps its own handle
            procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                          env={**os.environ, 'OMP_NUM_THREADS': '1'}))
    if any(pr.wait() for pr in procs): print('a training run failed: see its log in', work, file=sys.stderr); return 1
    out = {}
    for v, run in runs.items():
        rep = classifier_report(run, data)
        pre = preset_settings('synth-coco', v)
        out[v] = {'command': ' '.join(['python'] + sys.argv), 'run': str(run), 'epochs': a.epochs or pre['epochs'],
                  'lr': pre['lr'], 'val_mAP_per_epoch': epoch_maps(run, data), **rep,
                  'gates_passed': rep['val_mAP'] >= GATES['val_mAP']
                                  and rep['cls_loss_ratio'] <= GATES['cls_loss_ratio']}
        print(f"{label} {v}: val mAP {rep['val_mAP']:.3f}, loss ratio {rep['cls_loss_ratio']:.3f}, "
              f"gates {'pass' if out[v]['gates_passed'] else 'fail'}")
    path = RESULTS / 'coco_full_screen.json'
    prev = json.loads(path.read_text()) if path.is_file() else {}
    before = prev.get('configs', {}).get(label, {}).get('runs', {})     # variants screened by an earlier call
    configs = {**prev.get('configs', {}), label: {'n_train': a.n_train, 'n_val': a.n_val, 'seed': a.seed,
                                                  'machine': machine(), 'runs': {**before, **out}}}
    write_result('coco_full_screen', {'what': prev.get('what', __doc__.split('\n\n')[0].replace('\n', ' ')),
                                      'gates': GATES, 'configs': configs, 'reading': prev.get('reading', '')})
    return 0


if __name__ == '__main__':
    sys.exit(main())
