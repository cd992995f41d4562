"""Export a generated house as an SDFormat 1.9 world for Gazebo (Harmonic/Ionic, via ros_gz); no mujoco needed.

Every wall and piece of furniture is its own static model; furniture is named '<label>_<id>' and carries a Label
system plugin with its SceneObject.id (Gazebo's segmentation cameras report it). Colours are the SceneObject.rgb.
Example:  python3 -m groundfm.sim.gazebo --seed 3 --out /tmp/groundfm_house.sdf
"""

import argparse
import math
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from groundfm.sim.house import House, generate_house

ROBOT_NAME = 'go2'
SPAWN_Z = 0.35  # robot drop height [m]


def _fmt(*values: float) -> str:
    return ' '.join(f'{float(v):.6g}' for v in values)


def _plugin(parent: ET.Element, filename: str, name: str, **params: str) -> ET.Element:
    plugin = ET.SubElement(parent, 'plugin', filename=filename, name=name)
    for key, value in params.items():
        ET.SubElement(plugin, key).text = value
    return plugin


def _box_model(world: ET.Element, name: str, pose: tuple[float, ...], size: tuple[float, float, float],
               rgb: tuple[float, float, float]) -> ET.Element:
    """A static model with one box link: collision and coloured visual."""
    model = ET.SubElement(world, 'model', name=name)
    ET.SubElement(model, 'static').text = 'true'
    ET.SubElement(model, 'pose').text = _fmt(*pose)
    link = ET.SubElement(model, 'link', name='link')
    for tag in ('collision', 'visual'):
        element = ET.SubElement(link, tag, name=tag)
        ET.SubElement(ET.SubElement(ET.SubElement(element, 'geometry'), 'box'), 'size').text = _fmt(*size)
    material = ET.SubElement(link.find('visual'), 'material')
    for tag, scale in (('ambient', 0.6), ('diffuse', 1.0), ('specular', 0.05)):
        ET.SubElement(material, tag).text = _fmt(*(c * scale for c in rgb), 1.0)
    return model


