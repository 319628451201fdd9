"""Exact resume after a real kill: a training process is SIGKILLed mid-epoch, resumed with --resume, and must end
with bit-identical weights to an uninterrupted run (CPU, tiny network, drop path on)."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
TINY = ['--set', 'init=', 'img_size=32', 'patch_size=8', 'embed_dim=32', 'depth=4', 'num_heads=2', 'mlp_ratio=2.0',
        'infuse_after=1', 'n_layers=2', 'memory_size=4', 'drop_path=0.1', 'conv_stem=False', 'batch_size=4', 'num_workers=0']


def _env():
    env = dict(os.environ, HF_HUB_OFFLINE='1', OMP_NUM_THREADS='1', PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get('PYTHONPATH')])))
    return env


def _train(out, data, *extra):
    return [sys.executable, '-m', 'cti_nb.train', '--preset', 'synth-voc', '--data-root', str(data), '--out',
            str(out), '--epochs', '3', '--no-progress', *extra, *TINY]


def _steps(run):
    p = Path(run) / 'log.jsonl'
    if not p.exists(): return 0
    recs = [json.loads(l) for l in p.read_text().splitlines() if l.strip()]
    return max([r['step'] for r in recs if r.get('type') == 'step'], default=0)


def test_killed_run_resumes_exactly(tmp_path, data):
    full, killed = tmp_path / 'full', tmp_path / 'killed'
    subprocess.run(_train(full, data), check=True, env=_env(), cwd=ROOT, capture_output=True)
    # steps_per_epoch = 4; kill somewhere in epoch 2 (steps 5..7), with a checkpoint after every step
    proc = subprocess.Popen(_train(killed, data, '--set', 'ckpt_every_steps=1'), env=_env(), cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.time()
    while _steps(killed) < 6 and proc.poll() is None and time.time() - t0 < 300: time.sleep(0.05)
    assert proc.poll() is None, 'the run finished before it could be killed'
    proc.send_signal(signal.SIGKILL); proc.wait()
    assert not (killed / 'model.pth').exists()
    ck = torch.load(killed / 'checkpoints' / 'last.pth', weights_only=True)
    assert ck['position']['global_step'] >= 5
    subprocess.run(_train(killed, data, '--resume'), check=True, env=_env(), cwd=ROOT, capture_output=True)
    a = torch.load(full / 'model.pth', weights_only=True)
    b = torch.load(killed / 'model.pth', weights_only=True)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    la = [json.loads(l) for l in (full / 'log.jsonl').read_text().splitlines()]
    lb = [json.loads(l) for l in (killed / 'log.jsonl').read_text().splitlines()]
    assert [r['loss'] for r in la if r['type'] == 'step'] == [r['loss'] for r in lb if r['type'] == 'step']


def test_cli_rejects_existing_run_and_bad_values(tmp_path, data):
    from cti_nb.core import CTIError
    from cti_nb.train import train_cli
    with pytest.raises(CTIError, match='sched'):
        train_cli(['--preset', 'synth-voc', '--data-root', str(data), '--out', str(tmp_path / 'r'),
                   '--set', 'sched=linear'])
    with pytest.raises(CTIError, match='batch_size'):
        train_cli(['--preset', 'synth-voc', '--data-root', str(data), '--out', str(tmp_path / 'r'),
                   '--set', 'batch_size=0'])
