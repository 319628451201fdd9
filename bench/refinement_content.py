"""Content or position: how much of the patch-affinity refinement does the image itself decide?

The official CAM refines each image's fused CAM by that image's patch affinity (the patch-to-patch attention summed
over all blocks, `CTINet.cam`). Averaging that affinity over the images gives its content-free part: where each
patch attends on average, i.e. position. This scores the seed CAMs of trained runs three ways (five with
`--borrow-backbone-affinity`) on the same images, as
`cti-nb evaluate` does (best threshold of 0.05:0.95:0.01):

- unrefined (`affinity_layers=0`);
- refined by each image's own affinity (the official recipe);
- refined by the mean affinity of these images (position alone);
- with `--borrow-backbone-affinity`, refined by the affinity of the run's backbone as fine-tuning started (its
  `init` mapped by `backbone_net`) on each image, summed over all blocks (as the official seed CAM sums its own) and
  over blocks 4-11: the grouping the backbone brought, before the fine-tune changed it.

If the official refinement scores no better than the mean affinity, what it adds is a positional blur, not grouping by
content. It also reads each run's affinity label agreement (`cti_nb.regime.affinity_label_agreement`, chance 1) and
its position-alone part (`positional_agreement`), and the same for the shipped backbones before fine-tuning
(mapped as `backbone_card` maps them, on its 64 val images), each also for the attention's content part alone where
a locality prior mixes position in (`without_prior`), and records each run's backbone, settings and commit.

    .venv/bin/python bench/refinement_content.py --data-root runs/reproduce/full/data/synth-voc \\
        --runs runs/reproduce/full/runs/synth-voc/baseline-s0 runs/reproduce/full/runs/synth-voc/cti-s0

Writes bench/results/refinement_content.json. Synthetic benchmark.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import save_record  # noqa: E402

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


class BorrowedAffinity(torch.nn.Module):
    """A trained network whose `cam` refines each image by another network's patch affinity on that image: here its
    backbone as fine-tuning started (`backbone_net`), i.e. the grouping the backbone brought before the fine-tune
    changed it. `layers`: the affinity of all blocks (None, as the official seed CAM refines) or of the last k."""
    def __init__(self, net, donor, layers: int | None = None):
        super().__init__()
        self.net, self.donor, self.layers = net, donor.eval(), layers

    def cam(self, x, n_layers=None, affinity_layers=None):
        fused = self.net.cam(x, n_layers=n_layers, affinity_layers=0)
        A, P = self.donor.forward_prefix(x, self.donor.depth - 1).attentions, self.donor.num_tokens
        aff = sum(a[:, P:, P:] for a in (A if self.layers is None else A[-self.layers:]))
        B, C, h, w = fused.shape
        # $\mathrm{cam}_{c,i} = \sum_j A^{\text{backbone}}_{ij}\, \mathrm{fused}_{c,j}$, per image
        return torch.einsum('bij,bpj->bpi', aff, fused.flatten(2)).reshape(B, C, h, w)


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


def without_prior(net):
    "A copy of `net` whose locality priors weigh 0 (sigmoid(gate) = 0): the attention's content part alone."
    import copy
    net = copy.deepcopy(net)
    for block in net.blocks:
        if getattr(block.attn, 'local', None) is not None: block.attn.local.gating.data.fill_(-1e4)
    return net


def affinity_parts(net, samples) -> dict:
    """Agreement and its position-alone part over blocks 4-11 of `net`, and of its attention's content part alone
    where it has a locality prior (`cti_nb.blocks.LocalPrior` mixes sigmoid(gate) of position into every patch row)."""
    from cti_nb.regime import affinity_card
    x, masks = torch.stack(samples['tensors']), np.stack(samples['gts'])
    rng = f'blocks 4-{net.depth - 1}'
    parts = {'mixed': affinity_card(net, x, masks, 3)}
    gates = [float(b.attn.local.gating.detach().sigmoid().mean()) for b in net.blocks if getattr(b.attn, 'local', None) is not None]
    if gates: parts['content part alone'] = affinity_card(without_prior(net), x, masks, 3)
    out = {k: {'own': c[rng], 'position': c['position'][rng]} for k, c in parts.items()}
    return {'blocks': rng, 'prior_weight_mean': round(sum(gates) / len(gates), 3) if gates else None, **out}


def score(net, ds, n: int, thresholds: str) -> dict:
    from cti_nb.cam import evaluate_seeds
    r = evaluate_seeds(net, ds, thresholds, max_images=n, split='train')
    return {'mIoU': round(r['mIoU'], 2), 'threshold': r['label'].get('threshold')}


def run_row(run, ds, n: int, thresholds: str, samples: dict, borrow: bool = False) -> dict:
    """A trained run's seed mIoU under the three refinements (five with `borrow`: its backbone's affinity over all
    blocks and over the blocks after the infusion point), its affinity's agreement and position, and its recipe."""
    from cti_nb.data import InferenceDataset
    from cti_nb.regime import affinity_label_agreement, backbone_net, patch_labels, positional_agreement
    from cti_nb.runs import load_run
    net = load_run(run).eval()
    own_aff, mean_aff = image_affinities(net, ds, n)
    with torch.no_grad():   # each image's own affinity, applied as the mean one is, gives the official CAM back
        x = torch.stack([InferenceDataset(ds)[i][0] for i in range(4)])
        same = FixedAffinity(net, None).cam(x).flatten(2) @ own_aff[:4].transpose(1, 2)
        assert torch.allclose(same.reshape(net.cam(x).shape), net.cam(x), atol=1e-5), run
    gt = patch_labels(np.stack([ds.mask(i) for i in range(n)]), net.patch_size)
    cfg = json.loads((Path(run) / 'config.json').read_text())
    borrowed = {}
    if borrow and cfg.get('init'):
        with torch.no_grad():   # a network's own affinity, borrowed, gives its official CAM back
            assert torch.allclose(BorrowedAffinity(net, net).cam(x), net.cam(x), atol=1e-5), run
        donor = backbone_net(cfg['init'], net.model_kwargs['num_classes'], cfg.get('preset', 'synth-voc'))[0]
        after = net.depth - 1 - cfg['infuse_after']   # blocks 4-11 of 12: the range the training BG loss refines with
        borrowed = {"backbone affinity, all blocks (before fine-tuning)": score(BorrowedAffinity(net, donor), ds, n, thresholds),
                    f"backbone affinity, blocks {cfg['infuse_after'] + 1}-{net.depth - 1} (before fine-tuning)":
                        score(BorrowedAffinity(net, donor, after), ds, n, thresholds)}
    return {'run': str(run), **{k: cfg.get(k) for k in ('variant', 'seed', 'init', 'local_blocks', 'lr', 'epochs')},
            'trained_at_commit': cfg.get('env', {}).get('git_commit'),
            'seed_mIoU': {'unrefined': score(FixedAffinity(net, None), ds, n, thresholds),
                          'official (own affinity)': score(net, ds, n, thresholds),
                          'mean affinity (position)': score(FixedAffinity(net, mean_aff), ds, n, thresholds),
                          **borrowed},
            'affinity_label_agreement': {'own': affinity_label_agreement(own_aff, gt),
                                         'position': positional_agreement(own_aff, gt)},
            'val_affinity_parts': affinity_parts(net, samples)}


