"""The explorer used as its users use it: JupyterLab 4 serves nbs/explore.ipynb (a copy), headless Chromium runs all
cells, and every control of the panel (image, class, layer, model) must redraw the figure it shows.

Run with `make browser-test`; screenshots go to runs/browser-test/ ($CTI_NB_RUNS/browser-test). Skips when no
Chromium is installed (`make browser-deps`)."""
import hashlib
import io
import json
import os
import secrets
import shutil
import time
import urllib.request

import numpy as np
import pytest
from PIL import Image

from browser_util import REPO, chromium, free_port, run_folder, server
from cti_nb.cli import lab_command

pytestmark = pytest.mark.browser
PANEL = '.jp-Notebook .jp-Cell:last-child'          # the `ex.widget()` cell
_READ_IMG = """async img => {                               // the bytes the <img> shows, base64
    const b = new Uint8Array(await (await fetch(img.src)).arrayBuffer());
    let s = ''; for (const x of b) s += String.fromCharCode(x);
    return btoa(s); }"""


def _figure(page) -> tuple[str, np.ndarray]:
    "The PNG the panel shows now: (sha1 of its data URL, RGB array)."
    import base64
    figures = page.locator(f'{PANEL} img.widget-image')
    assert figures.count() == 1, f'the panel shows {figures.count()} figures'
    png = base64.b64decode(figures.evaluate(_READ_IMG, timeout=30_000))
    return hashlib.sha1(png).hexdigest(), np.asarray(Image.open(io.BytesIO(png)).convert('RGB'))


def _cam_panel(rgb: np.ndarray) -> np.ndarray:
    "The second of the five panels (the CAM of the chosen class), below its title: a loose crop of the figure."
    h, w = rgb.shape[:2]
    return rgb[int(0.15 * h):int(0.95 * h), int(0.22 * w):int(0.36 * w)].astype(np.float32)


def _shown(page):
    "Wait until the browser has decoded (and can paint) the figure, so a screenshot shows all of it."
    page.locator(f'{PANEL} img.widget-image').evaluate('img => img.decode().then(() => img.naturalWidth)', timeout=30_000)
    for _ in range(3):   # a few painted frames: on a loaded machine the first ones can miss raster tiles
        page.evaluate('() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))')
        page.wait_for_timeout(400)


def _wait_for_new_figure(page, old: str, what: str, timeout_s: float = 60):
    import time
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        digest, rgb = _figure(page)
        if digest != old:
            _shown(page)
            return digest, rgb
        page.wait_for_timeout(250)
    raise AssertionError(f'the figure did not change within {timeout_s} s after changing the {what}')


def _slider_set(page, label: str, value: int):
    "Type a value into the readout of the slider described `label` (as a user does) and press Enter."
    readout = page.locator(f'{PANEL} .widget-slider', has=page.locator(f'label:text-is("{label}")')).locator('.widget-readout')
    readout.click()
    page.keyboard.press('Control+A')
    page.keyboard.type(str(value))
    page.keyboard.press('Enter')


def _dropdown(page, label: str):
    return page.locator(f'{PANEL} .widget-dropdown', has=page.locator(f'label:text-is("{label}")')).locator('select')


def _accept_kernel_dialog(page, wait_ms: int = 5000):
    "JupyterLab may ask which kernel to start: choose the notebook's own (python3)."
    accept = page.locator('.jp-Dialog .jp-Dialog-button.jp-mod-accept')
    try:
        accept.wait_for(timeout=wait_ms)
    except Exception:
        return
    accept.click()


def _jupyter_env(tmp) -> dict:
    "Environment of the server: its own Jupyter config, runtime and settings folders; the checkout importable."
    env = dict(os.environ)
    for var, sub in (('JUPYTER_CONFIG_DIR', 'config'), ('JUPYTER_RUNTIME_DIR', 'runtime'), ('JUPYTER_DATA_DIR', 'data'),
                     ('JUPYTERLAB_SETTINGS_DIR', 'settings'), ('JUPYTERLAB_WORKSPACES_DIR', 'workspaces')):
        (tmp / sub).mkdir(parents=True, exist_ok=True)
        env[var] = str(tmp / sub)
    note = tmp / 'settings' / '@jupyterlab' / 'apputils-extension' / 'notification.jupyterlab-settings'
    note.parent.mkdir(parents=True)
    note.write_text(json.dumps({'fetchNews': 'false', 'checkForUpdates': False}))   # no news toast over the panel
    env['PYTHONPATH'] = os.pathsep.join([str(REPO)] + [p for p in [env.get('PYTHONPATH')] if p])
    env.pop('MPLBACKEND', None)                      # make exports Agg; the kernel uses the inline backend, as for a user
    return env


