import json
import math

import pytest

from groundfm.bench.results import check_targets, document, load, table, write


def test_document_round_trip_and_validation(tmp_path):
    results = {'motorcycle': {'groundfm': {'bad2_all': 0.2, 'ms': 90.0}, 'sgbm': {'bad2_all': 0.226}}}

    path = write(tmp_path / 'out.json', document(results, 'groundfm bench depth'))

    doc = load(path)
    assert doc['datasets'] == results and doc['command'] == 'groundfm bench depth' and doc['machine']
    assert 'motorcycle' in table(results) and 'bad2_all' in table(results)
    with pytest.raises(ValueError, match='not a finite number'):
        document({'d': {'groundfm': {'x': math.nan}}}, '')
    (tmp_path / 'bad.json').write_text(json.dumps({'results': {}}))
    with pytest.raises(ValueError, match='not a groundfm benchmark'):
        load(tmp_path / 'bad.json')


def test_check_targets():
    results = {'motorcycle': {'groundfm': {'bad2_all': 0.2, 'ms': 250.0}, 'sgbm': {'bad2_all': 0.226}}}
    targets = {'motorcycle': {'bad2_all': {'below_method': 'sgbm'}, 'ms': {'max': 200.0}, 'epe': {'max': 1.0}}}

    rows = {(d, m): met for d, m, _, _, met in check_targets(results, targets)}

    assert rows == {('motorcycle', 'bad2_all'): True, ('motorcycle', 'ms'): False}