def house_to_sdf(house: House, robot_uri: str = '') -> str:
    """SDFormat 1.9 world string of house; with robot_uri, the Go2 model is included at house.spawn."""
    if not isinstance(house, House):
        raise ValueError(f'house must be a House, got {type(house).__name__}')
    sdf = ET.Element('sdf', version='1.9')
    world = ET.SubElement(sdf, 'world', name=f'groundfm_house_{house.seed}')
    physics = ET.SubElement(world, 'physics', name='2ms', type='ignored')
    ET.SubElement(physics, 'max_step_size').text = '0.002'
    ET.SubElement(physics, 'real_time_factor').text = '1.0'
    for filename, name in (('gz-sim-physics-system', 'gz::sim::systems::Physics'),
                           ('gz-sim-user-commands-system', 'gz::sim::systems::UserCommands'),
                           ('gz-sim-scene-broadcaster-system', 'gz::sim::systems::SceneBroadcaster')):
        _plugin(world, filename, name)
    _plugin(world, 'gz-sim-sensors-system', 'gz::sim::systems::Sensors', render_engine='ogre2')
    scene = ET.SubElement(world, 'scene')
    ET.SubElement(scene, 'ambient').text = '0.4 0.4 0.4 1'
    ET.SubElement(scene, 'background').text = '0.7 0.8 0.9 1'
    ET.SubElement(scene, 'shadows').text = 'false'
    sun = ET.SubElement(world, 'light', type='directional', name='sun')
    ET.SubElement(sun, 'cast_shadows').text = 'false'
    ET.SubElement(sun, 'diffuse').text = '0.8 0.8 0.8 1'
    ET.SubElement(sun, 'direction').text = '0.3 0.2 -1'

    ground = ET.SubElement(world, 'model', name='floor')
    ET.SubElement(ground, 'static').text = 'true'
    link = ET.SubElement(ground, 'link', name='link')
    plane = ET.SubElement(ET.SubElement(ET.SubElement(link, 'collision', name='collision'), 'geometry'), 'plane')
    ET.SubElement(plane, 'normal').text = '0 0 1'
    ET.SubElement(plane, 'size').text = _fmt(100, 100)
    for room, surface in zip(house.rooms, house.floor_surfaces, strict=True):  # one coloured tile per room
        visual = ET.SubElement(link, 'visual', name=f'floor_{room.name}')
        ET.SubElement(visual, 'pose').text = _fmt((room.x_min + room.x_max) / 2, (room.y_min + room.y_max) / 2,
                                                  -0.005, 0, 0, 0)
        box = ET.SubElement(ET.SubElement(visual, 'geometry'), 'box')
        ET.SubElement(box, 'size').text = _fmt(room.x_max - room.x_min, room.y_max - room.y_min, 0.01)
        material = ET.SubElement(visual, 'material')
        ET.SubElement(material, 'ambient').text = _fmt(*surface.rgb1, 1)
        ET.SubElement(material, 'diffuse').text = _fmt(*surface.rgb1, 1)

    for i, wall in enumerate(house.walls):
        (x0, y0), (x1, y1) = wall.start, wall.end
        _box_model(world, f'wall_{i}', ((x0 + x1) / 2, (y0 + y1) / 2, wall.height / 2, 0, 0,
                                        math.atan2(y1 - y0, x1 - x0)),
                   (math.hypot(x1 - x0, y1 - y0), wall.thickness, wall.height), house.wall_surface.rgb1)
    for obj in house.objects:
        model = _box_model(world, f'{obj.label}_{obj.id}', (*obj.center, 0, 0, obj.yaw), obj.size, obj.rgb)
        _plugin(model, 'gz-sim-label-system', 'gz::sim::systems::Label', label=str(obj.id))

    if robot_uri:
        x, y, yaw = house.spawn
        include = ET.SubElement(world, 'include')
        ET.SubElement(include, 'uri').text = robot_uri
        ET.SubElement(include, 'name').text = ROBOT_NAME
        ET.SubElement(include, 'pose').text = _fmt(x, y, SPAWN_Z, 0, 0, yaw)
        _plugin(include, 'gz-sim-joint-state-publisher-system', 'gz::sim::systems::JointStatePublisher',
                topic='joint_states')
        _plugin(include, 'gz-sim-odometry-publisher-system', 'gz::sim::systems::OdometryPublisher',
                odom_frame='odom', robot_base_frame='base_link', odom_topic='odom', dimensions='3',
                odom_publish_frequency='100')
    ET.indent(sdf)
    return '<?xml version="1.0"?>\n' + ET.tostring(sdf, encoding='unicode') + '\n'


def main(argv: list[str] | None = None) -> int:
    """CLI: write the house world (and optionally the Go2 MJCF with the stereo cameras) for a seed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--seed', type=int, default=0, help='house seed')
    parser.add_argument('--num-rooms', type=int, default=4, help='rooms in the house (3..8)')
    parser.add_argument('--out', default='-', help="SDF output path ('-' = stdout)")
    parser.add_argument('--robot-uri', default='', help='include this robot model (file path or URI) at the spawn')
    parser.add_argument('--robot-mjcf-out', default='', help='also write the Go2 MJCF with stereo cameras here, '
                        'for conversion with mjcf2sdf (sdformat_mjcf)')
    args = parser.parse_args(argv)
    try:
        house = generate_house(args.seed, args.num_rooms)
    except ValueError as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    text = house_to_sdf(house, args.robot_uri)
    if args.out == '-':
        sys.stdout.write(text)
    else:
        Path(args.out).write_text(text)
    if args.robot_mjcf_out:
        from groundfm.sim.config import SimConfig  # imports mujoco: only when asked
        from groundfm.sim.world import go2_mjcf

        root = go2_mjcf(SimConfig(robot_meshes=True))
        Path(args.robot_mjcf_out).write_text(ET.tostring(root, encoding='unicode'))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
