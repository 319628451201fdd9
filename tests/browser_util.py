"""Headless Chromium for the browser tests: the system browser (Debian's `chromium`) driven by playwright.

No browser is ever downloaded: playwright is pointed at the installed executable. Without playwright or a Chromium
the tests skip with a message that says what to install (`make browser-deps`)."""
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BROWSERS = ('chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable')


def chromium_executable() -> str | None:
    "The Chromium to drive: $CTI_NB_CHROMIUM, else the first of `BROWSERS` on PATH."
    exe = os.environ.get('CTI_NB_CHROMIUM')
    if exe: return exe if Path(exe).is_file() else None
    return next((p for p in map(shutil.which, BROWSERS) if p), None)


def run_folder(name: str) -> Path:
    "Where a browser test keeps its screenshots: $CTI_NB_RUNS/<name> (default: runs/<name> of the checkout)."
    d = Path(os.environ.get('CTI_NB_RUNS', REPO / 'runs')) / name
    d.mkdir(parents=True, exist_ok=True)
    return d


@contextmanager
def chromium(viewport=(1600, 1000)):
    "A playwright page in headless system Chromium; skips the test when playwright or the browser is missing."
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip('playwright is not installed (it is in settings.ini dev_requirements: make setup)')
    exe = chromium_executable()
    if exe is None:
        pytest.skip(f'no Chromium found (looked for {", ".join(BROWSERS)} and $CTI_NB_CHROMIUM): '
                    "install Debian's chromium with `make browser-deps`")
    args = ['--no-sandbox'] if hasattr(os, 'geteuid') and os.geteuid() == 0 else []   # root needs --no-sandbox
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, headless=True, args=args, timeout=60_000)
        try:
            page = browser.new_page(viewport={'width': viewport[0], 'height': viewport[1]})
            page.set_default_timeout(30_000)
            yield page
        finally:
            browser.close()


def free_port() -> int:
    "A TCP port that is free on 127.0.0.1 now."
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@contextmanager
def server(cmd: list[str], url: str, log: Path, env=None, timeout: float = 180):
    """Start `cmd` in its own process group, wait (at most `timeout` s) until `url` answers, yield the process, and
    always stop the whole group (SIGTERM, then SIGKILL after 15 s), also when the test fails."""
    with open(log, 'wb') as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise AssertionError(f'server exited with {proc.returncode} before answering; log:\n{log.read_text()[-3000:]}')
            try:
                with urllib.request.urlopen(url, timeout=5): break
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError(f'server did not answer {url} within {timeout} s; log:\n{log.read_text()[-3000:]}')
                time.sleep(0.5)
        yield proc
    finally:
        _stop_group(proc)


def _stop_group(proc: subprocess.Popen):
    import signal
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 10)):
        try: os.killpg(proc.pid, sig)
        except ProcessLookupError: return
        try:
            proc.wait(timeout=wait)
            time.sleep(0.5)   # let the kernel children of the group go too
        except subprocess.TimeoutExpired:
            continue
        try: os.killpg(proc.pid, 0)
        except ProcessLookupError: return