def test_explorer_in_jupyterlab(tmp_path):
    out = run_folder('browser-test')
    for old in [*out.glob('*.png'), *out.glob('*.html'), *out.glob('*.json')]: old.unlink()
    t0, timings = time.monotonic(), {}
    def mark(what): timings[what] = round(time.monotonic() - t0, 1)
    nb_dir = tmp_path / 'nbs'
    nb_dir.mkdir()
    shutil.copyfile(REPO / 'nbs' / 'explore.ipynb', nb_dir / 'explore.ipynb')   # JupyterLab may save into it
    port, token = free_port(), secrets.token_hex(16)
    cmd = lab_command(nb_dir / 'explore.ipynb', port=port, open_browser=False, token=token)
    base = f'http://127.0.0.1:{port}'
    with chromium() as page, server(cmd, f'{base}/api/status?token={token}', out / 'jupyterlab.log',
                                    env=_jupyter_env(tmp_path / 'jupyter')) as proc:
        try:
            page.goto(f'{base}/lab/tree/explore.ipynb?token={token}', timeout=60_000)
            page.locator('.jp-Notebook .jp-Cell').first.wait_for(timeout=60_000)
            _accept_kernel_dialog(page)
            page.locator('.jp-StatusBar-TextItem:has-text("| Idle")').first.wait_for(timeout=60_000)
            mark('notebook open, kernel idle')
            page.screenshot(path=out / '01_opened.png')
            page.locator('.lm-MenuBar-itemLabel:text-is("Run")').click()
            page.locator('.lm-Menu-itemLabel:text-is("Run All Cells")').click()
            _accept_kernel_dialog(page, wait_ms=1000)
            page.locator(f'{PANEL} img.widget-image').wait_for(timeout=300_000)
            mark('run all: panel drawn')
            page.locator(f'{PANEL} .widget-slider').first.scroll_into_view_if_needed()
            errors = page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
            texts = [errors.nth(i).inner_text() for i in range(errors.count())]
            assert not [t for t in texts if 'Traceback' in t or 'Error' in t], texts
            # the widgets render: two sliders, three dropdowns, the figure; the panel opens in its initial state
            assert page.locator(f'{PANEL} .widget-slider').count() == 2
            assert page.locator(f'{PANEL} .widget-dropdown select').count() == 3
            image_readout = page.locator(f'{PANEL} .widget-slider', has=page.locator('label:text-is("image")'))
            assert image_readout.locator('.widget-readout').inner_text().strip() == '0'
            layer = page.locator(f'{PANEL} .widget-slider', has=page.locator('label:text-is("layer")'))
            depth = int(float(layer.locator('.noUi-handle').get_attribute('aria-valuemax') or 0))
            assert depth > 1 and layer.locator('.widget-readout').inner_text().strip() == str(depth)
            models = _dropdown(page, 'model').locator('option').all_inner_texts()
            assert _dropdown(page, 'model').evaluate('e => e.options[e.selectedIndex].text') == models[0]
            digest, rgb = _figure(page)
            _shown(page)
            page.screenshot(path=out / '02_panel.png')
            # every control redraws the figure; image, class, model and CAM recipe also change the CAM panel
            changes = [('image', lambda: _slider_set(page, 'image', 2)),
                       ('class', lambda: _dropdown(page, 'class').select_option(index=(
                           _dropdown(page, 'class').evaluate('e => e.selectedIndex') + 1) % _dropdown(page, 'class').locator('option').count())),
                       ('layer', lambda: _slider_set(page, 'layer', 1)),
                       ('model', lambda: _dropdown(page, 'model').select_option(label=models[-1])),
                       ('cam', lambda: _dropdown(page, 'CAM').select_option(label='official'))]   # from the recorded recipe
            for i, (what, change) in enumerate(changes, start=3):
                change()
                new, new_rgb = _wait_for_new_figure(page, digest, what)
                if what != 'layer':
                    diff = float(np.abs(_cam_panel(new_rgb) - _cam_panel(rgb)).mean()) if new_rgb.shape == rgb.shape else 255.
                    assert diff > 0.5, f'the CAM panel did not change after changing the {what} (mean |diff| {diff:.2f})'
                mark(f'{what} changed: figure redrawn')
                page.screenshot(path=out / f'{i:02d}_{what}.png')
                digest, rgb = new, new_rgb
            page.locator(PANEL).screenshot(path=out / '08_panel_only.png')
        except Exception:
            page.screenshot(path=out / 'failure.png')
            (out / 'failure.html').write_text(page.content())
            raise
    mark('server stopped')
    (out / 'timings.json').write_text(json.dumps(timings, indent=1))
    print('browser test timings (s since start):', timings)
    # the server and its kernel are gone
    with pytest.raises(OSError): urllib.request.urlopen(f'{base}/api/status', timeout=3)
    assert proc.poll() is not None
