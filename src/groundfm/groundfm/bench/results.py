"""The one benchmark schema: {"datasets": {NAME: {METHOD: {METRIC: number}}}}, plus a readable table."""

import json
import math
import os
import platform
from pathlib import Path

from groundfm.io import atomic_write_json

Results = dict[str, dict[str, dict[str, float]]]  # dataset -> method -> metric -> value

THIS_PROJECT = 'groundfm'  # the method name of this project's own numbers


def document(results: Results, command: str) -> dict:
    """The JSON document: the schema's `datasets`, plus where and how it was measured."""
    for dataset, methods in results.items():
        for method, metrics in methods.items():
            for metric, value in metrics.items():
                if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
                    raise ValueError(f'{dataset}/{method}/{metric} = {value!r} is not a finite number')
    return {'datasets': results, 'command': command, 'machine': machine_description()}


def machine_description() -> str:
    """CPU model and core count, for BENCHMARKS.md."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'):
                model = line.split(':', 1)[1].strip()
                break
    except OSError:
        pass
    return f'{model}, {os.cpu_count()} cores, Python {platform.python_version()}'


def write(path: str | Path, doc: dict) -> Path:
    """Write the document atomically."""
    return atomic_write_json(path, doc)


def load(path: str | Path) -> dict:
    """Read a results document and check its shape."""
    doc = json.loads(Path(path).read_text())
    if not isinstance(doc.get('datasets'), dict):
        raise ValueError(f'{path}: not a groundfm benchmark document (no "datasets" mapping)')
    return doc


def table(results: Results) -> str:
    """Rows of dataset / method / metric = value, aligned for a terminal."""
    rows = [(d, m, k, f'{v:.4g}') for d, methods in results.items() for m, metrics in methods.items()
            for k, v in metrics.items()]
    if not rows:
        return '(no results)'
    widths = [max(len(r[i]) for r in rows + [('dataset', 'method', 'metric', 'value')]) for i in range(4)]
    lines = ['  '.join(h.ljust(w) for h, w in zip(('dataset', 'method', 'metric', 'value'), widths, strict=True))]
    lines += ['  '.join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return '\n'.join(lines)


def check_targets(results: Results, targets: dict) -> list[tuple[str, str, float, str, bool]]:
    """Compare this project's numbers with one benchmark's targets (benchmarks/targets.yaml).

    Returns (dataset, metric, value, bar, met) rows; metrics or datasets not measured are skipped.
    """
    rows = []
    for dataset, metrics in (targets or {}).items():
        methods = results.get(dataset, {})
        ours = methods.get(THIS_PROJECT, {})
        for metric, bar in metrics.items():
            if metric not in ours:
                continue
            value = ours[metric]
            if 'min' in bar:
                rows.append((dataset, metric, value, f'>= {bar["min"]}', value >= bar['min']))
            if 'max' in bar:
                rows.append((dataset, metric, value, f'<= {bar["max"]}', value <= bar['max']))
            if 'below_method' in bar and metric in methods.get(bar['below_method'], {}):
                other = methods[bar['below_method']][metric]
                rows.append((dataset, metric, value, f'< {bar["below_method"]} ({other:.4g})', value < other))
    return rows
