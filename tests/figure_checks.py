"""Checks on matplotlib figures shared by the plot and widget tests."""

import numpy as np
from matplotlib.figure import Figure


def assert_finite(fig):
    """Every image, scatter, line and bar drawn in `fig` holds finite numbers."""
    assert isinstance(fig, Figure)
    for ax in fig.axes:
        for image in ax.images:
            assert np.all(np.isfinite(np.asarray(image.get_array(), dtype=float)))
        for collection in ax.collections:
            assert np.all(np.isfinite(collection.get_offsets()))
        for line in ax.lines:
            assert np.all(np.isfinite(np.asarray(line.get_xydata(), dtype=float)))
        for patch in ax.patches:
            assert np.all(np.isfinite(patch.get_extents().bounds))
