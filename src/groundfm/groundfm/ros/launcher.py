"""`groundfm launch`: run a ROS 2 launch file here, like `ros2 launch groundfm <file>` on a system ROS 2.

Example:  groundfm launch robot_dog scene_seed:=3 depth:=true        (--show-args lists arguments, --print dry-runs)

Where the real launch / launch_ros are installed, the verb hands over to `ros2 launch`. Elsewhere (ROS 2 from PyPI) it
loads the same file through `groundfm.ros.launch_compat`, checks arguments, executables and parameter files before
starting anything (exit 2 on a problem), then supervises one process per node the way launch does: output relayed
with a `[name-N]` prefix, respawn, `on_exit=Shutdown()` ending the launch, and on Ctrl-C or SIGTERM each process group
gets SIGINT, then SIGTERM after sigterm_timeout, then SIGKILL after sigkill_timeout (5 s each). Children also get
SIGTERM if the launcher itself dies. Exit code: 0 on Ctrl-C or when all processes ended cleanly, 1 if a required
node died (or a process failed with nothing left running), 2 if the launch could not start.

From Python, `start_launch('robot_dog', {...})` runs `groundfm launch` in the background: see LaunchSession.
"""

import argparse
import atexit
import ctypes
import importlib.util
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import yaml

from groundfm.ros.launch_compat import LaunchError, LaunchPlan, ProcessSpec, evaluate, load_launch_file
from groundfm.ros.launch_compat import real_launch_available as _real_launch_available
from groundfm.ros.launch_compat.ros import package_share

PACKAGE = 'groundfm'
# Capability nodes announced by the launch file before their code lands: a clearer error than "not found".
PLANNED_NODES = ('depth', 'mapping', 'scene', 'navigation', 'control')
POLL_S = 0.05  # supervisor loop period [s]


class UsageError(Exception):
    """The launch cannot start: bad arguments, missing files or executables, invalid parameters (exit code 2)."""


# --- finding and checking a launch ------------------------------------------------------------------------------


def find_launch_file(name_or_path: str, package: str = PACKAGE) -> Path:
    """A path to a launch file, or a name in share/<package>/launch: 'robot_dog' or 'robot_dog.launch.py'."""
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path.resolve()
    if os.sep in name_or_path:
        raise UsageError(f'launch file {name_or_path} does not exist')
    file_name = name_or_path if name_or_path.endswith('.py') else f'{name_or_path}.launch.py'
    try:
        folder = Path(package_share(package)) / 'launch'
    except LaunchError as err:
        raise UsageError(str(err)) from err
    if not (folder / file_name).is_file():
        known = sorted(p.name.removesuffix('.launch.py') for p in folder.glob('*.launch.py'))
        raise UsageError(f"no launch file '{file_name}' in {folder}; available: {', '.join(known) or 'none'}")
    return folder / file_name


def parse_launch_arguments(tokens: Iterable[str]) -> dict[str, str]:
    """`name:=value` tokens as a dict; a malformed token is a UsageError."""
    arguments = {}
    for token in tokens:
        name, sep, value = token.partition(':=')
        if not sep or not re.fullmatch(r'[A-Za-z_][A-Za-z0-9_]*', name):
            raise UsageError(f"malformed launch argument '{token}': expected name:=value, e.g. scene_seed:=3")
        arguments[name] = value
    return arguments


def _flatten(values: Mapping[str, Any], prefix: str = '') -> dict[str, Any]:
    """Nested parameter mappings as dotted names, as rcl reads them."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f'{prefix}{key}.'))
        else:
            flat[f'{prefix}{key}'] = value
    return flat


def _specs(node_name: str | None) -> tuple | None:
    """groundfm's parameter specs for a node name, or None if it is not a groundfm node."""
    from groundfm.parameters import specs_for

    return specs_for(node_name) if node_name else None


