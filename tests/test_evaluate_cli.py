"CLI tests of `cti-nb evaluate` and `cti-nb pseudo-labels` (subprocesses, files, golden numbers)."
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

GOLD = Path(__file__).parent / 'data' / 'golden'


def run(*args, check_rc=None):
    r = subprocess.run([sys.executable, '-c', 'from cti_nb.cli import main; raise SystemExit(main())', *map(str, args)],
                       capture_output=True, text=True, timeout=300, env={**__import__('os').environ, 'HF_HUB_OFFLINE': '1'})
    if check_rc is not None: assert r.returncode == check_rc, (r.returncode, r.stdout, r.stderr)
    return r


@pytest.fixture(scope='module')
def golden(tmp_path_factory):
    from cti_nb.cam import save_cam_file
    from cti_nb.data import save_mask_png
    d = tmp_path_factory.mktemp('golden_eval')
    z = np.load(GOLD / 'eval_voc_small.npz')
    names = sorted({k.split('/')[0] for k in z.files if '/' in k})
    for n in names:
        save_cam_file(d / 'cams' / f'{n}.npz', z[f'{n}/cams'], z[f'{n}/classes'], dtype='float32')
        save_mask_png(z[f'{n}/gt'], d / 'gt' / f'{n}.png')
    (d / 'train.txt').write_text('\n'.join(names) + '\n')
    meta = json.loads((GOLD / 'eval_voc_small.json').read_text())
    return d, names, meta, z


def one_line_error(r, *needles):
    "Exit code 1 and exactly one stderr line (runs use --quiet, so no progress bar), naming the problem."
    assert r.returncode == 1, (r.stdout, r.stderr)
    lines = [l for l in r.stderr.strip().splitlines() if l.strip()]
    assert len(lines) == 1, r.stderr
    for n in needles: assert n in lines[0], lines[0]


def test_evaluate_golden(golden):
    d, names, meta, _ = golden
    r = run('evaluate', '--cams', d / 'cams', '--gt', d / 'gt', '--list', d / 'train.txt', '--thresholds', '0.30:0.51:0.10',
            '--out', d / 'res.json', '--quiet', '--workers', 2, check_rc=0)
    res = json.loads((d / 'res.json').read_text())
    for t, ref in meta['results'].items():
        got = res['curve'][f'{float(t):.6g}']
        for k in ('mIoU', 'mP', 'mR'): assert abs(got[k] - ref[k]) <= 1e-4, (t, k)
    assert res['label'] == {'stage': 'seed', 'split': 'train', 'post': 'none', 'threshold': 0.5}
    assert 'best: [seed | train | post=none | t=0.50]' in r.stdout and len(res['IoU']) == 21
    assert '[seed | train | post=none | t=0.40]' not in r.stdout            # --quiet: no per-threshold lines


def test_evaluate_early_stop_is_prefix(golden):
    d, *_ = golden
    run('evaluate', '--cams', d / 'cams', '--gt', d / 'gt', '--list', d / 'train.txt', '--thresholds', '0.05:1:0.05',
        '--out', d / 'full.json', '--quiet', check_rc=0)
    run('evaluate', '--cams', d / 'cams', '--gt', d / 'gt', '--list', d / 'train.txt', '--thresholds', '0.05:1:0.05',
        '--early-stop', '--out', d / 'es.json', '--quiet', check_rc=0)
    full, es = (json.loads((d / f).read_text())['curve'] for f in ('full.json', 'es.json'))
    assert list(es) == list(full)[:len(es)] and all(es[k] == full[k] for k in es)
    m = [es[k]['mIoU'] for k in es]
    assert all(a < b for a, b in zip(m[:-2], m[1:-1])) and (len(m) == len(full) or m[-1] <= m[-2])


def test_bad_inputs(golden, tmp_path):
    d, names, _, z = golden
    lst = tmp_path / 'l.txt'
    lst.write_text(names[0] + '\nnot_there\n')
    one_line_error(run('evaluate', '--quiet', '--cams', d / 'cams', '--gt', d / 'gt', '--list', lst), 'not_there.npz', 'missing CAM')
    from cti_nb.cam import save_cam_file
    from cti_nb.data import save_mask_png
    cams = tmp_path / 'cams'
    save_cam_file(cams / 'x.npz', z[f'{names[0]}/cams'], z[f'{names[0]}/classes'])
    lst.write_text('x\n')
    one_line_error(run('evaluate', '--quiet', '--cams', cams, '--gt', d / 'gt', '--list', lst), 'x.png', 'missing ground-truth')
    save_mask_png(z[f'{names[1]}/gt'], d / 'gt' / 'x.png')
    try:
        one_line_error(run('evaluate', '--quiet', '--cams', cams, '--gt', d / 'gt', '--list', lst), 'x.npz', 'CAM size')
    finally:
        (d / 'gt' / 'x.png').unlink()
    one_line_error(run('evaluate', '--quiet', '--cams', cams, '--gt', d / 'gt', '--list', tmp_path / 'none.txt'), 'no such list')
    one_line_error(run('evaluate', '--quiet', '--cams', cams, '--gt', d / 'gt', '--list', lst, '--thresholds', '0.3:0.4'),
                   'start:stop:step')
    (cams / 'x.npz').write_bytes(b'garbage')
    one_line_error(run('evaluate', '--quiet', '--cams', cams, '--gt', d / 'gt', '--list', lst), 'x.npz', 'not a readable CAM')


