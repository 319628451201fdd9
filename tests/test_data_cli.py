"""`cti-nb synth` and `cti-nb coco-masks` as a user runs them: real processes, real files, one-line errors."""
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

CLI = [sys.executable, '-c', 'from cti_nb.cli import main; raise SystemExit(main())']


def run(*args):
    return subprocess.run(CLI + [str(a) for a in args], capture_output=True, text=True, timeout=300)


def test_synth_voc_and_coco_layouts(tmp_path):
    r = run('synth', '--kind', 'synth-voc', '--out', tmp_path / 'voc', '--n-train', 6, '--n-val', 3, '--size', 48,
            '--no-progress')
    assert r.returncode == 0, r.stderr
    assert 'trivial mIoU' in r.stdout
    root = tmp_path / 'voc'
    ids = (root / 'ImageSets' / 'Segmentation' / 'train.txt').read_text().split()
    assert len(ids) == 6
    assert Image.open(root / 'JPEGImages' / f'{ids[0]}.jpg').size == (48, 48)
    assert Image.open(root / 'SegmentationClass' / f'{ids[0]}.png').mode == 'P'
    assert (root / 'SegmentationContext' / f'{ids[0]}.png').is_file()
    card = json.loads((root / 'synth_card.json').read_text())
    assert card['num_classes'] == 12 and len(card['cooccurrence']) == 12

    r = run('synth', '--kind', 'synth-coco', '--out', tmp_path / 'coco', '--n-train', 4, '--n-val', 2, '--size', 48,
            '--no-progress')
    assert r.returncode == 0, r.stderr
    imgs = sorted((tmp_path / 'coco' / 'val2014').glob('COCO_val2014_*.jpg'))
    assert len(imgs) == 2
    iid = imgs[0].stem.split('_')[-1]
    assert len(iid) == 12
    assert (tmp_path / 'coco' / 'SegmentationClass' / 'val2014' / f'COCO_val2014_{iid}.png').is_file()


def test_synth_bad_size_is_one_line(tmp_path):
    r = run('synth', '--out', tmp_path / 'x', '--size', 8, '--no-progress')
    assert r.returncode == 1
    assert r.stderr.strip().count('\n') == 0 and 'size=8' in r.stderr


def test_coco_masks_cli(tmp_path):
    pytest.importorskip('pycocotools')
    from cti_nb.core import COCO_CATEGORY_IDS, COCO_CLASSES
    root = tmp_path / 'coco'
    (root / 'val2014').mkdir(parents=True); (root / 'annotations').mkdir()
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(root / 'val2014' / 'COCO_val2014_000000000007.jpg')
    inst = {'images': [{'id': 7, 'height': 16, 'width': 16}],
            'categories': [{'id': c, 'name': n} for c, n in zip(COCO_CATEGORY_IDS, COCO_CLASSES)],
            'annotations': [{'id': 1, 'image_id': 7, 'category_id': 18, 'iscrowd': 0, 'area': 36.,
                             'segmentation': [[2, 2, 8, 2, 8, 8, 2, 8]], 'bbox': [2, 2, 6, 6]}]}
    (root / 'annotations' / 'instances_val2014.json').write_text(json.dumps(inst))
    r = run('coco-masks', '--coco-root', root, '--split', 'val')
    assert r.returncode == 0, r.stderr
    m = np.array(Image.open(root / 'SegmentationClass' / 'val2014' / 'COCO_val2014_000000000007.png'))
    assert set(np.unique(m)) == {0, 17}
    r = run('coco-masks', '--coco-root', tmp_path / 'nothing', '--split', 'val')
    assert r.returncode == 1 and 'instances file not found' in r.stderr
