"""The JUNO muon fast-simulation nets ``NN_npe`` and ``NN_time`` (SPEC 2.1), layer for layer.

Both nets are *generators*: their input is a condition (the deposit radius ``R`` [m] and the angle
``theta`` [rad] between the deposit and the PMT seen from the detector centre, SPEC 1.4) plus one
standard-normal noise value, and their output is one draw of the PMT response:

* :class:`JunoNpeNet` (``NN_npe``): ``(R, theta, noise) -> 4 x Dense(249, tanh) -> Dense(1, relu)``
  = the number of photo-electrons (p.e.) of one PMT for a deposit of the reference energy
  (``energy_mev``, 1 MeV by default). The output is continuous and ``>= 0``; an integer count
  is obtained by stochastic rounding (:func:`stochastic_round`), which keeps the mean.
* :class:`JunoTimeNet`: ``(R, theta, noise) -> n x Dense(units, relu) -> Dense(1, elu(x) + 1)``
  = the hit time [ns] of one p.e. relative to the deposit time.
* :class:`JunoTimeModel` (``NN_time``): the slides' two time nets behind one interface -- a
  ``2 x Dense(201)`` net for ``R < 15 m`` and a ``3 x Dense(983)`` net for ``R >= 15 m`` (beyond
  ~16 m part of the light is trapped by total internal reflection at the acrylic vessel and the
  time response changes character). Callers pass ``(R, theta, noise)`` and never see the split.

The conditions are standardised inside the nets by a ``Normalization`` layer fitted with
:meth:`adapt`, so that a saved model takes physical units. The time nets' output is in units of
``time_scale_ns`` (a fixed, non-trainable constant also set by :meth:`adapt`): the last layer's
``elu(x) + 1 > 0`` is multiplied by it, which keeps times positive and the last layer's output
of order one. The nets use keras layers and ``keras.ops`` only, so they run under every Keras
backend; training lives in :mod:`keras_fastsim.training.juno`.

References:
    The IHEP slides "generative networks in HEP simulation" (JUNO muon fast simulation with
    NN_npe / NN_time, ~30x faster muon simulation); JUNO collaboration, "JUNO physics and
    detector", Prog. Part. Nucl. Phys. 123 (2022) 103927, arXiv:2104.02565; the voxel method of
    JUNO muon simulation that the nets replace: T. Lin et al., "Parallelized JUNO simulation
    software based on SNiPER", J. Phys. Conf. Ser. 1085 (2018) 032048.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import keras
import numpy as np
from keras import ops

from keras_fastsim.physics.juno_vessel import (
    PMT_RADIUS_M,
    DirectLightTable,
    acceptance_factor,
    direct_reflectance,
    pmt_distance_squared,
    reflected_fraction,
)

__all__ = [
    "CONDITION_COLUMNS",
    "CONDITION_FEATURES",
    "OUTPUT_PRIORS",
    "JunoNpeNet",
    "JunoTimeModel",
    "JunoTimeNet",
    "acceptance_factor",
    "check_conditions",
    "condition_feature_values",
    "export_generator",
    "load_juno_npe",
    "load_juno_time",
    "stochastic_round",
]

MODEL_FILE = "model.keras"
"""File of the trained net in a ``juno-npe`` / ``juno-time`` run directory."""

CONDITION_COLUMNS: tuple[str, ...] = ("R", "theta")
"""Conditions of both nets, in the order of the input columns (noise is the third column)."""

CONDITION_FEATURES: tuple[str, ...] = ("r_theta", "position", "position_vessel", "position_optics")
"""What the first Dense layer sees of the conditions (``condition_features`` of the nets).

* ``"r_theta"``: the standardised ``(R, theta)`` themselves.
* ``"position"``: the deposit position in the PMT's frame and its distance to the PMT,
  ``(R cos theta, R sin theta, d, log d)`` with ``d = sqrt(R^2 + R_pmt^2 - 2 R R_pmt cos theta)``,
  standardised. Computed inside the net from ``(R, theta)``, so the input stays
  ``(R, theta, noise)``. At ``R = 0`` every feature is independent of ``theta`` (theta is
  undefined there), and ``d`` / ``log d`` carry the solid-angle (``~ 1 / d^2``) and time-of-flight
  (``~ d``) dependences that dominate n_pe and hit time near the PMTs.
