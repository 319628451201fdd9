"""Which stem lets a 12-block ViT leave chance on synth-in within a CPU budget? Each candidate trains `--steps`
AdamW steps (lr 1e-3, weight decay 0.05, 50 warm-up steps, batch 64, plain cross-entropy, no augmentation) on
fresh synth-in images at 64 px (a new set of 2,048 every 32 steps), and the mean training loss of each block of 32
steps is printed (chance: ln 56 = 4.025) with the top-1 on 1,000 fixed val images. This is the measurement behind
the stem of the shipped backbone (`nbs/05b_pretrain.ipynb`, "Why this recipe"): with the GroupNorm stem or the
plain patch convolution the ViT stays at chance, with the BatchNorm stem it leaves chance after about 100 steps.
Writes bench/results/pretrain_learnability.json.

    .venv/bin/python bench/bench_pretrain_learnability.py [--steps 320] [--threads 2]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import table, write_result  # noqa: E402


def small_cnn(num_classes: int):
    import torch.nn as nn
    cbr = lambda i, o: [nn.Conv2d(i, o, 3, 1, 1, bias=False), nn.BatchNorm2d(o), nn.ReLU(True)]
    layers, c = [], 3
    for o in (16, 32, 64):
        layers += cbr(c, o) + cbr(o, o) + [nn.MaxPool2d(2)]; c = o
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, num_classes))


def images(seed: int, n: int, size: int = 64):
    "n synth-in images (normalised tensors) and labels from generator seed `seed`."
    import numpy as np
    import torch
    from cti_nb.core import IMAGENET_MEAN, IMAGENET_STD
    from cti_nb.synthetic import class_table, render_synth_in
    table_ = class_table('synth-in')
    xs, ys = zip(*(render_synth_in(np.random.default_rng([seed, i]), size, table_) for i in range(n)))
    x = torch.from_numpy(np.stack(xs)).permute(0, 3, 1, 2).float() / 255
    x = (x - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return x, torch.tensor(ys)


def run(make, steps: int, xv, yv) -> list[dict]:
    import numpy as np
    import torch
    torch.manual_seed(0)
    net = make()
    opt = torch.optim.AdamW(net.parameters(), 1e-3, weight_decay=0.05)
    losses, rows, step, t0 = [], [], 0, time.perf_counter()
    while step < steps:
        x, y = images(100 + step // 32, 2048)
        for i in range(0, 2048, 64):
            for g in opt.param_groups: g['lr'] = 1e-3 * min(1.0, (step + 1) / 50)
            loss = torch.nn.functional.cross_entropy(net(x[i:i + 64]), y[i:i + 64])
            opt.zero_grad(); loss.backward(); opt.step(); losses.append(loss.item()); step += 1
            if step % 32 == 0 or step == steps:
                net.eval()
                with torch.no_grad(): top1 = float((net(xv).argmax(1) == yv).float().mean())
                net.train()
                rows.append({'step': step, 'loss': round(float(np.mean(losses[-32:])), 3), 'val_top1': round(top1, 3),
                             'seconds': round(time.perf_counter() - t0, 1)})
            if step == steps: break
    return rows


def main() -> None:
    import torch
    from cti_nb.classifier import ViTClassifier
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--steps', type=int, default=320)
    ap.add_argument('--threads', type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    xv, yv = images(1, 1000)
    cands = {
        'ViT 12 blocks, d64, BatchNorm conv stem (the shipped recipe)': lambda: ViTClassifier(56, 64, 8, 64, 12, 2,
                                                                                               conv_stem='bn'),
        'ViT 12 blocks, d64, GroupNorm conv stem (the earlier recipe)': lambda: ViTClassifier(56, 64, 8, 64, 12, 2,
                                                                                                conv_stem='gn'),
        'ViT 12 blocks, d64, plain patch conv (DeiT)': lambda: ViTClassifier(56, 64, 8, 64, 12, 2, conv_stem=False),
        'small CNN (6 conv + BN, GAP)': lambda: small_cnn(56),
    }
    out = []
    for name, make in cands.items():
        curve = run(make, a.steps, xv, yv)
        out.append({'network': name, 'loss per 32 steps': ' '.join(str(r['loss']) for r in curve),
                    'last loss': curve[-1]['loss'], 'val top-1': curve[-1]['val_top1'],
                    'seconds': curve[-1]['seconds'], 'curve': curve})
        print({k: v for k, v in out[-1].items() if k != 'curve'}, flush=True)
    print(table(out, ['network', 'loss per 32 steps', 'val top-1', 'seconds']))
    write_result('pretrain_learnability', {'steps': a.steps, 'batch': 64, 'lr': 1e-3, 'img_size': 64,
                                           'chance_loss': 4.025, 'rows': out})


if __name__ == '__main__':
    main()
