"""The one `groundfm` entry point. Each verb lives in its own module and registers itself here.

A verb module exposes `add_parser(subparsers) -> argparse.ArgumentParser`; the parser's `func` default is called
with the parsed namespace and returns the exit code. Verbs whose capability has not landed say so plainly.
"""

import argparse
import importlib
import sys

# verb -> module providing add_parser(); listed in the order `groundfm --help` shows them.
VERBS = {
    'launch': 'groundfm.ros.launcher',
    'demo': 'groundfm.demo',
    'navigate': 'groundfm.navigation.client',
    'ask': 'groundfm.scene.client',
    'topic': 'groundfm.ros.topic_tools',
    'record': 'groundfm.ros.recorder',
    'depth': 'groundfm.depth.cli',
    'bench': 'groundfm.bench.cli',
}


def build_parser() -> argparse.ArgumentParser:
    """The full `groundfm` argument parser, one sub-parser per verb."""
    parser = argparse.ArgumentParser(
        prog='groundfm',
        description='groundfm: 3D foundation models grounded on a quadruped, on ROS 2.',
    )
    sub = parser.add_subparsers(dest='verb', metavar='VERB', required=True)
    for module_name in VERBS.values():
        importlib.import_module(module_name).add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the verb; returns (and exits with) its exit code."""
    args = build_parser().parse_args(argv)
    try:
        code = args.func(args)
    except KeyboardInterrupt:
        code = 130
    if argv is None:
        sys.exit(code)
    return code


if __name__ == '__main__':
    main()
