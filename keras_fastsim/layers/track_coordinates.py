"""Feature-map channels holding each cell's position relative to the track's entry point."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_fastsim")
class TrackCoordinates(keras.layers.Layer):
    """Appends the cells' distances from the track's entry point as channels (CoordConv).

    For a feature map ``(batch, H, W, C)`` on the crystal grid (one map cell per crystal)
    and the track's entry point ``(row_offset, column_offset)`` in the hit crystal, read from
    the conditions in cm, the layer appends the channels

        d_row = (i - (H - 1) / 2 - row_offset / cell_size) / scale
        d_col = (j - (W - 1) / 2 - column_offset / cell_size) / scale

    and, with ``radius``, ``sqrt(d_row**2 + d_col**2)``. A convolution is translation
    invariant and cannot by itself turn a number (where in the crystal the track enters)
    into a position on its map; with these channels the shower's placement and its
    energy-weighted centroid become a local function of the inputs.

    Args:
        row_offset_index: Column of the conditions with the entry point along the map's rows
            (BESIII ``dPhi_Pos``, index 4: rows are phi in ``Barrel_Hit``). Default ``4``.
        column_offset_index: Column with the entry point along the map's columns (BESIII
            ``dZ_Pos``, index 3). Default ``3``.
        cell_size: Crystal pitch in the unit of the offsets (BESIII front face: 5.2 cm).
        scale: Divisor of the distances in cells, so that the channels stay within about
            +-1 (default ``6.0``, half the 12-cell map of the BESIII generator).
        radius: Whether to append the distance from the entry point as a third channel.

    Call args:
        features: Tensor ``(batch, H, W, C)``.
        conditions: Tensor ``(batch, n_conditions)`` in physical units.

    Returns:
        Tensor ``(batch, H, W, C + 2)`` or ``C + 3`` with ``radius``.

    References:
        R. Liu et al., "An intriguing failing of convolutional neural networks and the
        CoordConv solution", NeurIPS 2018, arXiv:1807.03247.

    Example:
        >>> layer = TrackCoordinates()
        >>> maps = layer(np.zeros((1, 12, 12, 16), "float32"), np.zeros((1, 6), "float32"))
        >>> maps.shape  # (1, 12, 12, 19)
    """

    def __init__(self, row_offset_index: int = 4, column_offset_index: int = 3,
                 cell_size: float = 5.2, scale: float = 6.0, radius: bool = True, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("row_offset_index", row_offset_index),
                            ("column_offset_index", column_offset_index)):
            if int(value) < 0:
                raise ValueError(f"`{name}` must be >= 0. Received: {name}={value}")
        for name, value in (("cell_size", cell_size), ("scale", scale)):
            if not value > 0:
                raise ValueError(f"`{name}` must be > 0. Received: {name}={value}")
        self.row_offset_index = int(row_offset_index)
        self.column_offset_index = int(column_offset_index)
        self.cell_size = float(cell_size)
        self.scale = float(scale)
        self.radius = bool(radius)

    def build(self, features_shape, conditions_shape):
        if len(features_shape) != 4 or features_shape[1] is None or features_shape[2] is None:
            raise ValueError(
                "`features` must be (batch, H, W, C) with known H and W. "
                f"Received: features_shape={features_shape}"
            )
        n = conditions_shape[-1]
        if n is not None and max(self.row_offset_index, self.column_offset_index) >= int(n):
            raise ValueError(
                f"The offset indices ({self.row_offset_index}, {self.column_offset_index}) "
                f"are outside the conditions. Received: conditions_shape={conditions_shape}"
            )

    def call(self, features, conditions):
        height, width = features.shape[1], features.shape[2]
        dtype = features.dtype
        conditions = ops.cast(conditions, dtype)
        rows = ops.arange(height, dtype=dtype) - (height - 1) / 2.0
        cols = ops.arange(width, dtype=dtype) - (width - 1) / 2.0
        row_offset = conditions[:, self.row_offset_index] / self.cell_size
        col_offset = conditions[:, self.column_offset_index] / self.cell_size
        d_row = (rows[None, :, None] - row_offset[:, None, None]) / self.scale
        d_col = (cols[None, None, :] - col_offset[:, None, None]) / self.scale
        shape = (ops.shape(features)[0], height, width)
        channels = [ops.broadcast_to(d_row, shape), ops.broadcast_to(d_col, shape)]
        if self.radius:
            channels.append(ops.sqrt(channels[0] ** 2 + channels[1] ** 2))
        return ops.concatenate([features, ops.stack(channels, axis=-1)], axis=-1)

    def compute_output_shape(self, features_shape, conditions_shape):
        extra = 3 if self.radius else 2
        channels = None if features_shape[-1] is None else features_shape[-1] + extra
        return (*features_shape[:-1], channels)

    def get_config(self):
        config = super().get_config()
        config.update({
            "row_offset_index": self.row_offset_index,
            "column_offset_index": self.column_offset_index,
            "cell_size": self.cell_size, "scale": self.scale, "radius": self.radius,
        })
        return config
