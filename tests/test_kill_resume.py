"""Kill anywhere, resume exactly: `cti-nb reproduce --profile smoke` is killed with SIGKILL (its whole process group,
training subprocesses included) once during each stage — train, cams, evaluate, segment, figures — and re-run each
time; the run that finally finishes must give the same metrics, field by field, as an uninterrupted run.

The reference is `$CTI_NB_REFERENCE` (a manifest.json, e.g. the smoke run of `make smoke`), else an uninterrupted run
made here. Minutes long: marked slow, run by `make kill-resume` (not by `make test`)."""
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STAGES = ('train', 'cams', 'evaluate', 'segment', 'figures')


def _cmd(out, work):
    return [sys.executable, '-c', 'from cti_nb.cli import main; raise SystemExit(main())', 'reproduce', '--profile',
            'smoke', '--out', str(out), '--work', str(work)]


def _env():
    return {**os.environ, 'HF_HUB_OFFLINE': '1', 'MPLBACKEND': 'Agg', 'PYTHONHASHSEED': '0', 'PYTHONUNBUFFERED': '1',
            'PYTHONPATH': os.pathsep.join(filter(None, [str(ROOT), os.environ.get('PYTHONPATH')]))}


def _ready(stage: str, work: Path, lines: list) -> bool:
    "Inside `stage` far enough that a kill interrupts real work (a checkpoint, a CAM file, a notebook) there."
    w = work / 'smoke'
    if stage == 'train': return any(w.glob('runs/*/*-s0/checkpoints/last.pth'))
    if stage == 'cams': return any(w.glob('runs/*/*-s0/cams*/*.npz'))
    if stage == 'segment': return any(w.glob('seg/*/*/log.jsonl'))
    if stage == 'figures': return sum(l.startswith('--- papermill') for l in lines) >= 2
    return True                                            # evaluate: at once (it is short)


def _run_and_kill(out, work, stage, timeout=900) -> tuple[str, list]:
    "Start the reproduction, SIGKILL its process group once `stage` is reached and ready; (last stage seen, output)."
    p = subprocess.Popen(_cmd(out, work), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env(),
                         cwd=ROOT, start_new_session=True)
    q, lines, current = queue.Queue(), [], None
    threading.Thread(target=lambda: [q.put(l) for l in p.stdout] + [q.put(None)], daemon=True).start()
    t0, seen = time.time(), False
    try:
        while True:
            assert time.time() - t0 < timeout, f'stage {stage} not reached and ready within {timeout} s (at {current})'
            try: line = q.get(timeout=0.05)
            except queue.Empty: line = ''
            if line is None: break                          # the process ended before the stage was reached
            if line:
                lines.append(line)
                if line.startswith('=== reproduce: '): current = line.split(': ', 1)[1].strip()
            seen = seen or current == stage
            if seen and current == stage and _ready(stage, work, lines):
                os.killpg(p.pid, signal.SIGKILL)
                break
    finally:
        if p.poll() is None:
            try: os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError: pass
        p.wait()
    return current, lines


def _finish(out, work) -> Path:
    r = subprocess.run(_cmd(out, work), capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=1800)
    assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-3000:])
    return out / 'smoke' / 'manifest.json'


@pytest.mark.slow
def test_kill_in_every_stage_then_resume_exactly(tmp_path):
    from cti_nb.drift import metric_drift
    out, work = tmp_path / 'out', tmp_path / 'work'
    killed_in, took_over = [], 0
    for stage in STAGES:
        current, lines = _run_and_kill(out, work, stage)
        killed_in.append(current)
        took_over += sum('took over the lock' in l for l in lines)
        assert not (out / 'smoke' / 'manifest.json').exists(), f'finished before a kill in {stage}'
    assert killed_in == list(STAGES), killed_in
    assert took_over >= len(STAGES) - 1                   # each restart found the killed run's stale lock
    manifest = _finish(out, work)
    ref = os.environ.get('CTI_NB_REFERENCE')
    ref = Path(ref) if ref else _finish(tmp_path / 'ref_out', tmp_path / 'ref_work')
    new, old = (json.loads(Path(m).read_text())['metrics'] for m in (manifest, ref))
    diffs, n = metric_drift(new, old)
    assert n > 100 and not diffs, '\n'.join(diffs)
    # every CAM folder holds exactly one finished file per listed id (no half-written file counted as done); the
    # held-out folders (cams*_val) hold the val split
    for cams in (work / 'smoke').glob('runs/*/*-s0/cams*'):
        ds, split = cams.parent.parent.name, 'val' if cams.name.endswith('_val') else 'train'
        ids = set((work / 'smoke' / 'lists' / f'{ds}_{split}.txt').read_text().split())
        assert {p.stem for p in cams.glob('*.npz')} == ids, cams
