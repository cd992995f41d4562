import xml.etree.ElementTree as ET

from groundfm.sim.gazebo import house_to_sdf, main
from groundfm.sim.house import generate_house


def test_sdf_has_a_model_per_object_and_wall():
    house = generate_house(3)

    root = ET.fromstring(house_to_sdf(house))

    assert root.tag == 'sdf' and root.get('version') == '1.9'
    names = [m.get('name') for m in root.iter('model')]
    assert len(names) == len(house.objects) + len(house.walls) + 1  # + floor
    for obj in house.objects:
        model = next(m for m in root.iter('model') if m.get('name') == f'{obj.label}_{obj.id}')
        assert model.find('static').text == 'true'
        assert model.find('plugin/label').text == str(obj.id)
        diffuse = [float(v) for v in model.find('link/visual/material/diffuse').text.split()]
        assert diffuse[:3] == [float(f'{c:.6g}') for c in obj.rgb]
    assert sum(n.startswith('wall_') for n in names) == len(house.walls)
    assert root.find('world/include') is None


def test_same_seed_same_sdf_and_robot_include_at_spawn():
    a, b, c = (house_to_sdf(generate_house(s), robot_uri='/tmp/go2.sdf') for s in (4, 4, 5))

    assert a == b and a != c
    include = ET.fromstring(a).find('world/include')
    pose = [float(v) for v in include.find('pose').text.split()]
    x, y, yaw = generate_house(4).spawn
    assert pose[0] == x and pose[1] == y and pose[5] == yaw


def test_cli_writes_the_world(tmp_path):
    out = tmp_path / 'house.sdf'

    assert main(['--seed', '2', '--out', str(out)]) == 0
    assert out.read_text() == house_to_sdf(generate_house(2))
    assert main(['--seed', '2', '--num-rooms', '1', '--out', str(out)]) == 2
