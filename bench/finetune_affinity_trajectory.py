"""How fast does fine-tuning change the patch affinity a backbone brings?

For each training run (kept with `keep_epoch_checkpoints=True`, as every reproduce profile keeps them), this cards the
run's backbone as fine-tuning starts (`cti_nb.regime.backbone_net`) and the network after every epoch
(`checkpoints/epoch_XXX.pth`), on the same 64 val images (`figure_samples`, multi-class images first): affinity label
agreement over blocks 4-11 (`affinity_label_agreement`, chance 1; the background's ceiling on synth-voc is about
1.27) and the same for the affinity averaged over the images (`positional_agreement`: what position alone explains).
Synthetic benchmark.

    .venv/bin/python bench/finetune_affinity_trajectory.py --data-root DIR --runs RUN [RUN ...] [--out JSON]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result  # noqa: E402


def trajectory(run: Path, x, masks) -> dict:
    from cti_nb.core import load_torch
    from cti_nb.regime import affinity_card, backbone_net
    from cti_nb.runs import load_run
    cfg = json.loads((run / 'config.json').read_text())
    rng = f"blocks {cfg['infuse_after'] + 1}-{cfg['depth'] - 1}"
    pick = lambda c: {'own': c[rng], 'position': c['position'][rng]}
    rows = []
    if cfg.get('init'):   # a run from scratch has no backbone to card
        num_classes = json.loads((run / 'model.json').read_text())['kwargs']['num_classes']
        start, _ = backbone_net(cfg['init'], num_classes, cfg['preset'])
        rows.append({'epoch': 0, 'what': f"backbone {cfg['init']}, before fine-tuning",
                     **pick(affinity_card(start, x, masks, cfg['infuse_after']))})
    net = load_run(run)
    for ck in sorted((run / 'checkpoints').glob('epoch_*.pth')):
        state = load_torch(ck)
        net.load_state_dict(state['model'] if 'model' in state else state)
        rows.append({'epoch': int(ck.stem.split('_')[1]) + 1, 'what': ck.name,
                     **pick(affinity_card(net, x, masks, cfg['infuse_after']))})
    keys = ('variant', 'init', 'lr', 'epochs', 'seed', 'cls_logits', 'freeze_qkv', 'bg_affinity')
    return {'settings': {k: cfg.get(k) for k in keys},
            'block_range': rng, 'epochs': rows}


def main(argv=None) -> int:
    import numpy as np
    import torch
    from cti_nb.figdata import figure_samples
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--data-root', required=True, help='the synth-voc the runs were trained on (its val split is read)')
    p.add_argument('--runs', nargs='+', required=True)
    p.add_argument('--n-images', type=int, default=64)
    p.add_argument('--out', default=None, help='default bench/results/finetune_affinity_trajectory.json')
    a = p.parse_args(argv)
    s = figure_samples(a.data_root, 'val', n=a.n_images)
    x, masks = torch.stack(s['tensors']), np.stack(s['gts'])
    runs = {}
    for r in a.runs:
        runs[r] = t = trajectory(Path(r), x, masks)
        f = lambda d: f"{d['foreground']:.2f}/{d['background']:.2f}"
        print(f"{r} ({t['settings']})")
        for e in t['epochs']:
            print(f"  epoch {e['epoch']:2d}: fg/bg own {f(e['own'])}, position {f(e['position'])}")
    write_result('finetune_affinity_trajectory', {'data_root': a.data_root, 'n_images': len(x), 'runs': runs,
                                                  'note': 'synthetic benchmark (synth-voc val); agreement chance = 1'},
                 a.out)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