* ``"position_vessel"``: the ``"position"`` features and two of the light reflected back into
  the LS by the acrylic vessel (:mod:`keras_fastsim.physics.juno_vessel`): the fraction of the
  deposit's isotropic light that is reflected (Fresnel, then total internal reflection for
  impact parameters above ~16.06 m; it rises steeply around ``R ~ 16 m``) and the reflectance
  along the straight line to the PMT. A smooth net cannot place that kink itself: without them
  the far NN_time blurs it and is biased near ``R = 16 m`` (docs/juno.md).
* ``"position_optics"``: the ``"position_vessel"`` features and the direct light that reaches
  the PMT through the refracting vessel relative to the straight-line acceptance
  (:class:`~keras_fastsim.physics.juno_vessel.DirectLightTable`): 0 in the band of PMTs that
  trapped rays leave without direct light beyond ``R ~ 16.06 m`` (at ~40-60 deg), which the
  straight line to the PMT places elsewhere.
"""

OUTPUT_PRIORS: tuple[str, ...] = ("none", "acceptance")
"""What NN_npe's ``relu`` output is multiplied by (``output_prior`` of :class:`JunoNpeNet`).

* ``"none"``: nothing (the slides' net).
* ``"acceptance"``: the PMT's projected solid angle seen from the deposit relative to that seen
  from the centre, :func:`acceptance_factor`. The net then learns the count in units of the
  geometric acceptance, a function that stays of order one, instead of a peak that rises ~100x
  within a few metres of the PMT at the wall.
"""

_MAX_THETA = float(np.pi) + 1e-4
_NUM_FEATURES = {"r_theta": 2, "position": 4, "position_vessel": 6, "position_optics": 7}
_CHUNK = 65536


def check_conditions(conditions: Any, name: str = "conditions", r_max_m: float = 17.7) -> np.ndarray:
    """Validates ``(N, 2)`` conditions ``(R [m], theta [rad])`` and returns them as float32.

    Raises:
        ValueError: wrong shape, non-finite values, ``R`` outside ``[0, r_max_m]`` (+1 mm) or
            ``theta`` outside ``[0, pi]``.
    """
    arr = np.asarray(conditions, dtype=np.float32)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(
            f"`{name}` must have shape (N, 2) with columns {CONDITION_COLUMNS}. "
            f"Received: {name}.shape={arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"`{name}` must be finite. Received: NaN or inf values")
    if arr.size and (arr[:, 0].min() < 0 or arr[:, 0].max() > r_max_m + 1e-3):
        raise ValueError(
            f"`{name}` R must be in [0, {r_max_m}] m. "
            f"Received: R in [{arr[:, 0].min():.4g}, {arr[:, 0].max():.4g}]"
        )
    if arr.size and (arr[:, 1].min() < -1e-4 or arr[:, 1].max() > _MAX_THETA):
        raise ValueError(
            f"`{name}` theta must be in [0, pi] rad. "
            f"Received: theta in [{arr[:, 1].min():.4g}, {arr[:, 1].max():.4g}]"
        )
    return arr


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"`seed` must be a non-negative integer. Received: seed={seed!r}")
    return int(seed)


def stochastic_round(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rounds non-negative ``values`` to integers, up with probability ``frac(value)``.

    The mean is kept exactly (``E[round(y)] = y``), so a p.e. count drawn this way from a
    continuous generator output has the generator's mean.
    """
    values = np.maximum(np.asarray(values, dtype=np.float64), 0.0)
    floor = np.floor(values)
    return (floor + (rng.random(values.shape) < values - floor)).astype(np.int64)


def _check_features(condition_features: Any, pmt_radius_m: Any) -> tuple[str, float]:
    if condition_features not in CONDITION_FEATURES:
        raise ValueError(
            f"`condition_features` must be one of {CONDITION_FEATURES}. "
            f"Received: condition_features={condition_features!r}"
        )
    if not (isinstance(pmt_radius_m, (int, float, np.floating)) and np.isfinite(pmt_radius_m)
            and pmt_radius_m > 17.7):
        raise ValueError(
            f"`pmt_radius_m` must be a number > 17.7 (outside the LS). Received: pmt_radius_m={pmt_radius_m!r}"
        )
    return str(condition_features), float(pmt_radius_m)


def condition_feature_values(
    conditions,
    condition_features: str = "r_theta",
    pmt_radius_m: float = PMT_RADIUS_M,
    direct_light: DirectLightTable | None = None,
):
    """The (unstandardised) condition features of ``(N, 2)`` conditions (see :data:`CONDITION_FEATURES`).

    Written with ``keras.ops``: works on tensors inside the nets and on numpy arrays.
    ``direct_light`` is the table of the ``"position_optics"`` feature (computed for
    ``pmt_radius_m`` when not given, ~1 s).
    """
    cond = ops.cast(conditions, "float32")
    if condition_features == "r_theta":
        return cond
    r, theta = cond[:, 0:1], cond[:, 1:2]
    cos = ops.cos(theta)
    d = ops.sqrt(pmt_distance_squared(r, cos, pmt_radius_m))
    feats = [r * cos, r * ops.sin(theta), d, ops.log(d)]
    if condition_features in ("position_vessel", "position_optics"):
        feats += [reflected_fraction(r), direct_reflectance(r, theta, pmt_radius_m)]
    if condition_features == "position_optics":
        table = direct_light if direct_light is not None else DirectLightTable.compute(pmt_radius_m)
        feats.append(table(r, theta))
    return ops.concatenate(feats, axis=-1)


class _ConditionalGenerator(keras.Model):
    """Shared parts: condition features and standardisation, input checks, seeded sampling."""

    def __init__(self, condition_features: str = "r_theta", pmt_radius_m: float = PMT_RADIUS_M, **kwargs):
        super().__init__(**kwargs)
        self.condition_features, self.pmt_radius_m = _check_features(condition_features, pmt_radius_m)
        self.num_features = _NUM_FEATURES[self.condition_features]
        self.normalizer = keras.layers.Normalization(axis=-1, name=f"{self.name}_condition_norm")
        # A deterministic function of pmt_radius_m: rebuilt, not saved, when a model is loaded.
        self._direct_light = (DirectLightTable.compute(self.pmt_radius_m)
                              if self.condition_features == "position_optics" else None)

    def _features(self, conditions):
        return condition_feature_values(conditions, self.condition_features, self.pmt_radius_m,
                                        self._direct_light)

    def adapt(self, conditions: Any, *args: Any) -> None:
        """Fits the condition standardisation to training conditions ``(N, 2)``."""
        cond = check_conditions(conditions)
        # In chunks: the vessel features hold (rows, 64) temporaries.
        feats = np.concatenate([ops.convert_to_numpy(self._features(cond[i : i + _CHUNK]))
                                for i in range(0, max(len(cond), 1), _CHUNK)])
        self.normalizer.adapt(feats)

    def build(self, input_shape=None):
        # Subclasses define ``hidden`` (Dense layers of ``units``) and ``out``.
        if not self.normalizer.built:
            self.normalizer.build((None, self.num_features))
        shape = (None, self.num_features + 1)
        for layer in self.hidden:
            if not layer.built:
                layer.build(shape)
            shape = (None, self.units)
        if not self.out.built:
            self.out.build(shape)
        self.built = True

    def _mlp_output(self, inputs):
        x = self._standardised_inputs(inputs)
        for layer in self.hidden:
            x = layer(x)
        return self.out(x)

    def _standardised_inputs(self, inputs):
        inputs = ops.cast(inputs, self.compute_dtype)
        cond = self.normalizer(self._features(inputs[:, :2]))
        return ops.concatenate([cond, inputs[:, 2:3]], axis=-1)

    def _predict_numpy(self, x: np.ndarray) -> np.ndarray:
        out = np.empty(len(x), dtype=np.float32)
        for start in range(0, len(x), _CHUNK):
            chunk = x[start : start + _CHUNK]
            out[start : start + len(chunk)] = ops.convert_to_numpy(self(chunk, training=False))[:, 0]
        return out

    def generate(self, conditions: Any, noise: Any) -> np.ndarray:
        """The net's output for given conditions ``(N, 2)`` and noise ``(N,)``, as numpy."""
        cond = check_conditions(conditions)
        z = np.asarray(noise, dtype=np.float32).reshape(-1)
        if len(z) != len(cond):
            raise ValueError(
                "`noise` must have one value per condition row. "
                f"Received: len(noise)={len(z)}, len(conditions)={len(cond)}"
            )
        if len(cond) == 0:
            return np.empty(0, np.float32)
        return self._predict_numpy(np.concatenate([cond, z[:, None]], axis=1))

    def sample(self, conditions: Any, seed: int = 0) -> np.ndarray:
        """One draw per condition row, reproducibly for a given seed (numpy PCG64 noise).

        Args:
            conditions: ``(N, 2)`` array of ``(R [m], theta [rad])``.
            seed: Non-negative integer seed of the noise.

        Returns:
            ``(N,)`` float32 numpy array of outputs.
        """
        cond = check_conditions(conditions)
        z = np.random.default_rng(_check_seed(seed)).standard_normal(len(cond)).astype(np.float32)
        return self.generate(cond, z)


def _mlp(units: int, num_layers: int, activation: str, prefix: str) -> list[keras.layers.Layer]:
    return [keras.layers.Dense(units, activation=activation, name=f"{prefix}_{i}") for i in range(num_layers)]


def _check_arch(units: Any, num_layers: Any) -> tuple[int, int]:
    for name, value in (("units", units), ("num_layers", num_layers)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
    return int(units), int(num_layers)


@keras.saving.register_keras_serializable(package="keras_fastsim")
class JunoNpeNet(_ConditionalGenerator):
    """NN_npe: ``(R, theta, noise) -> 4 x Dense(249, tanh) -> Dense(1, relu)`` = n_pe of a PMT.

    Args:
        units: Width of the hidden layers. Default 249 (the slides).
        num_layers: Number of hidden layers. Default 4 (the slides).
        activation: Hidden activation. Default ``"tanh"`` (the slides).
        energy_mev: Deposit energy the net describes (that of its training samples) [MeV].
            Default 1.
        condition_features: What the first layer sees of ``(R, theta)``, one of
            :data:`CONDITION_FEATURES`. Default ``"r_theta"`` (the slides' inputs).
        pmt_radius_m: Radius of the PMT sphere for the ``"position"`` features [m]. Default 19.5.
        output_prior: What the output ``relu`` is multiplied by, one of :data:`OUTPUT_PRIORS`.
            Default ``"none"`` (the slides' net); ``"acceptance"`` multiplies by the PMT's
            relative projected solid angle (:func:`acceptance_factor`).

    Calling the model on ``(N, 3)`` inputs ``(R [m], theta [rad], noise)`` returns ``(N, 1)``
    non-negative n_pe values.

    References:
        The IHEP slides (NN_npe); SPEC 2.1.

    Example:
        >>> net = JunoNpeNet()
        >>> net.adapt(conditions)             # (N, 2) training conditions
        >>> npe = net.sample([[10.0, 0.3]], seed=1)
    """

    def __init__(
        self,
        units: int = 249,
        num_layers: int = 4,
        activation: str = "tanh",
        energy_mev: float = 1.0,
        condition_features: str = "r_theta",
        pmt_radius_m: float = PMT_RADIUS_M,
        output_prior: str = "none",
        **kwargs,
    ):
        super().__init__(condition_features=condition_features, pmt_radius_m=pmt_radius_m, **kwargs)
        self.units, self.num_layers = _check_arch(units, num_layers)
        if output_prior not in OUTPUT_PRIORS:
            raise ValueError(
                f"`output_prior` must be one of {OUTPUT_PRIORS}. Received: output_prior={output_prior!r}"
            )
        self.output_prior = str(output_prior)
        if not (isinstance(energy_mev, (int, float, np.floating)) and np.isfinite(energy_mev) and energy_mev > 0):
            raise ValueError(f"`energy_mev` must be a positive number. Received: energy_mev={energy_mev!r}")
        self.activation = activation
        self.energy_mev = float(energy_mev)
        self.hidden = _mlp(self.units, self.num_layers, activation, "npe_dense")
        self.out = keras.layers.Dense(1, activation="relu", name="npe_out")

    def call(self, inputs):
        return self._with_prior(self._mlp_output(inputs), inputs)

    def _with_prior(self, values, inputs):
        """``values`` times the output prior of the rows' conditions (unchanged for ``"none"``)."""
        if self.output_prior == "none":
            return values
        return values * ops.cast(acceptance_factor(inputs[:, :2], self.pmt_radius_m), values.dtype)

    def npe_preactivation(self, inputs, training: bool = False):
        """The output layer's input to its ``relu``, times the prior (``call == relu(npe_preactivation)``).

        Used by :class:`~keras_fastsim.training.juno.QuantileTrainer` (``relu_leak``) to keep a
        gradient where the output is 0. The prior is positive, so it commutes with the ``relu``.
        """
        x = self._standardised_inputs(inputs)
        for layer in self.hidden:
            x = layer(x, training=training)
        return self._with_prior(ops.matmul(x, self.out.kernel) + self.out.bias, inputs)

    def sample_counts(self, conditions: Any, seed: int = 0) -> np.ndarray:
        """Integer p.e. counts: one generator draw per row, stochastically rounded."""
        rng = np.random.default_rng(_check_seed(seed))
        cond = check_conditions(conditions)
        z = rng.standard_normal(len(cond)).astype(np.float32)
        return stochastic_round(self.generate(cond, z), rng)

    def mean_npe(self, conditions: Any, num_nodes: int = 32) -> np.ndarray:
        """Mean n_pe over the noise, ``E_z[NN_npe(R, theta, z)]``, per condition row.

        The expectation over ``z ~ N(0, 1)`` is computed with ``num_nodes`` equal-probability
        nodes ``z_q = Phi^-1((q + 1/2) / num_nodes)`` (midpoint rule in probability), which is
        exact to ``O(num_nodes^-2)`` for the net's piecewise-smooth output.
        """
        from scipy.special import ndtri

        if isinstance(num_nodes, bool) or not isinstance(num_nodes, (int, np.integer)) or num_nodes < 1:
            raise ValueError(f"`num_nodes` must be a positive integer. Received: num_nodes={num_nodes!r}")
        cond = check_conditions(conditions)
        z = ndtri((np.arange(num_nodes) + 0.5) / num_nodes).astype(np.float32)
        x = np.concatenate(
            [np.repeat(cond, num_nodes, axis=0), np.tile(z, len(cond))[:, None]], axis=1
        )
        return self._predict_numpy(x).reshape(len(cond), num_nodes).mean(axis=1)

    def hyperparameters(self) -> dict[str, Any]:
        """The constructor arguments that define the net."""
        return {
            "units": self.units, "num_layers": self.num_layers,
            "activation": self.activation, "energy_mev": self.energy_mev,
            "condition_features": self.condition_features, "pmt_radius_m": self.pmt_radius_m,
            "output_prior": self.output_prior,
        }

    def get_config(self):
        return super().get_config() | self.hyperparameters()


@keras.saving.register_keras_serializable(package="keras_fastsim")
class JunoTimeNet(_ConditionalGenerator):
    """One NN_time net: ``(R, theta, noise) -> n x Dense(units, relu) -> Dense(1, elu + 1)``.

    The output ``time_scale_ns * (elu(x) + 1)`` is a hit time [ns], always positive.

    Args:
        units: Width of the hidden layers (201 for ``R < 15 m``, 983 for ``R >= 15 m``).
        num_layers: Number of hidden layers (2 for ``R < 15 m``, 3 for ``R >= 15 m``).
        activation: Hidden activation. Default ``"relu"`` (the slides).
        condition_features: What the first layer sees of ``(R, theta)``, one of
            :data:`CONDITION_FEATURES`. Default ``"r_theta"``.
        pmt_radius_m: Radius of the PMT sphere for the ``"position"`` features [m].

    References:
        The IHEP slides (NN_time); SPEC 2.1.
    """

    def __init__(
        self,
        units: int = 201,
        num_layers: int = 2,
        activation: str = "relu",
        condition_features: str = "r_theta",
        pmt_radius_m: float = PMT_RADIUS_M,
        **kwargs,
    ):
        super().__init__(condition_features=condition_features, pmt_radius_m=pmt_radius_m, **kwargs)
        self.units, self.num_layers = _check_arch(units, num_layers)
        self.activation = activation
        self.hidden = _mlp(self.units, self.num_layers, activation, "time_dense")
        self.out = keras.layers.Dense(1, activation=_elu_plus_one, name="time_out")
        self.time_scale = self.add_weight(
            name="time_scale_ns", shape=(), initializer=keras.initializers.Constant(100.0),
            trainable=False,
        )

    def adapt(self, conditions: Any, times: Any = None) -> None:
        """Fits the condition standardisation and sets ``time_scale_ns`` to the median time."""
        super().adapt(conditions)
        if times is not None:
            t = np.asarray(times, dtype=np.float64).reshape(-1)
            if t.size == 0 or not np.all(np.isfinite(t)):
                raise ValueError("`times` must be a non-empty finite array. Received: empty or NaN/inf")
            self.time_scale.assign(float(max(np.median(t), 1e-3)))

    def call(self, inputs):
        x = self._mlp_output(inputs)
        return x * ops.cast(self.time_scale, x.dtype)

    def hyperparameters(self) -> dict[str, Any]:
        """The constructor arguments that define the net."""
        return {"units": self.units, "num_layers": self.num_layers, "activation": self.activation,
                "condition_features": self.condition_features, "pmt_radius_m": self.pmt_radius_m}

    def get_config(self):
        return super().get_config() | self.hyperparameters()


@keras.saving.register_keras_serializable(package="keras_fastsim")
def _elu_plus_one(x):
    """``elu(x) + 1``: the slides' output activation of NN_time (positive, smooth)."""
    return ops.elu(x) + 1.0


@keras.saving.register_keras_serializable(package="keras_fastsim")
class JunoTimeModel(keras.Model):
    """NN_time: hit time of a p.e. given ``(R, theta, noise)``, routed by ``R`` between two nets.

    ``R < split_radius_m`` goes to :attr:`near` (``2 x Dense(201, relu)``), ``R >= split_radius_m``
    to :attr:`far` (``3 x Dense(983, relu)``); both end in ``Dense(1, elu + 1)``. ``call`` (the
    graph path: export, JAX) evaluates both nets and selects with ``ops.where``; the host-side
    :meth:`generate` / :meth:`sample` route the rows with numpy so each row costs one net.

    Args:
        split_radius_m: The routing radius [m]. Default 15 (the slides).
        near_units, near_layers: Architecture of the ``R < split`` net. Defaults 201, 2.
        far_units, far_layers: Architecture of the ``R >= split`` net. Defaults 983, 3.
        activation: Hidden activation of both nets. Default ``"relu"``.
        condition_features: Condition features of both nets (:data:`CONDITION_FEATURES`).
            Default ``"r_theta"``.
        pmt_radius_m: Radius of the PMT sphere for the ``"position"`` features [m].
        far_condition_features: Condition features of the far net, if they differ
            (``"position_vessel"``: the vessel's reflection rises steeply around ``R ~ 16 m``,
            inside the far net's range only). Default ``None`` (``condition_features``).

    References:
        The IHEP slides (NN_time, R < 15 m / R >= 15 m); SPEC 2.1.

    Example:
        >>> model = JunoTimeModel()
        >>> model.near.adapt(cond_near, t_near); model.far.adapt(cond_far, t_far)
        >>> t = model.sample([[3.0, 0.5], [16.5, 0.1]], seed=0)   # one net per row
    """

    def __init__(
        self,
        split_radius_m: float = 15.0,
        near_units: int = 201,
        near_layers: int = 2,
        far_units: int = 983,
        far_layers: int = 3,
        activation: str = "relu",
        condition_features: str = "r_theta",
        pmt_radius_m: float = PMT_RADIUS_M,
        far_condition_features: str | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not (isinstance(split_radius_m, (int, float, np.floating)) and 0 < split_radius_m < 17.7):
            raise ValueError(
                f"`split_radius_m` must be in (0, 17.7) m. Received: split_radius_m={split_radius_m!r}"
            )
        self.split_radius_m = float(split_radius_m)
        self.activation = activation
        self.condition_features, self.pmt_radius_m = _check_features(condition_features, pmt_radius_m)
        far_features = self.condition_features if far_condition_features is None else far_condition_features
        self.near = JunoTimeNet(near_units, near_layers, activation, self.condition_features,
                                self.pmt_radius_m, name="time_near")
        self.far = JunoTimeNet(far_units, far_layers, activation, far_features, self.pmt_radius_m, name="time_far")

    def build(self, input_shape=None):
        for net in (self.near, self.far):
            if not net.built:
                net.build((None, 3))
        self.built = True

    def call(self, inputs):
        inputs = ops.cast(inputs, self.compute_dtype)
        is_near = inputs[:, 0:1] < self.split_radius_m
        return ops.where(is_near, self.near(inputs), self.far(inputs))

    def route(self, conditions: Any) -> np.ndarray:
        """Boolean mask, ``True`` where a row goes to the near (``R < split``) net."""
        return check_conditions(conditions)[:, 0] < self.split_radius_m

    def adapt(self, conditions: Any, times: Any) -> None:
        """Adapts each net on its own rows (routing by ``R``)."""
        cond = check_conditions(conditions)
        t = np.asarray(times, dtype=np.float64).reshape(-1)
        near = cond[:, 0] < self.split_radius_m
        for net, rows in ((self.near, near), (self.far, ~near)):
            if rows.any():
                net.adapt(cond[rows], t[rows])

    def generate(self, conditions: Any, noise: Any) -> np.ndarray:
        """Hit times [ns] for conditions ``(N, 2)`` and noise ``(N,)``, one net per row."""
        cond = check_conditions(conditions)
        z = np.asarray(noise, dtype=np.float32).reshape(-1)
        if len(z) != len(cond):
            raise ValueError(
                "`noise` must have one value per condition row. "
                f"Received: len(noise)={len(z)}, len(conditions)={len(cond)}"
            )
        out = np.empty(len(cond), np.float32)
        near = cond[:, 0] < self.split_radius_m
        for net, rows in ((self.near, near), (self.far, ~near)):
            if rows.any():
                out[rows] = net.generate(cond[rows], z[rows])
        return out

    def sample(self, conditions: Any, seed: int = 0) -> np.ndarray:
        """One hit time [ns] per condition row, reproducibly for a given seed."""
        cond = check_conditions(conditions)
        z = np.random.default_rng(_check_seed(seed)).standard_normal(len(cond)).astype(np.float32)
        return self.generate(cond, z)

    def hyperparameters(self) -> dict[str, Any]:
        """The constructor arguments that define the model."""
        return {
            "split_radius_m": self.split_radius_m,
            "near_units": self.near.units, "near_layers": self.near.num_layers,
            "far_units": self.far.units, "far_layers": self.far.num_layers,
            "activation": self.activation, "condition_features": self.condition_features,
            "pmt_radius_m": self.pmt_radius_m, "far_condition_features": self.far.condition_features,
        }

    def get_config(self):
        return super().get_config() | self.hyperparameters()


def _load_run(run_dir: str | os.PathLike, kind: str) -> keras.Model:
    from keras_fastsim.runs import RunError, read_manifest

    manifest = read_manifest(run_dir)
    if manifest["kind"] != kind:
        raise RunError(f"{run_dir}: a {manifest['kind']!r} run, expected {kind!r}")
    return keras.models.load_model(Path(run_dir) / manifest.get("model", MODEL_FILE))


def load_juno_npe(run_dir: str | os.PathLike) -> JunoNpeNet:
    """The NN_npe of a ``juno-npe`` run directory (any Keras backend)."""
    return _load_run(run_dir, "juno-npe")


def load_juno_time(run_dir: str | os.PathLike) -> JunoTimeModel:
    """The NN_time of a ``juno-time`` run directory (any Keras backend)."""
    return _load_run(run_dir, "juno-time")


def export_generator(model: keras.Model, path: str | os.PathLike) -> Path:
    """Exports a JUNO net (:class:`JunoNpeNet` or :class:`JunoTimeModel`) as a SavedModel.

    The endpoint ``serve(inputs)`` takes a float32 ``(N, 3)`` tensor ``(R [m], theta [rad],
    noise)`` and returns the ``(N, 1)`` output of ``model(inputs)``; the noise is an input so
    that a C++ caller controls the randomness. Needs the TensorFlow backend.

    Example:
        >>> export_generator(npe_net, "juno_npe")
        >>> tf.saved_model.load("juno_npe").serve(x)
    """
    from keras_fastsim.io.atomic import atomic_directory

    if not isinstance(model, (JunoNpeNet, JunoTimeModel, JunoTimeNet)):
        raise ValueError(f"`model` must be a JUNO net. Received: model={type(model).__name__}")
    import tensorflow as tf

    path = Path(path)
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        name="serve", fn=lambda x: model(x, training=False),
        input_signature=[tf.TensorSpec((None, 3), tf.float32, name="inputs")],
    )
    with atomic_directory(path) as tmp:
        archive.write_out(str(tmp), verbose=False)
    return path

