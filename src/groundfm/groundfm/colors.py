"""Names for measured appearance colours (ROS-free): one ranking shared by mapping, scene QA and navigation.

A mapped object's colour is the mean colour of its Gaussians: the shaded appearance, not the paint. Names come from
the project palette (`groundfm.sim.house.COLORS`) and from how the map renders each palette colour in the sim; a
colour is compared by chromaticity first and brightness second, so shading changes a name less than a hue does.
"""

import math
from collections.abc import Sequence

import numpy as np

from groundfm.sim.house import COLORS  # the project's named palette (pure numpy)

# Mean Gaussian colour of each palette colour as the map sees it in the sim (lighting and texture speckle roughly
# halve the brightness). Fit on dev houses 1-6 only (119 objects, `groundfm.bench.qa.build_graph`, mean per
# ground-truth colour name); never on held-out houses. Naming takes the nearest entry of either table, so the
# nominal palette still serves other lighting. Measured on those objects: nominal palette alone 90 % (every white
# object read as grey), with this table 100 % (half/half split); plain RGB distance to the nominal palette: 32 %.
RENDERED_COLORS: dict[str, tuple[float, float, float]] = {
    'black': (0.089, 0.089, 0.088), 'blue': (0.061, 0.120, 0.378), 'brown': (0.291, 0.199, 0.111),
    'green': (0.072, 0.275, 0.094), 'grey': (0.233, 0.233, 0.242), 'orange': (0.431, 0.228, 0.040),
    'purple': (0.229, 0.084, 0.282), 'red': (0.359, 0.059, 0.050), 'white': (0.435, 0.435, 0.425),
    'yellow': (0.415, 0.362, 0.047),
}


def color_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Distance of two RGB colours (3,) in [0, 1]: chromaticity (brightness-normalised) weighted over brightness."""
    sa, sb = a.sum() + 1e-6, b.sum() + 1e-6
    chroma = np.linalg.norm(a / sa - b / sb) * 3.0
    bright = abs(math.log((sa + 0.05) / (sb + 0.05)))
    return float(chroma + 0.35 * bright)


def rank_colors(rgb: Sequence[float] | None) -> list[str]:
    """Palette names ordered by their nearest entry (nominal or rendered) to rgb (3,) in [0, 1]; [] when unknown."""
    if rgb is None:
        return []
    rgb = np.asarray(rgb, float)
    if rgb.shape != (3,) or not np.all(np.isfinite(rgb)):
        return []
    best = {name: min(color_distance(rgb, np.asarray(table[name], float)) for table in (COLORS, RENDERED_COLORS))
            for name in COLORS}
    return sorted(best, key=best.get)


def name_color(rgb: Sequence[float] | None) -> str:
    """Nearest palette name of an RGB colour in [0, 1] (3,), '' when unknown."""
    ranking = rank_colors(rgb)
    return ranking[0] if ranking else ''