def _sections(data: Any, path: list[str], where: str, problems: list[str]) -> Iterable[tuple[str, dict[str, Any]]]:
    """(node key, ros__parameters) of a parameter file, nested namespaces allowed; structure errors go to problems."""
    key = '/'.join(path)
    if 'ros__parameters' in data:
        extra = [k for k in data if k != 'ros__parameters']
        if extra:
            problems.append(f"{where}: '{key}' has {', '.join(map(str, extra))} beside ros__parameters")
        if not isinstance(data['ros__parameters'], Mapping):
            problems.append(f"{where}: '{key}.ros__parameters' must be a mapping of parameter names to values")
            return
        yield key, _flatten(data['ros__parameters'])
        return
    loose = [str(k) for k, v in data.items() if not isinstance(v, Mapping)]
    if loose or not data:
        at = f"'{key}' needs" if key else 'the top level needs node names (or /**), each with'
        problems.append(f"{where}: {at} 'ros__parameters:' above its values (found: {', '.join(loose) or 'nothing'})")
    for child, value in data.items():
        if isinstance(value, Mapping):
            yield from _sections(value, [*path, str(child)], where, problems)


def check_parameter_file(path: str, node_name: str | None) -> list[str]:
    """Problems of a parameter file given to node `node_name`: YAML syntax, structure, and each groundfm node's section
    (and wildcard sections such as /**, for the node it is given to) against its declared parameters."""
    from groundfm.parameters import validate

    try:
        text = Path(path).read_text(encoding='utf-8')
    except OSError as err:
        return [f'{path}: cannot read: {err.strerror}']
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, 'problem_mark', None)
        line = f' line {mark.line + 1}' if mark is not None else ''
        reason = getattr(err, 'problem', None) or str(err).splitlines()[0]
        return [f'{path}{line}: invalid YAML: {reason}']
    if not isinstance(data, Mapping) or not data:
        return [f"{path}: expected node names (or /**) at the top level, each with 'ros__parameters:'"]
    problems: list[str] = []
    for key, values in list(_sections(data, [], path, problems)):
        leaf = key.rstrip('/').rsplit('/', 1)[-1]
        specs = _specs(node_name) if '*' in leaf else _specs(leaf)
        if specs is not None:
            problems += [f'{path}: {key}: {problem}' for problem in validate(specs, values)]
    return problems


def _missing_executable_hint(spec: ProcessSpec) -> str:
    """Why a groundfm node's executable is missing, and what to do."""
    if spec.package != PACKAGE or not spec.executable:
        return 'install the package (colcon build, or pip install it) or fix the launch file'
    capability = spec.executable.removesuffix('_node')
    if capability in PLANNED_NODES and importlib.util.find_spec(f'{PACKAGE}.{capability}') is None:
        return f'the {capability} node has not landed yet: launch with {capability}:=false'
    return 'reinstall groundfm so its console scripts exist: bash scripts/install.sh (or pip install ./src/groundfm)'


def check_plan(plan: LaunchPlan) -> list[str]:
    """Every reason the plan cannot start: missing executables or files, invalid parameter files and dict values."""
    problems: list[str] = []
    for spec in plan.processes:
        for problem in spec.problems:
            hint = f' — {_missing_executable_hint(spec)}' if problem.startswith("executable '") else ''
            problems.append(f'{spec.name}: {problem}{hint}')
        for path in spec.param_files:
            if os.path.isfile(path):
                problems += [p for p in check_parameter_file(path, spec.node_name) if p not in problems]
        specs = _specs(spec.node_name)
        if specs is not None:
            from groundfm.parameters import validate

            for values in spec.param_dicts:
                problems += [f"{spec.name}: parameters set in the launch file for node '{spec.node_name}': {p}"
                             for p in validate(specs, values)]
    return problems


def plan_launch(name_or_path: str, arguments: Mapping[str, str], temp_dir: str | None = None) -> LaunchPlan:
    """Load, evaluate and check a launch; raises UsageError with every problem found."""
    path = find_launch_file(name_or_path)
    try:
        plan = evaluate(load_launch_file(path), dict(arguments), temp_dir=temp_dir)
    except LaunchError as err:
        raise UsageError(str(err)) from err
    problems = check_plan(plan)
    if problems:
        for temp in plan.temp_files:
            Path(temp).unlink(missing_ok=True)
        raise UsageError('\n  '.join([f'{path.name}: nothing was started:', *problems]))
    return plan


