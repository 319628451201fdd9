"CLI of the segmentation stage: train (tiny), predict, evaluate, and one-line errors, in subprocesses."
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

CMD = [sys.executable, '-c', 'from cti_nb.cli import main; raise SystemExit(main())', 'segment']
ENV = {**os.environ, 'HF_HUB_OFFLINE': '1', 'OMP_NUM_THREADS': '1'}


def run(*args):
    return subprocess.run(CMD + [str(a) for a in args], capture_output=True, text=True, env=ENV, timeout=300)


@pytest.fixture(scope='module')
def root(tmp_path_factory):
    from cti_nb.synthetic import generate
    return generate('synth-voc', tmp_path_factory.mktemp('seg') / 'data', seed=0, n_train=12, n_val=3, size=48,
                    progress=False, verbose=False)


def test_train_predict_evaluate(root, tmp_path):
    r = run('train', '--preset', 'synth', '--data-root', root, '--labels', root / 'SegmentationClass', '--out',
            tmp_path / 'run', '--no-progress', '--set', 'iterations=4', 'batch_size=4', 'crop=48', 'width=8')
    assert r.returncode == 0, r.stderr
    assert (tmp_path / 'run' / 'model.pth').is_file() and (tmp_path / 'run' / 'seg.json').is_file()
    r = run('predict', '--run', tmp_path / 'run', '--data-root', root, '--split', 'val', '--out', tmp_path / 'preds',
            '--scales', '1.0,0.75', '--no-progress')
    assert r.returncode == 0, r.stderr
    from PIL import Image
    pngs = sorted((tmp_path / 'preds').glob('*.png'))
    assert len(pngs) == 3 and Image.open(pngs[0]).mode == 'P'
    r = run('evaluate', '--preds', tmp_path / 'preds', '--data-root', root, '--split', 'val')
    assert r.returncode == 0, r.stderr
    assert 'seg' in r.stdout


def test_bad_labels_one_line_error(root, tmp_path):
    from cti_nb.data import save_mask_png
    from cti_nb.data import load_dataset
    bad = tmp_path / 'bad'
    for iid in load_dataset(root, 'train').ids: save_mask_png(np.full((48, 48), 77, np.uint8), bad / f'{iid}.png')
    r = run('train', '--data-root', root, '--labels', bad, '--out', tmp_path / 'run', '--no-progress',
            '--set', 'iterations=2', 'batch_size=4', 'crop=48', 'width=8')
    assert r.returncode == 1
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and 'label value 77' in err[0] and '.png' in err[0], r.stderr
    r = run('train', '--data-root', root, '--labels', tmp_path / 'missing', '--out', tmp_path / 'run2', '--no-progress')
    assert r.returncode == 1 and 'label folder not found' in r.stderr
