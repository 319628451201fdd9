"""Equations on the docs pages are MathML, converted when the site is built (no MathJax, no network): a method notebook
rendered without executing it, and every formula of the notebooks converting. Fast: part of `make pytest`."""
import re
import warnings

import nbformat

from browser_util import REPO
from cti_nb.docs import markdown_html, render_notebook


def _outside_code(page: str) -> str:
    "The page without its <script>, <style>, <pre> and <code> elements, where a dollar sign is not math."
    return re.sub(r'<(script|style|pre|code)\b.*?</\1>', '', page, flags=re.S | re.I)


def test_losses_page_shows_its_equations_as_mathml():
    nb = nbformat.read(REPO / 'nbs' / '04_losses.ipynb', as_version=4)
    with warnings.catch_warnings():
        warnings.filterwarnings('error', message='formula left as TeX')
        page = render_notebook(nb, 'nbs/04_losses.html', '', '04_losses')
    formulas = sum(markdown_html(c.source).count('<math') for c in nb.cells if c.cell_type == 'markdown')
    assert formulas >= 30 and page.count('<math') == formulas, 'a formula is missing from the page'
    assert not re.search(r'<\w+:math\b', page), 'a prefixed <ns0:math> (a heading) is no MathML to a browser'
    assert len(re.findall(r'<math [^>]*display="block"', page)) >= 5
    assert 'mathjax' not in page.lower(), 'the page still loads MathJax from a CDN'
    text = _outside_code(page)
    assert '$$' not in text and '\\mathrm' not in text, 'raw TeX left on the page'


def test_every_formula_of_the_notebooks_converts():
    notebooks = sorted(REPO.glob('nbs/**/*.ipynb')) + sorted(REPO.glob('figures/*/notebooks/*.ipynb'))
    failed = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        for p in notebooks:
            for c in nbformat.read(p, as_version=4).cells:
                if c.cell_type != 'markdown' or '$' not in c.source: continue
                n = len(caught)
                markdown_html(c.source)
                failed += [f'{p.relative_to(REPO)}: {w.message}' for w in caught[n:] if 'left as TeX' in str(w.message)]
    assert failed == [], '\n'.join(failed)
