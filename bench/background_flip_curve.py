"""When does the background token's CAM flip? Per epoch checkpoint of training runs, the precision and recall on the
true background of the patches where the unrefined background CAM wins (`cti_nb.regime.background_cam_precision`,
the regime card's `background_cam`), on the first 64 val images of the runs' dataset.

    .venv/bin/python bench/background_flip_curve.py --data-root runs/reproduce/full/data/synth-voc \\
        runs/reproduce/full/runs/synth-voc/cti-s0 runs/reproduce/full/runs/synth-voc/cti-s1 ...

Needs runs trained with epoch checkpoints kept (the reproduce profiles keep them); `--last` reads only each run's
`checkpoints/last.pth` (e.g. runs stopped after their first epoch with `--set stop_after_steps=N`). Writes
`bench/results/background_flip_curve.json` (or `--out`)."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from cti_nb.core import env_info, save_json
from cti_nb.figdata import figure_samples
from cti_nb.regime import background_cam_precision, patch_labels
from cti_nb.runs import load_run


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('runs', nargs='+', help='training run directories with checkpoints/epoch_*.pth')
    p.add_argument('--data-root', required=True)
    p.add_argument('--n-images', type=int, default=64)
    p.add_argument('--last', action='store_true', help="only checkpoints/last.pth of each run")
    p.add_argument('--out', default=str(Path(__file__).parent / 'results' / 'background_flip_curve.json'))
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    s = figure_samples(a.data_root, 'val', n=a.n_images)
    x, y, masks = torch.stack(s['tensors']), torch.as_tensor(s['labels']).float(), np.stack(s['gts'])
    curves, gt_at = {}, {}   # the patch labels per patch size, computed once
    for run in a.runs:
        rows = []
        folder = Path(run) / 'checkpoints'
        cks = [folder / 'last.pth'] if a.last else sorted(folder.glob('epoch_*.pth'))
        for ck in cks:
            net = load_run(run, checkpoint=ck.stem)
            if net.patch_size not in gt_at: gt_at[net.patch_size] = patch_labels(masks, net.patch_size)
            gt = gt_at[net.patch_size]
            with torch.no_grad(): r = background_cam_precision(net.cam(x, affinity_layers=0), y, gt)
            rows.append({'epoch': 'last' if a.last else int(ck.stem.split('_')[1]) + 1, **r})
        curves[str(run)] = rows
        print(run, ' '.join(f"{r['epoch']}:{r['precision'] or 0:.2f}/{r['recall'] or 0:.2f}" for r in rows), flush=True)
    save_json({'what': __doc__.splitlines()[0], 'data_root': a.data_root, 'n_images': a.n_images, 'curves': curves,
               'environment': env_info()}, a.out)
    print(f'wrote {a.out}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
