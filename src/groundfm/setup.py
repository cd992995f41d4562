"""ament_python package groundfm: the nodes, the ROS-free core and the `groundfm` CLI."""

from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = 'groundfm'
HERE = Path(__file__).resolve().parent


def share_files(folder: str) -> list[tuple[str, list[str]]]:
    """Install every file under `folder` (launch/, config/) into share/groundfm/, keeping sub-folders."""
    entries: dict[str, list[str]] = {}
    for path in sorted((HERE / folder).rglob('*')):
        if path.is_file() and '__pycache__' not in path.parts:
            rel = path.relative_to(HERE)
            entries.setdefault(f'share/{PACKAGE}/{rel.parent}', []).append(str(rel))
    return sorted(entries.items())


NODES = {
    'sim_node': 'groundfm.sim.node:main',
    'depth_node': 'groundfm.depth.node:main',
    'mapping_node': 'groundfm.mapping.node:main',
    'control_node': 'groundfm.control.node:main',
    'scene_node': 'groundfm.scene.node:main',
    'navigation_node': 'groundfm.navigation.node:main',
}

setup(
    name=PACKAGE,
    version='0.1.0',
    packages=find_packages(exclude=['test', 'tests']),
    data_files=[
        ('share/ament_index/resource_index/packages', [f'resource/{PACKAGE}']),
        (f'share/{PACKAGE}', ['package.xml']),
        *share_files('launch'),
        *share_files('config'),
        *share_files('models'),
    ],
    install_requires=['setuptools'],
    zip_safe=False,
    description='3D foundation models grounded on a quadruped robot, as ROS 2 nodes.',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'groundfm = groundfm.cli:main',
            *(f'{name} = {target}' for name, target in NODES.items()),
        ],
    },
)
