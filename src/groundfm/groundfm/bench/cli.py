"""`groundfm bench NAME [--seeds ...] --json OUT`: every capability's benchmark behind one entry point and schema.

Each benchmark module exposes `add_arguments(parser)` and `run(args) -> Results` (see results.py); this verb prints
the table and writes the JSON document. Benchmarks whose capability has not landed are listed with their issue.
"""

import argparse
import importlib
import shlex
import sys
from pathlib import Path

import yaml

from groundfm.bench import results

BENCHMARKS = {
    'sim': 'groundfm.bench.sim',
    'mapping': 'groundfm.bench.mapping',
    'live_map': 'groundfm.bench.live_map',
    'locomotion': 'groundfm.bench.locomotion',
    'nav': 'groundfm.bench.nav',
    'depth': 'groundfm.bench.depth',
    'qa': 'groundfm.bench.qa',
}
NOT_LANDED = {
}


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the `bench` verb, one sub-verb per benchmark."""
    parser = subparsers.add_parser('bench', help='run a benchmark and write {"datasets": ...} JSON',
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest='benchmark', metavar='NAME', required=True)
    for name, module_name in BENCHMARKS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=module.__doc__.splitlines()[0], description=module.__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument('--json', metavar='OUT', help='write the results document here')
        p.add_argument('--seeds', type=int, nargs='+', default=[0], help='house seeds to run on')
        p.add_argument('--targets', default='benchmarks/targets.yaml',
                       help='targets to compare with, if the file exists (default: benchmarks/targets.yaml)')
        module.add_arguments(p)
        p.set_defaults(func=lambda args, module=module, name=name: _run(name, module, args))
    for name, issue in NOT_LANDED.items():
        p = sub.add_parser(name, help=f'not available yet: lands with {issue}')
        p.add_argument('rest', nargs=argparse.REMAINDER)
        p.set_defaults(func=lambda args, name=name, issue=issue: _not_landed(name, issue))
    return parser


def _run(name: str, module, args: argparse.Namespace) -> int:
    measured = module.run(args)
    print(results.table(measured))
    targets_path = Path(args.targets)
    if targets_path.is_file():
        rows = results.check_targets(measured, (yaml.safe_load(targets_path.read_text()) or {}).get(name, {}))
        for dataset, metric, value, bar, met in rows:
            print(f'{"MET " if met else "MISS"}  {dataset}/{metric} = {value:.4g} (target {bar})')
    if args.json:
        command = 'groundfm ' + ' '.join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv else ''
        path = results.write(args.json, results.document(measured, command))
        print(f'wrote {path}')
    return 0


def _not_landed(name: str, issue: str) -> int:
    print(f'error: benchmark {name!r} is not available yet; it lands with {issue}.', file=sys.stderr)
    return 2
