"""Can a network learn synth-in at all within a CPU budget? Each candidate trains `--steps` AdamW steps (lr 1e-3,
batch 32, plain cross-entropy, no augmentation) on the same `--images` fixed synth-in images; the mean training loss
of each fifth of the steps is printed (chance: ln 56 = 4.025). This is the measurement behind the pretraining note of
the README: the DeiT-layout ViTs stay at chance where a small CNN starts to learn. Writes
bench/results/pretrain_learnability.json.

    .venv/bin/python bench/bench_pretrain_learnability.py [--steps 100] [--images 512] [--threads 2]
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


def main() -> None:
    import numpy as np
    import torch
    from cti_nb.pretrain import OnlineSynthIn, ViTClassifier
    ap = argparse.ArgumentParser()
    ap.add_argument('--steps', type=int, default=100)
    ap.add_argument('--images', type=int, default=512)
    ap.add_argument('--threads', type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    ds = OnlineSynthIn(a.images, 80, seed=5)
    X = torch.stack([ds[i][0] for i in range(a.images)]); Y = torch.tensor([ds[i][1] for i in range(a.images)])
    cands = {
        'ViT 12 blocks, d64, conv stem (the recipe)': lambda: ViTClassifier(56, 80, 8, 64, 12, 2),
        'ViT 4 blocks, d64, conv stem': lambda: ViTClassifier(56, 80, 8, 64, 4, 2),
        'ViT 4 blocks, d64, plain patch conv': lambda: ViTClassifier(56, 80, 8, 64, 4, 2, conv_stem=False),
        'small CNN (6 conv + BN, GAP)': lambda: small_cnn(56),
    }
    rows = []
    for name, make in cands.items():
        torch.manual_seed(0); net = make()
        opt = torch.optim.AdamW(net.parameters(), 1e-3, weight_decay=0.05)
        g = torch.Generator().manual_seed(1); losses, t0 = [], time.perf_counter()
        for _ in range(a.steps):
            idx = torch.randint(0, a.images, (32,), generator=g)
            loss = torch.nn.functional.cross_entropy(net(X[idx]), Y[idx])
            opt.zero_grad(); loss.backward(); opt.step(); losses.append(loss.item())
        k = max(1, a.steps // 5)
        fifths = [round(float(np.mean(losses[i:i + k])), 3) for i in range(0, a.steps, k)]
        rows.append({'network': name, 'loss per fifth': ' '.join(map(str, fifths)), 'first': fifths[0],
                     'last': fifths[-1], 'seconds': round(time.perf_counter() - t0, 1)})
        print(rows[-1], flush=True)
    print(table(rows, ['network', 'loss per fifth', 'seconds']))
    write_result('pretrain_learnability', {'steps': a.steps, 'images': a.images, 'batch': 32, 'lr': 1e-3,
                                           'chance_loss': float(np.log(56)), 'rows': rows})


if __name__ == '__main__':
    main()
