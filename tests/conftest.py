"""Shared pytest fixtures."""
import pytest


def pytest_configure(config):
    config.addinivalue_line('markers', 'slow: minutes-long end-to-end test, not in `make test` (see `make kill-resume`)')
    config.addinivalue_line('markers', 'browser: drives a real headless Chromium (make browser-test)')
    config.addinivalue_line('markers', 'docs: builds the whole docs site, executing the notebooks (make docs-test)')
    config.addinivalue_line('markers', 'drift: re-makes part of the smoke profile to prove the drift check fails on real '
                                       'drift (make smoke, after the smoke run)')
    config.addinivalue_line('markers', 'wheel: builds the wheel and uses it from a fresh venv (make wheel-test)')


@pytest.fixture(scope='session')
def data(tmp_path_factory):
    "A tiny synth-voc dataset (16 train / 4 val images at 48 px), generated once per test session."
    from cti_nb.synthetic import generate
    d = tmp_path_factory.mktemp('synth')
    generate('synth-voc', out=d / 'voc', seed=0, n_train=16, n_val=4, size=48, progress=False, verbose=False)
    return d / 'voc'
