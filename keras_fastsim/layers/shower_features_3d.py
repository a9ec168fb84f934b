"""High-level features of 3D calorimeter showers (voxel grids) as a Keras layer."""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_fastsim")
class ShowerFeatures3D(keras.layers.Layer):
    """High-level features of 3D voxel showers, for a GAN discriminator or a regressor.

    The 3D sibling of :class:`keras_fastsim.layers.energy_features.ShowerFeatures` (which
    handles 2D images with odd sides only). A shower is a grid ``(n_u, n_v, n_layers)``: two
    transverse axes (e.g. the CEPC ECAL's dZ and dY cells) and the depth (layers). The hit
    cell is the transverse cell ``[n_u // 2, n_v // 2]``, the convention of
    :mod:`keras_fastsim.reference.calorimeter` (so even sides such as 30 work). The features
    are, in order:

    - ``E_total / energy_scale``: the sum of all voxels;
    - ``E_wxw / energy_scale`` for every ``w`` in ``windows``: the sum over all layers of
      the ``w x w`` transverse cells centred on the hit cell (clipped to the grid);
    - ``sparsity`` (if ``sparsity``): the fraction of voxels with energy ``> threshold``;
    - ``E_total / p`` (if ``momentum_index`` is not ``None``): the deposited energy over the
      momentum read from column ``momentum_index`` of the conditions (same energy unit as
      the voxels, not divided by ``energy_scale``);
    - ``E_layer / E_total`` for every layer (if ``longitudinal``): the longitudinal profile
      as energy fractions (zero for an empty shower).

    All features are differentiable in the voxel energies except the sparsity (a step).

    Args:
        windows: Odd transverse window sizes of the centred sums. Default ``(3, 5)``.
        sparsity: Whether to append the sparsity. Default ``True``.
        longitudinal: Whether to append the per-layer energy fractions. Default ``True``.
        threshold: Voxel-energy threshold of the sparsity. Default ``0.0`` (voxels ``> 0``).
        momentum_index: Column of the conditions holding the momentum, or ``None`` for no
            ``E_total / p`` feature (then the layer needs no conditions). Default ``0``.
        energy_scale: Divisor of ``E_total`` and the window sums (e.g. 100 GeV, the top
            of the CEPC training range, so that they are O(1)). Default ``1.0``.
        epsilon: Lower bound of the momentum and of ``E_total`` in the ratios.
            Default ``1e-6``.

    Call args:
        showers: Tensor ``(batch, n_u, n_v, n_layers)`` or
            ``(batch, n_u, n_v, n_layers, channels)``; channels are summed.
        conditions: Tensor ``(batch, n_conditions)``; required only with a
            ``momentum_index``.

    Returns:
        Tensor ``(batch, n_features)``, ``n_features = 1 + len(windows) + sparsity +
        (momentum_index is not None) + longitudinal * n_layers``.

    References:
        Paganini, de Oliveira, Nachman, "CaloGAN", Phys. Rev. D 97, 014021 (2018),
        arXiv:1712.10321 (energy and sparsity features in the discriminator).

    Example:
        >>> features = ShowerFeatures3D(windows=(3,), longitudinal=False)
        >>> features(np.ones((2, 5, 5, 4), "float32"), np.full((2, 6), 50.0, "float32"))
        ... # [[100, 36, 1, 2], [100, 36, 1, 2]]
    """

    def __init__(
        self,
        windows: Sequence[int] = (3, 5),
        sparsity: bool = True,
        longitudinal: bool = True,
        threshold: float = 0.0,
        momentum_index: int | None = 0,
        energy_scale: float = 1.0,
        epsilon: float = 1e-6,
        **kwargs,
    ):
        super().__init__(**kwargs)
        windows = tuple(int(w) for w in windows)
        if any(w < 1 or w % 2 == 0 for w in windows):
            raise ValueError(
                f"`windows` must be odd positive integers. Received: windows={windows}"
            )
        if momentum_index is not None and int(momentum_index) < 0:
            raise ValueError(
                f"`momentum_index` must be >= 0 or None. Received: momentum_index={momentum_index}"
            )
        if not energy_scale > 0:
            raise ValueError(f"`energy_scale` must be > 0. Received: energy_scale={energy_scale}")
        if not epsilon > 0:
            raise ValueError(f"`epsilon` must be > 0. Received: epsilon={epsilon}")
        self.windows = windows
        self.sparsity = bool(sparsity)
        self.longitudinal = bool(longitudinal)
        self.threshold = float(threshold)
        self.momentum_index = None if momentum_index is None else int(momentum_index)
        self.energy_scale = float(energy_scale)
        self.epsilon = float(epsilon)

    def _grid(self, showers_shape) -> tuple[int, int, int]:
        if len(showers_shape) not in (4, 5) or any(d is None for d in showers_shape[1:4]):
            raise ValueError(
                "ShowerFeatures3D expects showers of shape (batch, n_u, n_v, n_layers) or "
                "(batch, n_u, n_v, n_layers, channels) with known grid sizes. "
                f"Received: showers_shape={showers_shape}"
            )
        return tuple(int(d) for d in showers_shape[1:4])

    def build(self, showers_shape, conditions_shape=None):
        self._grid(showers_shape)
        if self.momentum_index is not None:
            if conditions_shape is None:
                raise ValueError(
                    "ShowerFeatures3D with a `momentum_index` needs the conditions. "
                    f"Received: conditions_shape={conditions_shape}"
                )
            if conditions_shape[-1] is not None and self.momentum_index >= int(
                conditions_shape[-1]
            ):
                raise ValueError(
                    f"`momentum_index` {self.momentum_index} is outside the conditions. "
                    f"Received: conditions_shape={conditions_shape}"
                )
        self.built = True

    def call(self, showers, conditions=None):
        x = showers if len(showers.shape) == 4 else ops.sum(showers, axis=-1)
        n_u, n_v, _ = self._grid(showers.shape)
        cu, cv = n_u // 2, n_v // 2
        layers = ops.sum(x, axis=(1, 2))  # (batch, n_layers)
        total = ops.sum(layers, axis=-1)
        features = [total / self.energy_scale]
        if self.windows:
            transverse = ops.sum(x, axis=-1)  # (batch, n_u, n_v)
            for w in self.windows:
                h = w // 2
                window = transverse[:, max(cu - h, 0):cu + h + 1, max(cv - h, 0):cv + h + 1]
                features.append(ops.sum(window, axis=(1, 2)) / self.energy_scale)
        if self.sparsity:
            above = ops.cast(ops.greater(x, self.threshold), x.dtype)
            features.append(ops.mean(above, axis=(1, 2, 3)))
        if self.momentum_index is not None:
            if conditions is None:
                raise ValueError("ShowerFeatures3D with a `momentum_index` needs the conditions.")
            momentum = ops.maximum(
                ops.cast(conditions[:, self.momentum_index], x.dtype), self.epsilon
            )
            features.append(total / momentum)
        out = ops.stack(features, axis=-1)
        if self.longitudinal:
            fractions = layers / ops.maximum(total, self.epsilon)[:, None]
            out = ops.concatenate([out, fractions], axis=-1)
        return out

    def n_features(self, n_layers: int) -> int:
        """Number of output features for showers with ``n_layers`` layers."""
        return (
            1 + len(self.windows) + int(self.sparsity) + int(self.momentum_index is not None)
            + (int(n_layers) if self.longitudinal else 0)
        )

    def compute_output_shape(self, showers_shape, conditions_shape=None):
        return (showers_shape[0], self.n_features(self._grid(showers_shape)[2]))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "windows": list(self.windows),
                "sparsity": self.sparsity,
                "longitudinal": self.longitudinal,
                "threshold": self.threshold,
                "momentum_index": self.momentum_index,
                "energy_scale": self.energy_scale,
                "epsilon": self.epsilon,
            }
        )
        return config
