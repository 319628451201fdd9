"""Committed records carry no checkout path: a manifest, report or executed notebook made in `/home/me/cti_nb` must
not tell the next reader to look in `/home/me/cti_nb/runs/...` (`cti_nb.core.portable_paths` writes them relative)."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RECORDS = [p for pattern in ('figures/**/*.json', 'figures/**/*.md', 'figures/**/*.ipynb', 'bench/results/**/*.json',
                             'bench/results/**/*.md', 'cti_nb/weights/*.json') for p in ROOT.glob(pattern)]
# an absolute path into a checkout: /anything/.../runs/, /figures/, /nbs/, /bench/, /cti_nb/ or /.venv/
CHECKOUT_PATH = re.compile(r'(?<![\w.])/(?:[\w.-]+/)+?(?:runs|figures|nbs|bench|cti_nb|\.venv)/')


def test_there_are_records_to_check():
    assert len(RECORDS) > 50 and any(p.name == 'manifest.json' for p in RECORDS)


def test_no_committed_record_names_a_checkout_path():
    this_checkout = re.compile(r'(?<![\w.\-/])' + re.escape(ROOT.as_posix()) + r'(?![\w.\-])')
    bad = {str(p.relative_to(ROOT)): m.group(0) for p in RECORDS
           if (m := CHECKOUT_PATH.search(t := p.read_text(encoding='utf-8', errors='replace')) or this_checkout.search(t))}
    assert not bad, bad


def test_the_pattern_catches_what_it_should():
    assert CHECKOUT_PATH.search('"file": "/home/me/cti_nb/runs/reproduce/quick/seed_eval.json"')
    assert CHECKOUT_PATH.search('--data-root /work/main/runs/reproduce/full/data/synth-voc')
    assert not CHECKOUT_PATH.search('"file": "runs/reproduce/quick/seed_eval.json"')
    assert CHECKOUT_PATH.search('"command": "python /home/me/cti_nb/bench/affinity_bounds.py"')
    assert not CHECKOUT_PATH.search('--out /tmp/work/isa/avx2.json')
