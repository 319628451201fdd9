"""DDP smoke test: 2 gloo processes with 2 images each give the same loss curve as 1 process with 4 images.

Tolerance: 1e-5 relative per logged loss (observed ~1e-7: only the summation order of the gradient all-reduce
differs). Drop path is 0 because each rank draws its own drop-path sample."""
import json
import os
import subprocess
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
ARGS = ['--preset', 'synth-voc', '--epochs', '2', '--no-progress', '--set', 'init=', 'lr=0.001', 'img_size=32', 'patch_size=8',
        'embed_dim=32', 'depth=4', 'num_heads=2', 'mlp_ratio=2.0', 'infuse_after=1', 'n_layers=2', 'memory_size=4',
        'drop_path=0.0', 'conv_stem=False', 'batch_size=4', 'num_workers=0']


def _losses(run):
    recs = [json.loads(l) for l in (Path(run) / 'log.jsonl').read_text().splitlines() if l.strip()]
    return [{k: v for k, v in r.items() if k.startswith('loss')} for r in recs if r['type'] == 'step']


def test_two_process_gloo_matches_one_process(tmp_path, data):
    env = dict(os.environ, HF_HUB_OFFLINE='1', OMP_NUM_THREADS='1', PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get('PYTHONPATH')])))
    one, two = tmp_path / 'one', tmp_path / 'two'
    subprocess.run([sys.executable, '-m', 'cti_nb.train', '--data-root', str(data), '--out', str(one), *ARGS],
                   check=True, env=env, cwd=ROOT, capture_output=True)
    r = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2', '--master_port',
                        '29517', '-m', 'cti_nb.train', '--data-root', str(data), '--out', str(two), *ARGS],
                       env=env, cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    a, b = _losses(one), _losses(two)
    assert len(a) == len(b) >= 4
    for ra, rb in zip(a, b):
        assert ra.keys() == rb.keys()
        for k in ra: assert abs(ra[k] - rb[k]) <= 1e-5 * max(1.0, abs(ra[k])), (k, ra[k], rb[k])
    cfg = json.loads((two / 'config.json').read_text())
    assert cfg['world_size'] == 2 and (two / 'model.pth').exists()
