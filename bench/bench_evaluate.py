"""Benchmark 3: seed evaluation — a 28-threshold sweep over 1,464 generated CAM/GT pairs of 500x375 (2-3 classes
each, VOC's 21 classes), `cti_nb.metrics.sweep` (one pass, all thresholds) versus a straightforward per-threshold
implementation (argmax over the [threshold, CAMs] stack for every threshold, as the official script does) on the
same files. The per-threshold implementation takes ~0.5 s per image for 28 thresholds, so by default it runs on the
first --naive-n files and its full-set time is extrapolated (labelled as such); identical mIoU is checked on that
subset against the one-pass sweep of the same files. Prints a table, writes bench/results/evaluate.json.

    .venv/bin/python bench/bench_evaluate.py [--n 1464] [--naive-n 150] [--keep DIR]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import table, write_result  # noqa: E402

H, W, C = 375, 500, 21
THRESHOLDS = [round(0.42 + 0.01 * i, 2) for i in range(28)]   # the training-time grid 0.42..0.69


def make_pair(rng: np.random.Generator):
    "Smooth max-normalised CAMs of 2-3 present classes and a GT mask with blobs and a 255 border band."
    k = int(rng.integers(2, 4))
    classes = np.sort(rng.choice(C - 1, size=k, replace=False))
    import cv2
    cams = np.stack([cv2.resize(rng.random((12, 16), dtype=np.float32), (W, H), interpolation=cv2.INTER_LINEAR)
                     for _ in range(k)])
    cams -= cams.min(axis=(1, 2), keepdims=True)
    cams /= cams.max(axis=(1, 2), keepdims=True) + 1e-5
    gt = np.zeros((H, W), np.uint8)
    for c in classes:
        y, x = rng.integers(0, H - 100), rng.integers(0, W - 120)
        gt[y:y + int(rng.integers(60, 200)), x:x + int(rng.integers(80, 260))] = c + 1
    gt[cv2.morphologyEx((gt > 0).astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((5, 5), np.uint8)) > 0] = 255
    return cams, classes, gt


def naive_sweep(files, thresholds):
    "Per threshold: read every pair, argmax over the full (C+1) stack, accumulate the confusion (official style)."
    from cti_nb.cam import load_cam_file
    out = {}
    for t in thresholds:
        conf = np.zeros((C, C), np.int64)
        for cam_path, gt_path in files:
            cams, classes = load_cam_file(cam_path)
            gt = np.asarray(Image.open(gt_path))
            stack = np.zeros((C,) + gt.shape, np.float32)
            stack[0] = t
            stack[np.asarray(classes) + 1] = cams
            pred = stack.argmax(0)
            valid = gt != 255
            conf += np.bincount(gt[valid].astype(np.int64) * C + pred[valid], minlength=C * C).reshape(C, C)
        tp = np.diag(conf).astype(np.float64)
        iou = tp / (conf.sum(0) + conf.sum(1) - tp + 1e-10)
        out[t] = 100 * iou.mean()
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--n', type=int, default=1464, help='number of CAM/GT pairs (default 1,464: VOC train)')
    p.add_argument('--keep', default=None, help='write the pairs here and keep them (default: a temp folder)')
    p.add_argument('--skip-naive', action='store_true', help='time only the one-pass sweep')
    p.add_argument('--naive-n', type=int, default=150, help='files for the per-threshold implementation (0 = all)')
    a = p.parse_args(argv)
    from cti_nb.cam import save_cam_file, load_cam_file
    from cti_nb.metrics import sweep

    tmp = None if a.keep else tempfile.TemporaryDirectory()
    root = Path(a.keep or tmp.name)
    (root / 'cams').mkdir(parents=True, exist_ok=True); (root / 'gt').mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    files = []
    for i in range(a.n):
        cam_path, gt_path = root / 'cams' / f'{i:05d}.npz', root / 'gt' / f'{i:05d}.png'
        if not (cam_path.exists() and gt_path.exists()):
            cams, classes, gt = make_pair(rng)
            save_cam_file(cam_path, cams, classes, dtype='float16')
            Image.fromarray(gt).save(gt_path)
        files.append((cam_path, gt_path))
    gen_s = time.perf_counter() - t0
    print(f'{a.n} pairs of {W}x{H} ready in {root} ({gen_s:.1f} s)', flush=True)

    def samples(files=files):
        for cam_path, gt_path in files:
            cams, classes = load_cam_file(cam_path)
            yield cams, classes, np.asarray(Image.open(gt_path))

    t0 = time.perf_counter()
    res = sweep(samples(), num_classes=C, thresholds=THRESHOLDS)
    fast_s = time.perf_counter() - t0
    rows = [{'implementation': 'cti_nb.metrics.sweep (one pass)', 'seconds': fast_s, 'images': a.n,
             'thresholds': len(THRESHOLDS), 'best_mIoU': max(r['mIoU'] for r in res.values())}]
    payload = {'n_images': a.n, 'size': [H, W], 'thresholds': THRESHOLDS, 'sweep_seconds': fast_s}
    if not a.skip_naive:
        sub = files[:a.naive_n] if a.naive_n else files
        t0 = time.perf_counter()
        naive = naive_sweep(sub, THRESHOLDS)
        naive_s = time.perf_counter() - t0
        ref = sweep(samples(sub), num_classes=C, thresholds=THRESHOLDS)
        diff = max(abs(naive[t] - ref[t]['mIoU']) for t in THRESHOLDS)
        naive_full = naive_s * len(files) / len(sub)
        label = f'per-threshold argmax (official style), {len(sub)} files' + (
            f', extrapolated to {len(files)}' if len(sub) < len(files) else '')
        rows.append({'implementation': label, 'seconds': naive_full, 'images': len(files),
                     'thresholds': len(THRESHOLDS), 'best_mIoU': max(naive.values()) if len(sub) == len(files) else ''})
        payload.update(naive_seconds_measured=naive_s, naive_files=len(sub), naive_seconds_full=naive_full,
                       naive_extrapolated=len(sub) < len(files), speedup=naive_full / fast_s,
                       max_abs_mIoU_difference=diff)
        if diff > 1e-9:
            raise SystemExit(f'FAIL: one-pass sweep and per-threshold implementation differ by {diff} mIoU points')
        print(f'identical mIoU at all {len(THRESHOLDS)} thresholds on {len(sub)} files (max |diff| {diff:.2e}); '
              f'speed-up {naive_full / fast_s:.1f}x' + (' (per-threshold time extrapolated)' if len(sub) < len(files) else ''))
    payload['rows'] = rows
    print(table(rows, ['implementation', 'seconds', 'images', 'thresholds', 'best_mIoU']))
    print('wrote', write_result('evaluate', payload))
    if tmp: tmp.cleanup()


if __name__ == '__main__':
    main()
