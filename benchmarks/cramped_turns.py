"""Does an in-place turn next to furniture or in a doorway tip the Go2 over, and how does the yaw rate change that?

For each house seed, one spot and a random heading:
- `--spots furniture`: clearance 0.24-0.34 m to the nearest wall or furniture (room for the body's half width, not
  for its 0.38 m turning sweep);
- `--spots doorway`: in each of the house's first two doorways, 0.3 m or more from both jambs, up to 0.35 m off the
  wall line.
At each yaw rate the robot is put there afresh, stands for 2 s and turns in place for a full turn plus 1 s, with the
controller in-process on the MuJoCo Go2 (no ROS). A spot where the robot falls while standing (it was put down
touching something) is left out.

    python benchmarks/cramped_turns.py --seeds 3000 3100 --rates 1.0 0.4 --json OUT
    python benchmarks/cramped_turns.py --spots doorway --seeds 3000 3100 --rates 0.6 0.4 --json OUT

writes {"datasets": {DATASET: {"yaw_rate_R": {"fall_rate": ..., "falls": ..., "spots": ...}}}}, DATASET being
"cramped_turns" or "doorway_turns".
"""

import argparse
import math
import sys

import numpy as np
from tqdm import tqdm

from groundfm.control.controller import LocomotionController, Mode, RobotState
from groundfm.io import atomic_write_json
from groundfm.navigation.planner import box_mask, build_costmap, grid_from_house
from groundfm.sim.config import SimConfig
from groundfm.sim.house import generate_house
from groundfm.sim.world import MotorCommand, SimWorld

CONTROL_RATE_HZ = 50.0
CLEARANCE_M = (0.24, 0.34)  # the spot's distance to the nearest obstacle [m]
STAND_S = 2.0


def _state(world: SimWorld) -> RobotState:
    base = world.base_state()
    q, dq, _ = world.joint_state()
    return RobotState(base.orientation_xyzw, base.angular_velocity, base.linear_velocity, q, dq)


def _falls_within(world: SimWorld, controller: LocomotionController, seconds: float) -> bool:
    """Close the loop for seconds of sim time; True as soon as the controller detects a fall."""
    steps = round(1.0 / CONTROL_RATE_HZ / world.physics_dt)
    dt = steps * world.physics_dt
    for _ in range(round(seconds / dt)):
        target = controller.step(_state(world), dt)
        world.set_motor_command(MotorCommand(target.q, target.dq, target.kp, target.kd, target.tau))
        world.step(steps)
        if controller.mode is Mode.FALLEN:
            return True
    return False


def cramped_spot(seed: int, rng: np.random.Generator) -> tuple[float, float, float] | None:
    """(x, y, yaw) of a random free spot inside a room of house seed with clearance in CLEARANCE_M, or None."""
    house = generate_house(seed)
    grid = grid_from_house(house.to_json(), 0.05)
    distance = build_costmap(grid, 0.0).distance
    indoors = np.zeros(grid.shape, bool)
    for room in house.rooms:
        indoors |= box_mask(grid, (room.x_min, room.y_min, room.x_max, room.y_max))
    rows, cols = np.nonzero((distance >= CLEARANCE_M[0]) & (distance <= CLEARANCE_M[1]) & ~grid.occupied() & indoors)
    if not len(rows):
        return None
    i = rng.integers(len(rows))
    x, y = grid.center_of(np.array([[rows[i], cols[i]]]))[0]
    return float(x), float(y), float(rng.uniform(-math.pi, math.pi))


def doorway_spots(seed: int, rng: np.random.Generator, doors: int = 2) -> list[tuple[float, float, float]]:
    """(x, y, yaw) in each of the first `doors` doorways of house seed: the centre 0.3 m or more from both jambs and
    within 0.35 m of the wall line, with a random heading."""
    spots = []
    for door in generate_house(seed).doors[:doors]:
        along = rng.uniform(-1.0, 1.0) * (door.width / 2 - 0.3)
        across = rng.uniform(-0.35, 0.35)
        x, y = door.center
        x, y = (x + along, y + across) if door.axis == 'x' else (x + across, y + along)
        spots.append((float(x), float(y), float(rng.uniform(-math.pi, math.pi))))
    return spots


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--seeds', type=int, nargs=2, default=(3000, 3100), metavar=('FIRST', 'END'),
                        help='house seeds FIRST .. END-1')
    parser.add_argument('--rates', type=float, nargs='+', default=[1.0, 0.4], help='yaw rates to compare [rad/s]')
    parser.add_argument('--spots', choices=('furniture', 'doorway'), default='furniture',
                        help='where to turn: next to furniture (one spot per house) or in doorways (two per house)')
    parser.add_argument('--json', help='write the results document here')
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    falls = {rate: 0 for rate in args.rates}
    spots = 0
    for seed in tqdm(range(*args.seeds), desc='houses'):
        if args.spots == 'doorway':
            house_spots = doorway_spots(seed, rng)
        else:
            house_spots = [spot] if (spot := cramped_spot(seed, rng)) is not None else []
        if not house_spots:
            continue
        world = SimWorld(generate_house(seed), SimConfig())
        try:
            for spot in house_spots:
                outcome = {}
                for rate in args.rates:
                    world.reset(spot)
                    controller = LocomotionController()
                    if _falls_within(world, controller, STAND_S):
                        break  # put down touching something: not a turning fall
                    controller.set_velocity(0.0, 0.0, rate)
                    outcome[rate] = _falls_within(world, controller, 2 * math.pi / rate + 1.0)
                else:
                    spots += 1
                    for rate, fell in outcome.items():
                        falls[rate] += fell
                    tqdm.write(f'seed {seed} at ({spot[0]:.2f}, {spot[1]:.2f}): ' + ', '.join(
                        f'{rate:g} rad/s {"FELL" if fell else "ok"}' for rate, fell in outcome.items()))
        finally:
            world.close()
    results = {f'yaw_rate_{rate:g}': {'fall_rate': falls[rate] / max(spots, 1), 'falls': falls[rate], 'spots': spots}
               for rate in args.rates}
    for method, metrics in results.items():
        print(f'{method}: {metrics["falls"]} falls in {spots} spots ({metrics["fall_rate"]:.3f})')
    if args.json:
        dataset = 'doorway_turns' if args.spots == 'doorway' else 'cramped_turns'
        atomic_write_json(args.json, {'datasets': {dataset: results}})
    return 0


if __name__ == '__main__':
    sys.exit(main())
