import pytest

from groundfm.parameters import ParamSpec, specs_for, validate
from groundfm.sim.config import SimConfig


def test_validate_reports_unknown_wrong_type_and_range():
    specs = specs_for('sim')

    problems = validate(specs, {'camera_rate_hz': 500.0, 'scene_seed': 'one', 'camera_rat_hz': 10.0,
                                'real_time_factor': 1, 'image_width': 320})

    text = '\n'.join(problems)
    assert 'camera_rate_hz: 500.0 is above the maximum' in text
    assert 'scene_seed: expected int' in text
    assert 'camera_rat_hz: unknown parameter (did you mean camera_rate_hz?)' in text
    assert 'real_time_factor: expected float' in text and 'write 1.0' in text
    assert len(problems) == 4


def test_specs_match_the_config_defaults():
    specs = {s.name: s for s in specs_for('sim')}
    cfg = SimConfig()
    for name, spec in specs.items():
        if name != 'use_sim_time':
            assert spec.default == getattr(cfg, name)
            assert spec.description


def test_config_names_the_bad_field():
    with pytest.raises(ValueError, match='stereo_baseline_m'):
        SimConfig(stereo_baseline_m=-0.1)
    assert specs_for('not_a_groundfm_node') is None


def test_choices():
    spec = ParamSpec('backend', 'model', 'Depth backend', choices=('model', 'sgbm'))
    assert spec.check('sgbm') is None
    assert 'not one of' in spec.check('bm')