def main(argv=None) -> int:
    from cti_nb.core import env_info
    from cti_nb.data import load_dataset
    from cti_nb.figdata import figure_samples
    from cti_nb.regime import backbone_net
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--data-root', default=str(ROOT / 'runs' / 'reproduce' / 'full' / 'data' / 'synth-voc'))
    p.add_argument('--runs', nargs='*', default=[], help='training runs (cti-nb train --out folders)')
    p.add_argument('--backbones', nargs='*', default=['synth-in', 'synth-in-local'],
                   help="backbones carded before fine-tuning (backbone_card: 64 val images), own affinity and position")
    p.add_argument('--n-images', type=int, default=400, help="train images (the full study's seed evaluation: 400)")
    p.add_argument('--thresholds', default='0.05:0.95:0.01')
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--borrow-backbone-affinity', action='store_true',
                   help="also refine each run's CAMs by its backbone's affinity as fine-tuning started (its init)")
    p.add_argument('--out', default=str(ROOT / 'bench' / 'results' / 'refinement_content.json'))
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    ds, t0 = load_dataset(a.data_root, 'train'), time.perf_counter()
    n = min(a.n_images, len(ds))
    f2 = lambda d: f"{d['foreground']:.2f} / {d['background']:.2f}"
    samples, backbones = figure_samples(a.data_root, 'val', n=64), {}   # backbone_card's 64 val images
    for name in a.backbones:   # mapped into MCTformer-V2 as fine-tuning starts (as backbone_card does)
        backbones[name] = b = affinity_parts(backbone_net(name, len(samples['labels'][0]))[0], samples)
        print(f"{name}: agreement fg / bg over {b['blocks']} {f2(b['mixed']['own'])}, position alone "
              f"{f2(b['mixed']['position'])}" + (f"; content part alone {f2(b['content part alone']['own'])} (prior "
              f"weight {b['prior_weight_mean']})" if 'content part alone' in b else ''), flush=True)
    rows = []
    for run in a.runs:
        r = run_row(run, ds, n, a.thresholds, samples, a.borrow_backbone_affinity)
        rows.append(r)
        m, g, parts = r['seed_mIoU'], r['affinity_label_agreement'], r['val_affinity_parts']
        line = f"{run}: seed mIoU " + ', '.join(f"{k} {v['mIoU']}" for k, v in m.items())
        line += f"; agreement fg / bg {f2(g['own'])}, position alone {f2(g['position'])}"
        if 'content part alone' in parts: line += f"; val, content part alone {f2(parts['content part alone']['own'])}"
        print(line, flush=True)
    save_record({'what': __doc__.splitlines()[0], 'command': ' '.join(['python', 'bench/refinement_content.py']
                                                                       + (argv or sys.argv[1:])),
                 'data_root': a.data_root, 'n_images': n, 'thresholds': a.thresholds, 'backbones': backbones,
                 'runs': rows, 'wall_clock_s': round(time.perf_counter() - t0, 1), 'threads': a.threads,
                 'environment': env_info(), 'note': 'synthetic benchmark (synth-voc), not VOC'}, a.out)
    print(f'wrote {a.out}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
