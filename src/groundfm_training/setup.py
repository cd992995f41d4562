"""ament_python package groundfm_training: offline training that reuses groundfm's ROS-free core."""

from setuptools import find_packages, setup

setup(
    name='groundfm_training',
    version='0.1.0',
    packages=find_packages(exclude=['test', 'tests']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/groundfm_training']),
        ('share/groundfm_training', ['package.xml']),
    ],
    install_requires=['setuptools'],
    zip_safe=False,
    description='Offline training for groundfm models.',
    license='Apache-2.0',
)
