"""Content or position: how much of the patch-affinity refinement does the image itself decide?

The official CAM refines each image's fused CAM by that image's patch affinity (the patch-to-patch attention summed
over all blocks, `CTINet.cam`). Averaging that affinity over the images gives its content-free part: where each
patch attends on average, i.e. position. This scores the seed CAMs of trained runs three ways on the same images, as
`cti-nb evaluate` does (best threshold of 0.05:0.95:0.01):

- unrefined (`affinity_layers=0`);
- refined by each image's own affinity (the official recipe);
- refined by the mean affinity of these images (position alone).

If the official refinement scores no better than the mean affinity, what it adds is a positional blur, not grouping by
content. It also reads the affinity label agreement (`cti_nb.regime.affinity_label_agreement`, chance 1) of both.

    .venv/bin/python bench/refinement_content.py --data-root runs/reproduce/full/data/synth-voc \\
        --runs runs/reproduce/full/runs/synth-voc/baseline-s0 runs/reproduce/full/runs/synth-voc/cti-s0

Writes bench/results/refinement_content.json. Synthetic benchmark.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent


class FixedAffinity(torch.nn.Module):
    "A trained network whose `cam` refines by one fixed (N, N) patch affinity, or not at all (None)."
    def __init__(self, net, affinity: torch.Tensor | None):
        super().__init__()
        self.net, self.affinity = net, affinity

    def cam(self, x, n_layers=None, affinity_layers=None):
        fused = self.net.cam(x, n_layers=n_layers, affinity_layers=0)
        if self.affinity is None: return fused
        B, P, h, w = fused.shape
        # $\mathrm{cam}_{c,i} = \sum_j \bar A_{ij}\, \mathrm{fused}_{c,j}$, the same $\bar A$ for every image
        return torch.einsum('ij,bpj->bpi', self.affinity, fused.flatten(2)).reshape(B, P, h, w)


@torch.no_grad()
def image_affinities(net, ds, n: int, batch: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """The official refinement affinity of each of the first n images (n, N, N), and its mean (N, N) over them and
    their mirror images (seed CAMs refine both)."""
    from cti_nb.data import InferenceDataset
    inf, own, total = InferenceDataset(ds), [], 0
    for lo in range(0, n, batch):
        x = torch.stack([inf[i][0] for i in range(lo, min(n, lo + batch))])
        for mirrored, v in enumerate((x, x.flip(-1))):
            st = net.forward_prefix(v, net.depth - 1)
            aff = net.forward_suffix(st, None, net.cam_layers or net.depth, infuse_after=None).patch_affinity
            total = total + aff.sum(0)
            if not mirrored: own.append(aff)
    return torch.cat(own), total / (2 * n)


def score(net, ds, n: int, thresholds: str) -> dict:
    from cti_nb.cam import evaluate_seeds
    r = evaluate_seeds(net, ds, thresholds, max_images=n, split='train')
    return {'mIoU': round(r['mIoU'], 2), 'threshold': r['label'].get('threshold')}


def main(argv=None) -> int:
    from cti_nb.core import env_info, portable_paths, save_json
    from cti_nb.data import InferenceDataset, load_dataset
    from cti_nb.regime import affinity_label_agreement, patch_labels
    from cti_nb.runs import load_run
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--data-root', default=str(ROOT / 'runs' / 'reproduce' / 'full' / 'data' / 'synth-voc'))
    p.add_argument('--runs', nargs='+', required=True, help='training runs (cti-nb train --out folders)')
    p.add_argument('--n-images', type=int, default=400, help="train images (the full study's seed evaluation: 400)")
    p.add_argument('--thresholds', default='0.05:0.95:0.01')
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--out', default=str(ROOT / 'bench' / 'results' / 'refinement_content.json'))
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    ds, t0, rows = load_dataset(a.data_root, 'train'), time.perf_counter(), {}
    n = min(a.n_images, len(ds))
    for run in a.runs:
        net = load_run(run).eval()
        own_aff, mean_aff = image_affinities(net, ds, n)
        with torch.no_grad():   # the own affinity, applied as the mean one is, gives the official CAM back
            x = torch.stack([InferenceDataset(ds)[i][0] for i in range(4)])
            same = FixedAffinity(net, None).cam(x).flatten(2) @ own_aff[:4].transpose(1, 2)
            assert torch.allclose(same.reshape(net.cam(x).shape), net.cam(x), atol=1e-5), run
        gt = patch_labels(np.stack([ds.mask(i) for i in range(n)]), net.patch_size)
        own_agree = affinity_label_agreement(own_aff, gt)
        mean_agree = affinity_label_agreement(mean_aff.expand(n, -1, -1), gt)
        rows[str(run)] = {
            'seed_mIoU': {'unrefined': score(FixedAffinity(net, None), ds, n, a.thresholds),
                          'official (own affinity)': score(net, ds, n, a.thresholds),
                          'mean affinity (position)': score(FixedAffinity(net, mean_aff), ds, n, a.thresholds)},
            'affinity_label_agreement': {'own': own_agree, 'mean': mean_agree}}
        r = rows[str(run)]
        print(f"{run}: seed mIoU unrefined {r['seed_mIoU']['unrefined']['mIoU']}, official "
              f"{r['seed_mIoU']['official (own affinity)']['mIoU']}, mean affinity "
              f"{r['seed_mIoU']['mean affinity (position)']['mIoU']}; agreement fg/bg own "
              f"{own_agree['foreground']:.2f}/{own_agree['background']:.2f}, mean "
              f"{mean_agree['foreground']:.2f}/{mean_agree['background']:.2f}", flush=True)
    save_json(portable_paths({'what': __doc__.splitlines()[0], 'command': ' '.join(['python', 'bench/refinement_content.py']
                                                                                   + (argv or __import__('sys').argv[1:])),
                              'data_root': a.data_root, 'n_images': n, 'thresholds': a.thresholds, 'runs': rows,
                              'wall_clock_s': round(time.perf_counter() - t0, 1), 'threads': a.threads,
                              'environment': env_info(), 'note': 'synthetic benchmark (synth-voc), not VOC'}), a.out)
    print(f'wrote {a.out}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
