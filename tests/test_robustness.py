"""`cti-nb robustness` (nbs/09e_robustness.ipynb): one configuration over seeds and thread counts. The end-to-end test
trains the smoke profile's real network (the shipped 12-block backbone at 80 px), shrunk to 16 train / 8 val images,
one epoch, one seed, 1 and 2 threads; the summary test is a pure function on hand-made rows."""
import contextlib
import io
import json
import re

import pytest

from cti_nb.cli import main
from cti_nb.core import CTIError
from cti_nb.profiles import get_profile
from cti_nb.robustness import COLUMNS, DRIFT_COLUMNS, robustness, robustness_summary, summary_lines

ROW_FIELDS = {'variant', 'seed', 'threads', 'train_threads', 'run', 'bg_token', 'gates', 'gates_passed', 'val_mAP',
              'final_cls_loss', 'label_prior_loss', 'cls_loss_ratio', 'train_s', 'train_cpu_min', 'seed_mIoU_official',
              'seed_mIoU_unrefined', 'bg_precision_official', 'bg_precision_unrefined'}


def test_robustness_on_shrunk_smoke_profile(tmp_path):
    prof = get_profile('smoke').override(voc_train=16, voc_val=8, seed_eval_images=8,
                                         gates={'val_mAP': 0.0, 'seed_vs_blob': 0.0})
    with contextlib.redirect_stdout(io.StringIO()) as out:
        path = robustness('synth-voc', 'cti', seeds=(0,), threads=(1, 2), profile=prof, sets=('epochs=1',),
                          work=tmp_path / 'work', out=tmp_path / 'out')
    assert path == tmp_path / 'out' / 'synth-voc-cti-epochs=1.json'
    rec = json.loads(path.read_text())
    assert [(r['seed'], r['threads']) for r in rec['rows']] == [(0, 1), (0, 2)]
    for r in rec['rows']:
        assert ROW_FIELDS <= set(r), ROW_FIELDS - set(r)
        assert r['train_threads'] == r['threads'] and r['bg_token'] and r['gates_passed'] is True
        assert set(r['gates']) == {'val_mAP', 'cls_loss_ratio', 'seed_vs_blob'}
        assert r['seed_mIoU_official'] is not None and r['seed_mIoU_unrefined'] is not None
        assert r['final_cls_loss'] > 0 and r['label_prior_loss'] > 0
        assert json.loads((tmp_path / 'work' / 'smoke' / 'synth-voc-cti-epochs=1' / f"t{r['threads']}" / 'runs' /
                           'synth-voc' / 'cti-s0' / 'config.json').read_text())['epochs'] == 1
    s = rec['summary']
    assert s['gates_passed'] == {'k': 2, 'n': 2} and set(s['per_threads']) == {'1', '2'}
    assert set(s['same_seed_abs_delta']['0']) == set(DRIFT_COLUMNS)
    assert s['max_seed_mIoU_delta']['value'] is not None
    assert {'command', 'configuration', 'environment', 'wall_clock_s', 'train_cpu_minutes'} <= set(rec)
    assert rec['configuration']['train_set'] == ['epochs=1']
    md = (tmp_path / 'out' / 'synth-voc-cti-epochs=1.md').read_text()
    assert '| 0 | 1 (1) | yes |' in md and '| 0 | 2 (2) | yes |' in md and 'not VOC' in md, md
    assert 'largest same-seed |Δ| of seed mIoU' in out.getvalue()


@pytest.mark.parametrize('argv, kw, says', [
    (['--set', 'epoch=1'], {'sets': ('epoch=1',)}, 'unknown setting(s) epoch'),
    (['--dataset', 'voc'], {'dataset': 'voc'}, "--dataset 'voc': expected one of synth-voc"),
    (['--threads', '0'], {'threads': (0,)}, '--threads [0]: expected one or more integers >= 1')])
def test_bad_input_is_a_one_line_error(tmp_path, argv, kw, says):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main(['robustness', '--work', str(tmp_path)] + argv) == 1
    assert err.getvalue().count('\n') == 1 and says in err.getvalue(), err.getvalue()
    with pytest.raises(CTIError, match=re.escape(says)):
        robustness(**kw, work=tmp_path)
    assert not any(tmp_path.iterdir())                          # refused before anything was made


def _row(seed, threads, official, unrefined, bg, passed=True):
    return {'seed': seed, 'threads': threads, 'gates_passed': passed, 'bg_token': True, 'seed_mIoU_official': official,
            'seed_mIoU_unrefined': unrefined, 'bg_precision_official': bg, 'bg_precision_unrefined': bg,
            'final_cls_loss': 0.1, 'cls_loss_ratio': 0.4, 'val_mAP': 0.9}


def test_summary_of_hand_made_rows():
    rows = [_row(0, 1, 30.0, 50.0, 0.95), _row(0, 2, 30.5, 47.0, 0.93), _row(1, 1, 20.0, 40.0, None, False),
            _row(1, 2, 21.5, 40.0, 0.92)]
    s = robustness_summary(rows)
    assert s['per_threads']['2']['seed_mIoU_official'] == pytest.approx({'mean': 26.0, 'sd': 6.36396, 'n': 2})
    assert s['per_threads']['1']['bg_precision_official'] == {'mean': 0.95, 'sd': None, 'n': 1}
    assert set(s['per_threads']['1']) == {c for c, _, _ in COLUMNS} | {'gates_passed'}
    assert s['same_seed_abs_delta']['0']['seed_mIoU_unrefined'] == pytest.approx(3.0)
    assert s['same_seed_abs_delta']['1']['bg_precision_official'] is None        # one precision: no Δ
    assert s['gates_passed'] == {'k': 3, 'n': 4}
    assert s['bg_precision_goal']['official'] == {'k': 3, 'n': 4}               # wins no patch: a miss
    d = s['max_seed_mIoU_delta']
    assert (d['value'], d['seed'], d['cams'], d['within_goal']) == (3.0, '0', 'no affinity', False)
    lines = summary_lines(s, 'cti')
    assert lines[0] == 'training gates passed in 3 of 4 runs'
    assert lines[2].startswith('largest same-seed |Δ| of seed mIoU between thread counts: 3.00 points (seed 0, no '
                               'affinity); goal <= 2: not met'), lines
    assert robustness_summary(rows[:1])['max_seed_mIoU_delta']['within_goal'] is None
