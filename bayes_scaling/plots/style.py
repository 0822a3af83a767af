"""The look shared by every figure: Okabe & Ito's colour-blind-safe palette, band shading,
median lines, and small helpers (a new Axes when none is given, checked interval probabilities,
a median line over shaded credible bands: see `draw_band` for an example).
"""

from __future__ import annotations

import numpy as np

__all__ = ["OKABE_ITO", "PALETTE", "DATA_SHADE", "BAND_ALPHAS", "MEDIAN_WIDTH", "new_axes",
           "check_probs", "draw_band"]

# Okabe & Ito (2008), "Color Universal Design": distinguishable under the common colour-vision
# deficiencies and in greyscale print.
OKABE_ITO = {
    "black": "#000000", "orange": "#E69F00", "sky_blue": "#56B4E9", "bluish_green": "#009E73",
    "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "reddish_purple": "#CC79A7",
}
# Order for successive series (yellow last: it is faint on white).
PALETTE = tuple(OKABE_ITO[name] for name in ("blue", "vermillion", "bluish_green", "orange",
                                             "reddish_purple", "sky_blue", "black", "yellow"))
DATA_SHADE = "#BBBBBB"  # the fitted runs' compute range
# Widest band first; nested bands stack darker inwards (0.22 then 0.38 over it: about 0.52).
# Opaque enough that a band only a few line widths wide still shows beside its median line.
BAND_ALPHAS = (0.22, 0.38, 0.5)
MEDIAN_WIDTH = 1.3  # median lines: thin enough not to hide a narrow band

def new_axes(ax):
    """``ax``, or the Axes of a new figure when None."""
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots()
    return ax


def check_probs(probs):
    probs = tuple(float(p) for p in np.atleast_1d(probs))
    if not all(0 < p < 1 for p in probs):
        raise ValueError(f"interval probabilities must lie in (0, 1), got {probs}")
    return probs


def draw_band(ax, x, median, bands, color, label=None, label_bands=False):
    """A median line over shaded central intervals; returns the line.

    ``bands`` maps an interval probability to its (lower, upper) arrays; the widest is drawn
    first. With ``label_bands`` the bands get legend entries ("90% credible interval").

    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots()
    >>> line = draw_band(ax, [1, 2], [1, 2], {0.9: ([0, 1], [2, 3])}, PALETTE[0], "median")
    >>> len(ax.collections), line.get_label()
    (1, 'median')
    >>> plt.close(fig)
    """
    for i, prob in enumerate(sorted(bands, reverse=True)):
        lower, upper = bands[prob]
        alpha = BAND_ALPHAS[min(i, len(BAND_ALPHAS) - 1)]
        ax.fill_between(x, lower, upper, color=color, alpha=alpha, linewidth=0,
                        label=f"{prob:.0%} credible interval" if label_bands else None)
    (line,) = ax.plot(x, median, color=color, label=label, linewidth=MEDIAN_WIDTH)
    return line
