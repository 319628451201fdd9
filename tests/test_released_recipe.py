"""The released checkpoints carry the CAM recipe their committed numbers were measured with (issue 34, item 4).

`cti-nb cams --checkpoint synth-voc-baseline|synth-voc-cti` with the CLI's recipe defaults, then `cti-nb evaluate` as
the `full` study did (best threshold of 0.05:0.95:0.01 over train images), on a synth-voc generated with a seed that
no other test or notebook uses: each checkpoint must land within 8 points of its committed seed mIoU. The committed
numbers are read from figures/full/manifest.json (stage seed, cams "no affinity", synth-voc seed-0 runs, train[:400]).
Measured when written (2 CPU cores): MCTformer-V2 31.5 (committed 30.3), CTI 52.2 (committed 52.7); with the official
recipe they score 6.9 and 5.9."""
import contextlib
import io
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SEED = 11          # synth-voc seeds of the other tests and notebooks: 0, 1, 3
N_TRAIN = 200      # the study scored 400 train images; 200 keep this test near 30 s on 2 cores
TOLERANCE = 8.0    # mIoU points


def committed(variant: str) -> tuple[float, dict]:
    "The committed seed mIoU of the released checkpoint's run, and its record (figures/full/manifest.json)."
    m = json.loads((REPO / 'figures' / 'full' / 'manifest.json').read_text())
    want = {'stage': 'seed', 'dataset': 'synth-voc', 'cams': 'no affinity', 'variant': variant, 'seed': 0, 'post': 'none'}
    hits = [r for r in m['metrics'] if all(r['label'].get(k) == v for k, v in want.items())]
    assert len(hits) == 1, hits
    return hits[0]['mIoU'], {**hits[0]['label'], 'n_images': hits[0]['n_images'], 'thresholds': m['profile']['thresholds']}


def cli(*args) -> str:
    "`cti-nb ARGS` in this process (no interpreter start); its stdout; exit code 0."
    from cti_nb.cli import main
    out = io.StringIO()
    with contextlib.redirect_stdout(out): rc = main([str(a) for a in args])
    assert rc == 0, out.getvalue()[-2000:]
    return out.getvalue()


@pytest.fixture(scope='module')
def fresh_voc(tmp_path_factory):
    from cti_nb.synthetic import generate
    root = tmp_path_factory.mktemp('recipe') / 'voc'
    generate('synth-voc', out=root, seed=SEED, n_train=N_TRAIN, n_val=1, size=80, progress=False, verbose=False)
    return root


@pytest.mark.parametrize('name,variant,recipe', [('synth-voc-baseline', 'baseline', {'n_layers': 3, 'affinity_layers': 0}),
                                                 ('synth-voc-cti', 'cti', {'n_layers': 12, 'affinity_layers': 0})])
def test_released_checkpoint_scores_its_committed_number(name, variant, recipe, fresh_voc, tmp_path):
    ref, label = committed(variant)
    assert label['split'] == 'train[:400]' and label['n_images'] == 400
    cams = tmp_path / 'cams'
    # the recipe flags are left at their defaults; batch and workers only change the speed
    cli('cams', '--checkpoint', name, '--data-root', fresh_voc, '--split', 'train', '--out', cams, '--batch-size', 16,
        '--workers', 0, '--quiet')
    info = json.loads((cams / 'cams.json').read_text())
    assert (info['cam_recipe'], info['cam_recipe_from']) == (recipe, 'checkpoint'), info
    lst = fresh_voc / 'ImageSets' / 'Segmentation' / 'train.txt'
    cli('evaluate', '--cams', cams, '--gt', fresh_voc / 'SegmentationClass', '--list', lst, '--num-classes', 13,
        '--thresholds', label['thresholds'], '--quiet', '--out', tmp_path / 'seed.json')
    got = json.loads((tmp_path / 'seed.json').read_text())
    print(f"{name}: seed mIoU {got['mIoU']:.1f} at t={got['label']['threshold']} on {got['n_images']} images of a "
          f"seed-{SEED} synth-voc; committed {ref:.1f} at t={label['threshold']}")
    assert got['n_images'] == N_TRAIN
    assert abs(got['mIoU'] - ref) <= TOLERANCE, (got['mIoU'], ref)


def test_official_recipe_overrides_the_recorded_one(fresh_voc, tmp_path):
    "`--recipe official` (and a flag) win over what the checkpoint records, and cams.json says so."
    lst = tmp_path / 'four.txt'
    lst.write_text('\n'.join((fresh_voc / 'ImageSets' / 'Segmentation' / 'train.txt').read_text().split()[:4]) + '\n')
    base = ['cams', '--checkpoint', 'synth-voc-cti', '--data-root', fresh_voc, '--list', lst, '--workers', 0, '--quiet']
    cli(*base, '--out', tmp_path / 'official', '--recipe', 'official')
    cli(*base, '--out', tmp_path / 'all', '--affinity-layers', 'all')
    official = json.loads((tmp_path / 'official' / 'cams.json').read_text())
    assert (official['cam_recipe'], official['cam_recipe_from'], official['recipe']) == \
        ({'n_layers': None, 'affinity_layers': None}, 'official', 'official seed CAM (infer_trm.py)')
    flagged = json.loads((tmp_path / 'all' / 'cams.json').read_text())
    assert (flagged['cam_recipe'], flagged['cam_recipe_from']) == ({'n_layers': 12, 'affinity_layers': None},
                                                                    'checkpoint + flags')
    import numpy as np
    from cti_nb.cam import load_cam_file
    for iid in lst.read_text().split():     # 12 blocks are CTI's default: the same maps as the official recipe
        a, b = load_cam_file(tmp_path / 'official' / f'{iid}.npz')[0], load_cam_file(tmp_path / 'all' / f'{iid}.npz')[0]
        assert np.allclose(a.astype(np.float32), b.astype(np.float32), atol=2e-3)
