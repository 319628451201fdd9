"""Shared helpers of the benchmark scripts: machine record, timing, peak memory, result tables and JSON."""
from __future__ import annotations

import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault('HF_HUB_OFFLINE', '1')
RESULTS = Path(__file__).resolve().parent / 'results'


def machine() -> dict:
    from cti_nb.core import env_info
    return env_info()


def peak_rss_mb() -> float:
    "Peak resident set size of this process so far (MiB)."
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def time_calls(fn, repeats: int = 5, warmup: int = 1) -> dict:
    "Median / min / max seconds of `fn()` over `repeats` calls after `warmup` calls."
    for _ in range(warmup): fn()
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter(); fn(); ts.append(time.perf_counter() - t0)
    return {'median_s': statistics.median(ts), 'min_s': min(ts), 'max_s': max(ts), 'repeats': repeats}


def table(rows: list[dict], cols: list[str]) -> str:
    "A plain markdown table of `rows` restricted to `cols`."
    fmt = lambda v: f'{v:.4g}' if isinstance(v, float) else str(v)
    lines = ['| ' + ' | '.join(cols) + ' |', '|' + '---|' * len(cols)]
    lines += ['| ' + ' | '.join(fmt(r.get(c, '')) for c in cols) + ' |' for r in rows]
    return '\n'.join(lines)


def save_record(payload: dict, out: str | os.PathLike) -> Path:
    "`payload` as JSON at `out`, atomically, with the checkout's paths relative to it (whatever the working directory)."
    from cti_nb.core import portable_paths, save_json
    return save_json(portable_paths(payload, RESULTS.parent.parent), out)


def write_result(name: str, payload: dict, out: str | os.PathLike | None = None) -> Path:
    "Write `payload` with the command and the machine record to `out` (default bench/results/<name>.json)."
    payload = {'benchmark': name, 'command': ' '.join([Path(sys.executable).name] + sys.argv),
               'machine': machine(), **payload}
    return save_record(payload, Path(out) if out else RESULTS / f'{name}.json')
