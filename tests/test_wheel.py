"""The package as a wheel user gets it: `python -m build`, the wheel installed (not editable) into a fresh venv, and
there, outside any checkout, `cti-nb` works: --version, explore, the shipped backbones (package data under
cti_nb/weights/; `train --preset synth-voc` starts from synth-in-local), the released checkpoints by name
(`cams --checkpoint synth-voc-cti`), and `reproduce --profile smoke` with the figure notebooks the wheel carries.

The fresh venv does not download the third-party dependencies again: it sees those of the running environment
through a folder of links to its site-packages, leaving out every cti_nb file (the checkout's editable install), so
`cti_nb` can only come from the wheel. Run with `make wheel-test`."""
import json
import os
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from browser_util import REPO

pytestmark = pytest.mark.wheel


def _left_out(name: str) -> bool:
    "cti_nb files (the editable install of the checkout) and .pth files are not linked into the fresh venv."
    n = name.lower().replace('-', '_')
    return n.startswith(('cti_nb', '__editable__.cti_nb', '__editable___cti_nb')) or n.endswith('.pth')


def _run(cmd, cwd, env, timeout=600):
    r = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, f'{" ".join(map(str, cmd))} exited {r.returncode}:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}'
    return r.stdout


@pytest.fixture(scope='module')
def venv(tmp_path_factory):
    "(bin folder, environment, a work folder outside the checkout) of a fresh venv with the wheel installed."
    tmp = tmp_path_factory.mktemp('wheel')
    _run([sys.executable, '-m', 'build', '--no-isolation', '--outdir', tmp / 'dist', REPO], cwd=REPO, env=None)
    wheels = list((tmp / 'dist').glob('cti_nb-*.whl'))
    assert len(wheels) == 1, wheels
    _run([sys.executable, '-m', 'venv', '--without-pip', tmp / 'venv'], cwd=tmp, env=None)
    py = tmp / 'venv' / 'bin' / 'python'
    purelib = Path(subprocess.check_output([py, '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'],
                                           text=True).strip())
    deps = tmp / 'deps'
    deps.mkdir()
    for sp in map(Path, site.getsitepackages()):
        for entry in sp.iterdir():
            if not _left_out(entry.name) and not (deps / entry.name).exists(): (deps / entry.name).symlink_to(entry)
    (purelib / '_third_party_deps.pth').write_text(f'{deps}\n')
    _run([sys.executable, '-m', 'pip', '--python', py, 'install', '--no-deps', '--no-index', '--no-cache-dir',
          '--disable-pip-version-check', '-q', wheels[0]], cwd=tmp, env=None)
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'VIRTUAL_ENV')}
    env.update(PATH=f'{py.parent}{os.pathsep}{env.get("PATH", "")}', MPLBACKEND='Agg', HF_HUB_OFFLINE='1',
               CTI_NB_WHEEL_PURELIB=str(purelib))
    work = tmp / 'user'
    work.mkdir()
    return py.parent, env, work


def test_cti_nb_comes_from_the_wheel(venv):
    bin_, env, work = venv
    where = _run([bin_ / 'python', '-c', 'import cti_nb, os; print(cti_nb.__file__)'], cwd=work, env=env).strip()
    assert Path(where).is_relative_to(env['CTI_NB_WHEEL_PURELIB']), where
    assert not Path(where).is_relative_to(REPO)
    out = _run([bin_ / 'cti-nb', '--version'], cwd=work, env=env)
    assert out.startswith('cti-nb ')


def test_explore_copies_the_shipped_notebook(venv):
    bin_, env, work = venv
    out = _run([bin_ / 'cti-nb', 'explore', '--print-command'], cwd=work, env=env)
    copy = work / 'cti-nb-explore' / 'explore.ipynb'
    assert copy.is_file() and str(copy) in out and '--ServerApp.ip=127.0.0.1' in out
    assert json.loads(copy.read_text())['cells'], 'the shipped explorer notebook is empty'


def _shipped_backbones() -> dict:
    from cti_nb.checkpoints import SHIPPED_BACKBONES
    return SHIPPED_BACKBONES


@pytest.mark.skipif('synth-in' not in _shipped_backbones(),
                    reason='no synth-in backbone in cti_nb.checkpoints.SHIPPED_BACKBONES')
def test_shipped_backbone_is_in_the_wheel_and_trains(venv):
    """The shipped backbones (cti_nb/weights/) are inside the installed wheel, and the synthetic preset's own
    (`synth-in-local`) starts a fine-tune."""
    bin_, env, work = venv
    files = _run([bin_ / 'python', '-c', "import importlib.resources as r; "
                  "print('\\n'.join(p.name for p in (r.files('cti_nb') / 'weights').iterdir()))"], cwd=work, env=env).split()
    assert any('synth-in' in f and f.endswith('.safetensors') for f in files), files
    assert any('synth-in' in f and f.endswith('.json') for f in files), files
    assert any(f.startswith('synth-in-local') and f.endswith('.safetensors') for f in files), files
    _run([bin_ / 'cti-nb', 'synth', '--kind', 'synth-voc', '--out', work / 'tiny', '--n-train', 8, '--n-val', 2,
          '--size', 64, '--no-progress'], cwd=work, env=env)
    _run([bin_ / 'cti-nb', 'train', '--preset', 'synth-voc', '--data-root', work / 'tiny', '--out', work / 'run',
          '--epochs', 1, '--batch-size', 4, '--no-progress', '--set', 'stop_after_steps=1',
          'num_workers=0'], cwd=work, env=env)
    assert (work / 'run' / 'config.json').is_file()


def _released() -> dict:
    from cti_nb.checkpoints import RELEASED_CHECKPOINTS
    return RELEASED_CHECKPOINTS


@pytest.mark.skipif(not _released(), reason='no released checkpoints in cti_nb.checkpoints.RELEASED_CHECKPOINTS')
def test_released_checkpoints_load_by_name_from_the_wheel(venv):
    "The released synth-voc checkpoints are inside the installed wheel and load by name: Python, `cti-nb cams`."
    bin_, env, work = venv
    out = _run([bin_ / 'python', '-c', "from cti_nb.checkpoints import load_official, RELEASED_CHECKPOINTS; "
                "print(*(load_official(n).released['variant'] for n in sorted(RELEASED_CHECKPOINTS)))"], cwd=work, env=env)
    assert out.split() == ['baseline', 'cti'], out
    _run([bin_ / 'cti-nb', 'synth', '--kind', 'synth-voc', '--out', work / 'val80', '--n-train', 1, '--n-val', 2,
          '--size', 80, '--no-progress'], cwd=work, env=env)
    _run([bin_ / 'cti-nb', 'cams', '--checkpoint', 'synth-voc-cti', '--data-root', work / 'val80', '--split', 'val',
          '--out', work / 'cams', '--workers', 0, '--quiet'], cwd=work, env=env)
    assert len(list((work / 'cams').glob('*.npz'))) == 2


def test_reproduce_smoke_from_the_wheel(venv):
    bin_, env, work = venv
    _run([bin_ / 'cti-nb', 'reproduce', '--profile', 'smoke', '--out', work / 'figures', '--work', work / 'runs'],
         cwd=work, env=env, timeout=1800)
    manifest = json.loads((work / 'figures' / 'smoke' / 'manifest.json').read_text())
    assert manifest['figures'] and manifest['notebooks']
    for png in manifest['figures']: assert (work / 'figures' / 'smoke' / png).stat().st_size > 0
