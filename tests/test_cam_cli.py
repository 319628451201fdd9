"""CLI tests of `cti-nb cams`: error paths always; the end-to-end run (synthetic data, tiny model) when the data,
synthetic and model modules are present."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest


def run(*args):
    return subprocess.run([sys.executable, '-c', 'from cti_nb.cli import main; raise SystemExit(main())', *map(str, args)],
                          capture_output=True, text=True, timeout=600, env={**os.environ, 'HF_HUB_OFFLINE': '1'})


def one_line_error(r, *needles):
    assert r.returncode == 1, (r.stdout, r.stderr)
    lines = [l for l in r.stderr.strip().splitlines() if l.strip()]
    assert len(lines) == 1, r.stderr
    for n in needles: assert n in lines[0], lines[0]


def test_cams_cli_bad_input(tmp_path):
    r = run('cams', '--data-root', tmp_path, '--split', 'train', '--out', tmp_path / 'o')
    assert r.returncode == 2 and 'one of the arguments --run --checkpoint is required' in r.stderr
    one_line_error(run('cams', '--checkpoint', tmp_path / 'x.pth', '--data-root', tmp_path / 'nope', '--split', 'train',
                       '--out', tmp_path / 'o'), 'nope', 'no such data root')
    one_line_error(run('cams', '--checkpoint', tmp_path / 'x.pth', '--data-root', tmp_path, '--split', 'train',
                       '--out', tmp_path / 'o'), 'x.pth', 'no such checkpoint')
    one_line_error(run('cams', '--run', tmp_path / 'norun', '--data-root', tmp_path, '--list', tmp_path / 'l.txt',
                       '--out', tmp_path / 'o'), 'l.txt', 'no such list file')
    one_line_error(run('cams', '--run', tmp_path / 'norun', '--data-root', tmp_path, '--split', 'train',
                       '--out', tmp_path / 'o'), 'norun', 'no such run directory')


@pytest.fixture(scope='module')
def synth_checkpoint(tmp_path_factory):
    synthetic = pytest.importorskip('cti_nb.synthetic')
    model = pytest.importorskip('cti_nb.checkpoints')
    pytest.importorskip('cti_nb.data')
    import torch
    d = tmp_path_factory.mktemp('cams_e2e')
    root = Path(synthetic.generate('synth-voc', out=d / 'data', seed=0, n_train=6, n_val=2))
    from cti_nb.data import load_dataset
    ds = load_dataset(root, split='train')
    torch.manual_seed(0)
    net = model.CTIModel(num_classes=ds.num_classes, depth=2)
    ckpt = d / 'net.pth'
    torch.save(net.state_dict(), ckpt)
    try:
        model.load_official(ckpt)
    except Exception as e:  # the loader may need an official-layout checkpoint; then this test cannot run here
        pytest.skip(f'load_official cannot rebuild the tiny test network: {type(e).__name__}: {e}')
    return root, ds, ckpt


def test_cams_cli_resumable_and_evaluable(synth_checkpoint, tmp_path):
    root, ds, ckpt = synth_checkpoint
    out = tmp_path / 'cams'
    args = ['cams', '--checkpoint', ckpt, '--data-root', root, '--split', 'train', '--out', out, '--workers', 0, '--quiet']
    r = run(*args)
    assert r.returncode == 0, r.stderr
    assert f'wrote {len(ds)}, skipped 0' in r.stdout
    from cti_nb.cam import load_cam_file
    for i, iid in enumerate(ds.ids):
        cams, classes = load_cam_file(out / f'{iid}.npz')
        assert classes.tolist() == np.nonzero(ds.labels(i) > 1e-5)[0].tolist()
        assert cams.shape[1:] == ds.mask(i).shape and cams.dtype == np.float16
    info = json.loads((out / 'cams.json').read_text())
    assert info['flip'] is True
    # a .pth in the authors' layout records no CAM recipe: the official one ran, and cams.json says so
    assert (info['cam_recipe'], info['cam_recipe_from'], info['recipe']) == \
        ({'n_layers': None, 'affinity_layers': None}, 'official', 'official seed CAM (infer_trm.py)')
    first = ds.ids[0]
    mtime = (out / f'{first}.npz').stat().st_mtime_ns
    (out / f'{ds.ids[1]}.npz').unlink()
    r = run(*args)
    assert r.returncode == 0 and f'wrote 1, skipped {len(ds) - 1}' in r.stdout, r.stdout + r.stderr
    assert (out / f'{first}.npz').stat().st_mtime_ns == mtime
    # the CAMs evaluate against the masks with the dataset's class count
    lst = tmp_path / 'l.txt'; lst.write_text('\n'.join(ds.ids) + '\n')
    r = run('evaluate', '--cams', out, '--gt', root / 'SegmentationClass', '--list', lst, '--num-classes',
            ds.num_classes + 1, '--thresholds', '0.3:0.6:0.1', '--quiet')
    assert r.returncode == 0 and 'best: [seed | l | post=none | t=' in r.stdout, r.stdout + r.stderr


def test_seed_cams_golden():
    "Official seed recipe on the golden network (rebuilt weights): `infer_cam_flip_maxnorm` to 1e-5."
    model = pytest.importorskip('cti_nb.checkpoints')
    import torch
    from cti_nb.cam import seed_cams
    gold = Path(__file__).parent / 'data' / 'golden'
    meta = json.loads((gold / 'official_small.json').read_text())
    z = np.load(gold / 'official_small.npz')
    g = torch.Generator().manual_seed(meta['weights_seed'])
    sd = {}
    for k in sorted(meta['state_dict_keys']):
        t = torch.randn(meta['state_dict_keys'][k], generator=g, dtype=torch.float32) * 0.05
        sd[k] = t + 1.0 if 'norm' in k and k.endswith('weight') else t
    net = model.load_official(sd)
    got = seed_cams(net, torch.from_numpy(z['input_x']), torch.from_numpy(z['label']))
    assert (got - torch.from_numpy(z['infer_cam_flip_maxnorm'])).abs().max().item() <= 1e-5