def show_arguments(name_or_path: str) -> str:
    """The declared arguments with descriptions and defaults, formatted like `ros2 launch -s`."""
    from groundfm.ros.launch_compat.core import describe

    try:
        description = load_launch_file(find_launch_file(name_or_path))
    except LaunchError as err:
        raise UsageError(str(err)) from err
    lines = ["Arguments (pass arguments as '<name>:=<value>'):"]
    for argument in description.get_launch_arguments():
        lines += ['', f"    '{argument.name}':", f'        {argument.description}']
        if argument.default_value is not None:
            lines.append(f'        (default: {describe(argument.default_value)})')
    if len(lines) == 1:
        lines += ['', '  No arguments.']
    return '\n'.join(lines)


# --- supervising processes ------------------------------------------------------------------------------------------


def _die_with_launcher() -> None:
    """In the child before exec: get SIGTERM if the launcher dies, even by SIGKILL (Linux prctl PR_SET_PDEATHSIG)."""
    if _PRCTL is not None:
        _PRCTL(1, int(signal.SIGTERM))


try:
    _PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith('linux') else None
except (OSError, AttributeError):
    _PRCTL = None


@dataclass
class ProcessState:
    """A process of the launch: its spec, the live Popen (None between runs) and its history."""

    spec: ProcessSpec
    popen: subprocess.Popen | None = None
    starts: int = 0
    returncode: int | None = None  # of the last run
    respawn_at: float | None = None  # monotonic time of a pending respawn [s]
    signal_stage: int = 0  # 0 running, 1 SIGINT sent, 2 SIGTERM sent, 3 SIGKILL sent
    signalled_at: float = 0.0  # monotonic time the shutdown SIGINT was sent [s]
    relays: tuple[threading.Thread, ...] = ()


