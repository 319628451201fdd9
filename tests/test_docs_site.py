"""`make docs` as a user runs it: the whole site built into a temporary folder (method notebooks executed), its links,
its key pages, and headless-Chromium screenshots of the index (runs/docs-test/index.png) and of equations rendered
from MathML, offline (runs/docs-test/equations.png)."""
import importlib
import json
import os
import re
import time

import pytest

from browser_util import REPO, chromium, run_folder
from cti_nb.docs import check_links, reading_order

pytestmark = pytest.mark.docs


@pytest.fixture(scope='module')
def site(tmp_path_factory):
    from cti_nb.docs import build_docs
    out = tmp_path_factory.mktemp('docs') / 'site'
    t = time.perf_counter()
    build_docs(out, root=REPO, jobs=int(os.environ.get('CTI_NB_DOCS_JOBS', '2')))
    print(f'docs site built in {time.perf_counter() - t:.0f} s')
    return out


def test_every_notebook_has_a_page_linked_from_the_index(site):
    index = (site / 'index.html').read_text()
    for _, nbs in reading_order(REPO):
        for p in nbs:
            page = f"{p.relative_to(REPO).parent.as_posix().replace('/notebooks', '')}/{p.stem}.html"
            assert (site / page).is_file(), page
            assert f'href="{page}"' in index, f'index does not link {page}'


def test_links_are_not_broken(site):
    assert check_links(site) == []


def test_method_notebooks_are_executed_with_outputs(site):
    build = json.loads((site / 'build.json').read_text())
    method = [p for title, nbs in reading_order(REPO) for p in nbs if p.parent == REPO / 'nbs']
    assert sorted(build['executed_s']) == sorted(p.relative_to(REPO).as_posix() for p in method)
    core = (site / 'nbs' / '00_core.html').read_text()
    assert 'jp-OutputArea-output' in core and '#| export' not in core
    viz = (site / 'nbs' / '10_visualize.html').read_text()
    assert 'data:image/png;base64,' in viz, 'the visualisation notebook shows no figure'


def test_figure_notebooks_of_the_committed_profiles(site):
    for profile in ('quick', 'full'):
        page = (site / 'figures' / profile / 'A1_cams.html').read_text()
        assert 'data:image/png;base64,' in page, f'{profile} A1 has no figure'


def test_api_page_of_every_module(site):
    from cti_nb._modidx import d
    for mod in d['syms']:
        page = (site / 'api' / f'{mod.split(".")[-1]}.html').read_text()
        for name in getattr(importlib.import_module(mod), '__all__', [])[:5]:
            assert f'>{name}<' in page or f'{name}</h3>' in page or name in page, f'{mod}.{name} missing'


def test_screenshot_of_the_index(site):
    out = run_folder('docs-test')
    with chromium(viewport=(1280, 900)) as page:
        page.route('**/*', lambda r: r.continue_() if r.request.url.startswith('file:') else r.abort())  # offline
        page.goto((site / 'index.html').as_uri())
        page.screenshot(path=out / 'index.png', full_page=True)
        page.get_by_role('link', name='Explorer').first.click()
        page.wait_for_load_state()
        assert page.url.endswith('/nbs/explore.html')
        page.screenshot(path=out / 'explore_page.png')
    assert (out / 'index.png').stat().st_size > 10_000


def test_equations_are_mathml_that_chromium_lays_out(site):
    "04_losses offline: formulas as MathML, no MathJax; Chromium sets a fraction's numerator above its denominator."
    out = run_folder('docs-test')
    html = (site / 'nbs' / '04_losses.html').read_text()
    assert re.search(r'<math [^>]*display="block"', html) and 'mathjax' not in html.lower()
    with chromium(viewport=(1280, 900)) as page:
        page.route('**/*', lambda r: r.continue_() if r.request.url.startswith('file:') else r.abort())  # offline
        page.goto((site / 'nbs' / '04_losses.html').as_uri())
        frac = page.locator('math[display="block"] mfrac').first
        frac.evaluate("e => e.closest('math').scrollIntoView({block: 'center'})")
        num, den = (frac.locator(':scope > *').nth(i).bounding_box() for i in (0, 1))
        assert num and den and num['y'] + num['height'] <= den['y'] + 1, f'fraction not laid out as MathML: {num} {den}'
        page.screenshot(path=out / 'equations.png')
    assert (out / 'equations.png').stat().st_size > 10_000
