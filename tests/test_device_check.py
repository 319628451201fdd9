"""`bench/device_check.sh --dry-run`: the GPU check script runs end to end on the CPU with tiny sizes and writes
every field the GPU run writes (the real run is for a machine with a GPU; see bench/README.md)."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_device_check_dry_run(tmp_path):
    out = tmp_path / 'gpu.json'
    env = dict(os.environ, PYTHON=sys.executable, OMP_NUM_THREADS='1')
    env.pop('CTI_NB_DEVICE', None)
    # about 2 min on an idle 2-core machine; the budget only bounds the reproduce section (a loaded machine is slower)
    r = subprocess.run(['bash', 'bench/device_check.sh', '--dry-run', '--budget', '1800', '--out', str(out)], cwd=ROOT,
                       env=env, capture_output=True, text=True, timeout=1900)
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    for name in ('golden', 'train_step', 'cams', 'ddp', 'reproduce'):      # printed as it goes
        assert f'== {name}' in r.stdout and f'-- {name}: ok' in r.stdout, r.stdout[-4000:]
    res = json.loads(out.read_text())
    assert res['dry_run'] is True and res['all_ok'] is True
    env_ = res['environment']
    assert {'device_name', 'torch', 'torch_cuda', 'cudnn', 'cpu_capability', 'git_commit'} <= set(env_)
    s = res['sections']
    assert set(s) == {'golden', 'train_step', 'cams', 'ddp', 'reproduce'} and all(v['ok'] for v in s.values())
    g = s['golden']
    assert g['golden_ok'] and g['tolerance'] == 1e-4 and g['bf16_step_finite']
    assert {'eval_cls', 'rect_cams', 'infer_cam_flip_maxnorm', 'loss_cls', 'loss_bg', 'loss_intra',
            'loss_cross'} <= set(g['max_rel_error'])
    assert max(g['max_rel_error'].values()) <= 1e-4
    rows = {(r['impl'], r['amp']): r for r in s['train_step']['rows']}
    assert set(rows) == {('four-pass', 'off'), ('four-pass', 'bf16'), ('optimised', 'off'), ('optimised', 'bf16')}
    assert all(r['images_per_s'] > 0 and 'peak_cuda_mb' in r for r in rows.values())
    paths = [r['path'] for r in s['cams']['rows']]
    assert len(paths) == 3 and any('bf16' in p for p in paths) and all(r['img_s'] > 0 for r in s['cams']['rows'])
    d = s['ddp']
    assert d['backend'] == 'gloo' and d['world_size'] == 1 and len(d['step_s']) >= 2
    assert d['init_and_first_all_reduce_s'] > 0 and all(v == v for v in d['losses'])
    rep = s['reproduce']
    assert rep['profile'] == 'smoke' and '--device cpu' in rep['command'] and rep['train_devices'] == ['cpu']
    assert {'data', 'train', 'cams', 'segment', 'total'} <= set(rep['wall_clock_s'])