class LaunchRunner:
    """Runs a checked LaunchPlan in this process, launch style; `run()` blocks until every process is gone."""

    def __init__(self, plan: LaunchPlan, stdout: IO[str] | None = None, stderr: IO[str] | None = None) -> None:
        self.plan = plan
        self.states = [ProcessState(spec) for spec in plan.processes]
        self._stdout, self._stderr = stdout, stderr
        self._write_lock = threading.Lock()
        self._shutdown_reason: str | None = None  # set from signal handlers: flags only, the loop does the work
        self._shutting_down = False
        self._interrupted = False
        self._failed = False  # a required process died

    def request_shutdown(self, reason: str, interrupted: bool = False) -> None:
        """Ask the loop to shut everything down (safe from a signal handler)."""
        if self._shutdown_reason is None:
            self._shutdown_reason = reason
            self._interrupted = interrupted

    def _write(self, text: str, error: bool = False) -> None:
        stream = (self._stderr or sys.stderr) if error else (self._stdout or sys.stdout)
        with self._write_lock:
            stream.write(text + '\n')
            stream.flush()

    def _log(self, level: str, logger: str, message: str) -> None:
        self._write(f'[{level}] [{logger}]: {message}', error=level in ('WARNING', 'ERROR'))

    def _relay(self, pipe: IO[bytes], name: str, error: bool) -> None:
        with pipe:
            for raw in iter(pipe.readline, b''):
                self._write(f'[{name}] {raw.decode(errors="replace").rstrip()}', error=error)

    def _start(self, state: ProcessState) -> None:
        spec = state.spec
        env = {**os.environ, 'PYTHONUNBUFFERED': os.environ.get('PYTHONUNBUFFERED', '1'), **spec.env}
        state.starts += 1
        state.respawn_at, state.signal_stage = None, 0
        try:
            state.popen = subprocess.Popen(
                spec.cmd, cwd=spec.cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, start_new_session=True, preexec_fn=_die_with_launcher)
        except OSError as err:
            self._log('ERROR', spec.name, f'could not start {shlex.join(spec.cmd)}: {err}')
            self._exited(state, 127)
            return
        self._log('INFO', spec.name, f'process started with pid [{state.popen.pid}]')
        state.relays = tuple(threading.Thread(target=self._relay, args=(pipe, spec.name, error), daemon=True)
                             for pipe, error in ((state.popen.stdout, False), (state.popen.stderr, True)))
        for relay in state.relays:
            relay.start()

    def _exited(self, state: ProcessState, returncode: int) -> None:
        spec, pid = state.spec, state.popen.pid if state.popen else None
        for relay in state.relays:  # print the process's last lines before its exit line
            relay.join(timeout=1.0)
        state.popen, state.returncode, state.relays = None, returncode, ()
        if returncode == 0:
            self._log('INFO', spec.name, f'process has finished cleanly [pid {pid}]')
        else:
            self._log('ERROR', spec.name,
                      f"process has died [pid {pid}, exit code {returncode}, cmd '{' '.join(spec.cmd)}'].")
        for message in spec.exit_messages:
            self._log('INFO', 'launch.user', message)
        if spec.required:
            self._failed |= returncode != 0 and not self._shutting_down
            self.request_shutdown(f'{spec.name} exited and is required (on_exit=Shutdown())')
        elif spec.respawn and self._shutdown_reason is None:
            state.respawn_at = time.monotonic() + spec.respawn_delay

    def _escalate(self, state: ProcessState, now: float) -> None:
        """SIGINT, then SIGTERM after sigterm_timeout, then SIGKILL after sigkill_timeout more, to the process group."""
        spec = state.spec
        steps = ((1, 0.0, signal.SIGINT), (2, spec.sigterm_timeout, signal.SIGTERM),
                 (3, spec.sigterm_timeout + spec.sigkill_timeout, signal.SIGKILL))
        for stage, after, signum in steps:
            if state.signal_stage < stage and now - state.signalled_at >= after:
                if stage > 1:
                    previous = 'SIGINT' if stage == 2 else 'SIGTERM'
                    waited = spec.sigterm_timeout if stage == 2 else spec.sigkill_timeout
                    self._log('ERROR', spec.name, f"process[{spec.name}] failed to terminate '{waited:g}' seconds "
                                                  f"after receiving '{previous}', escalating to '{signum.name}'")
                else:
                    state.signalled_at = now
                with_group_signal(state.popen.pid, signum)
                state.signal_stage = stage

    def run(self) -> int:
        """Start every process, supervise until all are gone; returns the launch's exit code."""
        for message in self.plan.messages:
            self._log('INFO', 'launch.user', message)
        if self.plan.shutdown_reason is not None:
            self._log('INFO', 'launch', f'shutdown requested by the launch file: {self.plan.shutdown_reason}')
            return 0
        try:
            for state in self.states:
                if self._shutdown_reason is None:
                    self._start(state)
            while True:
                now = time.monotonic()
                if self._shutdown_reason is not None and not self._shutting_down:
                    self._shutting_down = True
                    level = 'WARNING' if self._interrupted else 'INFO'
                    self._log(level, 'launch', self._shutdown_reason)
                for state in self.states:
                    if state.popen is not None and (code := state.popen.poll()) is not None:
                        self._exited(state, code)
                    if state.popen is not None and self._shutting_down:
                        self._escalate(state, now)
                    if state.respawn_at is not None and not self._shutting_down and now >= state.respawn_at:
                        self._start(state)
                running = any(s.popen is not None for s in self.states)
                pending = not self._shutting_down and any(s.respawn_at is not None for s in self.states)
                if not running and not pending:
                    break
                time.sleep(POLL_S)
        finally:
            for state in self.states:  # never leave anything behind, grandchildren included
                if state.popen is not None:
                    with_group_signal(state.popen.pid, signal.SIGKILL)
                    state.popen.wait()
                    self._exited(state, state.popen.returncode)
            for temp in self.plan.temp_files:
                Path(temp).unlink(missing_ok=True)
        if self._failed:
            return 1
        if self._shutdown_reason is not None:  # Ctrl-C, SIGTERM, or a required process that ended cleanly
            return 0
        return 0 if all(s.returncode in (0, None) for s in self.states) else 1