def test_pickle_refused_by_default(golden, tmp_path):
    d, names, meta, z = golden
    from cti_nb.cam import save_official_cam_dict
    for n in names: save_official_cam_dict(tmp_path / f'{n}.npy', z[f'{n}/cams'], z[f'{n}/classes'])
    args = ['evaluate', '--cams', tmp_path, '--gt', d / 'gt', '--list', d / 'train.txt', '--thresholds', '0.4', '--quiet']
    one_line_error(run(*args), '--trust-pickle')
    run(*args, '--trust-pickle', '--out', tmp_path / 'r.json', check_rc=0)
    got = json.loads((tmp_path / 'r.json').read_text())['curve']['0.4']['mIoU']
    assert abs(got - meta['results']['0.40']['mIoU']) <= 1e-4


def test_pseudo_labels_roundtrip(golden, tmp_path):
    d, names, meta, _ = golden
    run('evaluate', '--cams', d / 'cams', '--gt', d / 'gt', '--list', d / 'train.txt', '--thresholds', '0.4',
        '--out', tmp_path / 'seed.json', '--quiet', check_rc=0)
    r = run('pseudo-labels', '--cams', d / 'cams', '--list', d / 'train.txt', '--out', tmp_path / 'pl',
            '--from-eval', tmp_path / 'seed.json', '--quiet', check_rc=0)
    assert f'wrote {len(names)} of {len(names)}' in r.stdout and '[pseudo | ' in r.stdout
    r = run('pseudo-labels', '--cams', d / 'cams', '--list', d / 'train.txt', '--out', tmp_path / 'pl',
            '--threshold', '0.4', '--quiet', check_rc=0)
    assert f'wrote 0 of {len(names)}' in r.stdout                               # resumable
    run('evaluate', '--preds', tmp_path / 'pl', '--gt', d / 'gt', '--list', d / 'train.txt',
        '--out', tmp_path / 'pl.json', '--quiet', check_rc=0)
    res = json.loads((tmp_path / 'pl.json').read_text())
    assert res['label'] == {'stage': 'pseudo', 'split': 'train', 'post': 'none', 'threshold': None}
    assert abs(res['mIoU'] - meta['results']['0.40']['mIoU']) <= 1e-4
    # a band marks uncertain pixels as 255
    run('pseudo-labels', '--cams', d / 'cams', '--list', d / 'train.txt', '--out', tmp_path / 'band',
        '--threshold', '0.4', '--band', '0.3', '0.5', '--quiet', check_rc=0)
    from cti_nb.data import read_mask_png
    assert any((read_mask_png(tmp_path / 'band' / f'{n}.png') == 255).any() for n in names)


def test_crf_is_optional_and_lazy(golden, tmp_path):
    r = subprocess.run([sys.executable, '-c', 'import sys, cti_nb.evaluate, cti_nb.cam, cti_nb.cli; '
                        'print("pydensecrf" in sys.modules)'], capture_output=True, text=True)
    assert r.stdout.strip() == 'False', r.stderr
    d, *_ = golden
    code = ('import sys; sys.modules["pydensecrf"] = None; sys.modules["pydensecrf.densecrf"] = None\n'
            'from cti_nb.cli import main; raise SystemExit(main())')
    r = subprocess.run([sys.executable, '-c', code, 'pseudo-labels', '--cams', str(d / 'cams'), '--list',
                        str(d / 'train.txt'), '--out', str(tmp_path / 'crf'), '--crf-alpha', '6', '--images',
                        str(tmp_path)], capture_output=True, text=True)
    one_line_error(r, 'pip install pydensecrf2')


def test_failure_modes_from_card(tmp_path):
    from cti_nb.cam import save_cam_file
    from cti_nb.data import save_mask_png
    gt = np.zeros((4, 8), np.uint8); gt[:, :4] = 1; gt[:, 4:6] = 2
    ctx = np.zeros_like(gt); ctx[:, 6:] = 1
    cams = np.zeros((2, 4, 8), np.float32); cams[0, :, :4] = 0.9; cams[1, :, 4:6] = 0.9
    cams[1, :2, :4] = 0.95; cams[1, 0, 6] = 0.95                      # half of class 1 spills into 2; one ctx pixel
    save_cam_file(tmp_path / 'cams' / 'a.npz', cams, [0, 1], dtype='float32')
    save_mask_png(gt, tmp_path / 'SegmentationClass' / 'a.png')
    save_mask_png(ctx, tmp_path / 'SegmentationContext' / 'a.png')
    (tmp_path / 'synth_card.json').write_text(json.dumps(
        {'classes': ['a', 'b'], 'cooccurrence_pairs': [['a', 'b']], 'context_classes': {'1': 'b'}}))
    (tmp_path / 'l.txt').write_text('a\n')
    run('evaluate', '--cams', tmp_path / 'cams', '--gt', tmp_path / 'SegmentationClass', '--list', tmp_path / 'l.txt',
        '--num-classes', 3, '--thresholds', '0.5', '--card', tmp_path / 'synth_card.json', '--out', tmp_path / 'r.json',
        '--quiet', check_rc=0)
    res = json.loads((tmp_path / 'r.json').read_text())
    assert res['spill'] == {'1->2': 0.5, '2->1': 0.0}
    assert res['context_fp'] == {'1->2': 0.125}
