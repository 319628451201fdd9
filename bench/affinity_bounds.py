"""Affinity label agreement bounds: what attention that ignores content scores on synth-voc val.

The backbone gates ask for agreement >= 2 (foreground) and >= 1 (background) (`cti_nb.regime.BACKBONE_GATES`). With
most patches background, background agreement has a low ceiling: this prints it for attention to the patch itself
only, and for the purely positional maps of ConViT's locality prior (`cti_nb.blocks.LocalPrior`) at a few
strengths, on the same 64 val images `backbone_card` reads.

    .venv/bin/python bench/affinity_bounds.py [--data-root runs/reproduce/full/data/synth-voc]

Writes bench/results/affinity_bounds.json.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent


def main(argv=None) -> int:
    from cti_nb.blocks import LocalPrior
    from cti_nb.core import env_info, save_json
    from cti_nb.figdata import figure_samples
    from cti_nb.regime import affinity_label_agreement, patch_labels
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--data-root', default=str(ROOT / 'runs' / 'reproduce' / 'full' / 'data' / 'synth-voc'))
    p.add_argument('--n-images', type=int, default=64)
    p.add_argument('--out', default=str(ROOT / 'bench' / 'results' / 'affinity_bounds.json'))
    a = p.parse_args(argv)
    s = figure_samples(a.data_root, 'val', n=a.n_images)
    gt = patch_labels(np.stack(s['gts']), 8)
    B, N = gt.shape
    grid = (int(round(N ** 0.5)),) * 2
    rows = {'self only': affinity_label_agreement(torch.eye(N).expand(B, N, N), gt)}
    for alpha in (0.5, 1.0, 2.0):
        with torch.no_grad(): pos = LocalPrior(1, strength=alpha).positional(grid)[0]
        rows[f'positional only, strength {alpha}'] = affinity_label_agreement(pos.expand(B, N, N), gt)
    fractions = {'background': float((gt == 0).mean()), 'foreground': float(((gt > 0) & (gt != 255)).mean()),
                 'ignored': float((gt == 255).mean())}
    print(f"patch fractions: {', '.join(f'{k} {v:.3f}' for k, v in fractions.items())}")
    for k, r in rows.items(): print(f"{k}: foreground {r['foreground']:.2f}, background {r['background']:.2f}")
    save_json({'what': __doc__.splitlines()[0], 'command': 'python bench/affinity_bounds.py', 'data_root': str(Path(a.data_root).resolve().relative_to(ROOT)) if Path(a.data_root).resolve().is_relative_to(ROOT) else a.data_root,
               'n_images': B, 'patch_fractions': fractions, 'agreement': rows, 'environment': env_info(),
               'note': 'synthetic benchmark (synth-voc val)'}, a.out)
    print(f'wrote {a.out}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