def with_group_signal(pid: int, signum: int) -> None:
    """Signal a process group (each launched process leads its own); ignore one that is already gone."""
    try:
        os.killpg(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def run_plan(plan: LaunchPlan) -> int:
    """Run a plan in the foreground: Ctrl-C (SIGINT) and SIGTERM shut it down cleanly."""
    runner = LaunchRunner(plan)
    names = {signal.SIGINT: 'user interrupted with ctrl-c (SIGINT)', signal.SIGTERM: 'received SIGTERM'}

    def on_signal(signum: int, _frame: Any) -> None:
        runner.request_shutdown(names[signum], interrupted=True)

    previous = {signum: signal.signal(signum, on_signal) for signum in names}
    try:
        return runner.run()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


# --- the verb --------------------------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    """Run `groundfm launch` with parsed arguments; returns the exit code."""
    tokens = list(args.launch_arguments)
    launch_file = args.launch_file
    if launch_file == PACKAGE and tokens and ':=' not in tokens[0]:  # `groundfm launch groundfm robot_dog.launch.py`
        launch_file = tokens.pop(0)
    try:
        arguments = parse_launch_arguments(tokens)
        if _real_launch_available():
            return _hand_over_to_ros2_launch(find_launch_file(launch_file), tokens, args)
        if args.show_args:
            print(show_arguments(launch_file))
            return 0
        plan = plan_launch(launch_file, arguments)
    except UsageError as err:
        print(f'groundfm launch: error: {err}', file=sys.stderr)
        return 2
    if args.print_only:
        for spec in plan.processes:
            print(f'[{spec.name}] {shlex.join(spec.cmd)}')
        return 0
    return run_plan(plan)


def _hand_over_to_ros2_launch(path: Path, tokens: list[str], args: argparse.Namespace) -> int:
    """With the real launch installed (a system ROS 2), `ros2 launch` runs the file itself."""
    ros2 = shutil.which('ros2')
    if ros2 is None:
        raise UsageError('the ROS 2 launch package is installed but the ros2 command is not on PATH: source ROS 2')
    flags = ['--show-args'] if args.show_args else ['--print'] if args.print_only else []
    os.execv(ros2, [ros2, 'launch', str(path), *tokens, *flags])
    return 0  # not reached


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the `launch` verb."""
    parser = subparsers.add_parser(
        'launch', help='bring up the robot from a launch file (like ros2 launch)', description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('launch_file', help="a launch file in share/groundfm/launch ('robot_dog' or "
                                            "'robot_dog.launch.py') or a path to one")
    parser.add_argument('launch_arguments', nargs='*', metavar='name:=value', help='launch arguments')
    parser.add_argument('-s', '--show-args', '--show-arguments', action='store_true',
                        help='list the declared launch arguments with descriptions and defaults, then exit')
    parser.add_argument('--print', dest='print_only', action='store_true',
                        help="print each process's command line (dry run), then exit")
    parser.set_defaults(func=run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """`python -m groundfm.ros.launcher ...`: the verb without the rest of the CLI."""
    parser = argparse.ArgumentParser(prog='groundfm')
    add_parser(parser.add_subparsers(dest='verb', required=True))
    args = parser.parse_args(['launch', *(sys.argv[1:] if argv is None else argv)])
    return args.func(args)


# --- the Python API ---------------------------------------------------------------------------------------------------

_STARTED = re.compile(r'^\[INFO\] \[(?P<name>[^\]]+)\]: process started with pid \[(?P<pid>\d+)\]')
_ENDED = re.compile(r'^\[(?:INFO|ERROR)\] \[(?P<name>[^\]]+)\]: process has (?:finished cleanly|died) \[pid (\d+)')
_SESSIONS: 'set[LaunchSession]' = set()


class LaunchSession:
    """`groundfm launch` running in the background; the processes it started are read from its launch-style log.

    with start_launch('robot_dog', {'scene_seed': '3'}) as launch:
        launch.wait_for_processes(['sim_node-1'])
        ...                                         # talk to the stack
    # leaving the block is Ctrl-C: SIGINT -> SIGTERM -> SIGKILL, every process gone
    """

    def __init__(self, launch_file: str = 'robot_dog', arguments: Mapping[str, str] | None = None, *,
                 echo: IO[str] | None = None, env: Mapping[str, str] | None = None) -> None:
        self.command = [sys.executable, '-m', 'groundfm.ros.launcher', str(launch_file),
                        *(f'{name}:={value}' for name, value in (arguments or {}).items())]
        self.echo = echo  # where to copy the launch's output as it comes (None: keep it only in .lines)
        # The launcher imports the same groundfm as its caller (a checkout on sys.path, or the installed one).
        source = str(Path(__file__).resolve().parents[2])
        python_path = os.pathsep.join(p for p in (source, os.environ.get('PYTHONPATH', '')) if p)
        self.env = {**os.environ, 'PYTHONPATH': python_path, **(env or {})}
        self.lines: list[str] = []  # the launch's output so far, stdout and stderr interleaved
        self.starts: dict[str, int] = {}  # process name -> how many times it was started
        self._running: dict[str, int] = {}  # process name -> pid, while it runs
        self._changed = threading.Condition()
        self._popen: subprocess.Popen | None = None
        self._reader: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        """The launcher's pid."""
        return self._popen.pid if self._popen else None

    @property
    def processes(self) -> dict[str, int]:
        """Processes running now: name ('sim_node-1') -> pid."""
        with self._changed:
            return dict(self._running)

    def start(self) -> 'LaunchSession':
        """Start the launcher; returns at once (see wait_for_processes)."""
        main_thread = threading.current_thread() is threading.main_thread()
        self._popen = subprocess.Popen(  # SIGINT to the launcher if this process dies: it then cleans up
            self.command, env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=(lambda: _PRCTL(1, int(signal.SIGINT))) if main_thread and _PRCTL else None)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        _SESSIONS.add(self)
        return self

    def _read(self) -> None:
        for raw in iter(self._popen.stdout.readline, b''):
            line = raw.decode(errors='replace').rstrip('\n')
            with self._changed:
                self.lines.append(line)
                if started := _STARTED.match(line):
                    self._running[started['name']] = int(started['pid'])
                    self.starts[started['name']] = self.starts.get(started['name'], 0) + 1
                elif ended := _ENDED.match(line):
                    self._running.pop(ended['name'], None)
                self._changed.notify_all()
            if self.echo is not None:
                self.echo.write(line + '\n')
                self.echo.flush()
        with self._changed:
            self._changed.notify_all()

    def poll(self) -> int | None:
        """The launcher's exit code, or None while it runs."""
        return self._popen.poll() if self._popen else None

    def wait_for_processes(self, names: Iterable[str], timeout: float = 30.0) -> dict[str, int]:
        """Block until the named processes run (name -> pid); RuntimeError if the launch ends or time runs out."""
        names = list(names)
        deadline = time.monotonic() + timeout
        with self._changed:
            while not all(name in self._running for name in names):
                left = deadline - time.monotonic()
                if self.poll() is not None or left <= 0:
                    tail = '\n'.join(self.lines[-20:])
                    state = f'exited with {self.poll()}' if self.poll() is not None else f'timed out after {timeout} s'
                    raise RuntimeError(f'launch {state} before {", ".join(names)} started:\n{tail}')
                self._changed.wait(min(left, 0.2))
            return {name: self._running[name] for name in names}

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the launch to end by itself; returns its exit code (subprocess.TimeoutExpired on timeout)."""
        code = self._popen.wait(timeout)
        if self._reader is not None:
            self._reader.join(timeout=5.0)
        _SESSIONS.discard(self)
        return code

    def stop(self, timeout: float = 20.0) -> int:
        """Ctrl-C the launch and wait for it: it escalates to SIGTERM and SIGKILL itself; returns its exit code."""
        if self._popen is None:
            return 0
        if self._popen.poll() is None:
            self._popen.send_signal(signal.SIGINT)
            try:
                return self.wait(timeout)
            except subprocess.TimeoutExpired:
                self._popen.kill()  # its children get SIGTERM through PR_SET_PDEATHSIG
        return self.wait()

    def __enter__(self) -> 'LaunchSession':
        return self if self._popen else self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def start_launch(launch_file: str = 'robot_dog', arguments: Mapping[str, str] | None = None, *,
                 echo: IO[str] | None = None, env: Mapping[str, str] | None = None) -> LaunchSession:
    """Start `groundfm launch launch_file name:=value ...` in the background; stop() (or a with block) ends it."""
    return LaunchSession(launch_file, arguments, echo=echo, env=env).start()


@atexit.register
def _stop_sessions() -> None:
    """A program exiting with launches still up stops them."""
    for session in list(_SESSIONS):
        session.stop()


if __name__ == '__main__':
    sys.exit(main())
