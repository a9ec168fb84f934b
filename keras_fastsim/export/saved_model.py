"""TensorFlow SavedModel export for use from C++ frameworks.

The exported graphs are self-contained: loading them needs TensorFlow only (no
keras_fastsim, no tensorflow-probability).
"""

from __future__ import annotations

import keyword
import os
from pathlib import Path

import keras
import tensorflow as tf

from keras_fastsim.io.atomic import atomic_directory
from keras_fastsim.runs import FlowRun, RunError, read_manifest


def export_dedx_flow(model, path: str | os.PathLike) -> Path:
    """Exports a :class:`ConditionalDedxFlow` as a SavedModel.

    The endpoint ``simulate(p, theta, nhits, seed)`` takes float32 vectors ``p``
    [GeV/c], ``theta`` [rad], ``nhits`` and an int64 scalar ``seed``, and returns
    float32 dE/dx; the same seed gives the same output as ``model.sample``.

    Example:
        >>> export_dedx_flow(flow, "dedx_Kplus")
        >>> tf.saved_model.load("dedx_Kplus").simulate(p, theta, nhits, seed=1)
    """
    path = Path(path)
    archive = keras.export.ExportArchive()
    archive.track(model)

    def simulate(p, theta, nhits, seed):
        return model.sample(tf.stack([p, theta, nhits], axis=1), seed=seed)

    archive.add_endpoint(
        name="simulate",
        fn=simulate,
        input_signature=[
            tf.TensorSpec((None,), tf.float32, name="p"),
            tf.TensorSpec((None,), tf.float32, name="theta"),
            tf.TensorSpec((None,), tf.float32, name="nhits"),
            tf.TensorSpec((), tf.int64, name="seed"),
        ],
    )
    with atomic_directory(path) as tmp:
        archive.write_out(str(tmp), verbose=False)
    return path


def export_dedx_knn(model, path: str | os.PathLike) -> Path:
    """Exports a :class:`~keras_fastsim.models.dedx_knn.DedxDenseGenerator` as a SavedModel.

    One model for all six hadron species, with two endpoints:

    - ``simulate(species, p, theta, nhits, seed)``: ``species`` is an int32 vector of indices
      into ``("pi+", "pi-", "K+", "K-", "p", "pbar")`` (``SPECIES_ORDER``);
    - ``simulate_pdg(pdg, p, theta, nhits, seed)``: ``pdg`` is an int32 vector of PDG codes
      (211, -211, 321, -321, 2212, -2212); tracks with any other code get NaN.

    ``p`` [GeV/c], ``theta`` [rad] and ``nhits`` are float32 vectors, ``seed`` an int64
    scalar; the output is float32 dE/dx, equal to ``model.sample(species, conditions, seed)``.

    Example:
        >>> export_dedx_knn(net, "dedx_knn")
        >>> tf.saved_model.load("dedx_knn").simulate_pdg(pdg, p, theta, nhits, seed=1)
    """
    from keras_fastsim.models.dedx_knn import SPECIES_PDG

    path = Path(path)
    archive = keras.export.ExportArchive()
    archive.track(model)
    codes = tf.constant(SPECIES_PDG, tf.int32)

    def simulate(species, p, theta, nhits, seed):
        return model.sample(species, tf.stack([p, theta, nhits], axis=1), seed=seed)

    def simulate_pdg(pdg, p, theta, nhits, seed):
        match = tf.equal(pdg[:, None], codes[None, :])
        index = tf.argmax(tf.cast(match, tf.int32), axis=1, output_type=tf.int32)
        dedx = simulate(index, p, theta, nhits, seed)
        return tf.where(tf.reduce_any(match, axis=1), dedx, tf.constant(float("nan")))

    vectors = [
        tf.TensorSpec((None,), tf.float32, name="p"),
        tf.TensorSpec((None,), tf.float32, name="theta"),
        tf.TensorSpec((None,), tf.float32, name="nhits"),
        tf.TensorSpec((), tf.int64, name="seed"),
    ]
    species_spec = tf.TensorSpec((None,), tf.int32, name="species")
    archive.add_endpoint(name="simulate", fn=simulate, input_signature=[species_spec] + vectors)
    archive.add_endpoint(name="simulate_pdg", fn=simulate_pdg,
                         input_signature=[tf.TensorSpec((None,), tf.int32, name="pdg")] + vectors)
    with atomic_directory(path) as tmp:
        archive.write_out(str(tmp), verbose=False)
    return path


def export_conditional_generator(
    generator, path: str | os.PathLike, condition_names: tuple[str, ...] | list[str]
) -> Path:
    """Exports a calorimeter GAN generator ``[noise, conditions] -> showers`` as a SavedModel.

    Endpoints (float32 condition vectors in the generator's units; ``seed`` an int64 scalar):

    - ``simulate(<one vector per condition name>, seed)``;
    - ``simulate_conditions(conditions, seed)`` with ``conditions`` of shape
      ``(n, len(condition_names))``;
    - ``simulate_noise(noise, conditions)`` with the caller's ``(n, noise_dim)`` noise.

    The noise is ``tf.random.stateless_normal((n, noise_dim), seed=(seed, 0))``, so one call
    reproduces :func:`keras_fastsim.training.shower_runs.generate_seeded` (and
    ``keras-fastsim generate``) for the same conditions and seed, up to 65536 showers.

    Args:
        generator: Functional generator with inputs ``noise (n, noise_dim)`` and
            ``conditions (n, len(condition_names))``.
        path: Output directory (replaced atomically).
        condition_names: Names of the conditions, in column order (the arguments of
            ``simulate``; valid Python identifiers).
    """
    path = Path(path)
    names = tuple(str(c) for c in condition_names)
    noise_dim = int(generator.inputs[0].shape[-1])
    n_cond = int(generator.inputs[1].shape[-1])
    reserved = {"seed", "tf", "simulate_conditions"}
    if len(names) != n_cond or len(set(names)) != len(names) or not all(
        n.isidentifier() and not keyword.iskeyword(n) and n not in reserved for n in names
    ):
        raise ValueError(
            f"`condition_names` must be {n_cond} distinct identifiers (not keywords, not "
            f"{sorted(reserved)}), one per generator condition. "
            f"Received: condition_names={condition_names}"
        )
    archive = keras.export.ExportArchive()
    archive.track(generator)

    def simulate_noise(noise, conditions):
        return generator([noise, conditions], training=False)

    def simulate_conditions(conditions, seed):
        n = tf.shape(conditions)[0]
        noise = tf.random.stateless_normal(
            tf.stack([n, noise_dim]), seed=tf.stack([seed, tf.constant(0, tf.int64)])
        )
        return simulate_noise(noise, conditions)

    # ``simulate`` takes one named argument per condition (callers pass them by name, e.g.
    # ``simulate(Mom=..., ..., seed=...)``), so its signature is built from the names
    # (validated identifiers above).
    params = ", ".join(names)
    namespace = {"tf": tf, "simulate_conditions": simulate_conditions}
    exec(  # noqa: S102
        f"def simulate({params}, seed):\n"
        f"    return simulate_conditions(tf.stack([{params}], axis=1), seed)\n",
        namespace,
    )
    simulate = namespace["simulate"]

    seed_spec = tf.TensorSpec((), tf.int64, name="seed")
    cond_spec = tf.TensorSpec((None, n_cond), tf.float32, name="conditions")
    archive.add_endpoint(
        name="simulate", fn=simulate,
        input_signature=[tf.TensorSpec((None,), tf.float32, name=c) for c in names] + [seed_spec],
    )
    archive.add_endpoint(name="simulate_conditions", fn=simulate_conditions,
                         input_signature=[cond_spec, seed_spec])
    archive.add_endpoint(
        name="simulate_noise", fn=simulate_noise,
        input_signature=[tf.TensorSpec((None, noise_dim), tf.float32, name="noise"), cond_spec],
    )
    with atomic_directory(path) as tmp:
        archive.write_out(str(tmp), verbose=False)
    return path


def export_besiii_emc_generator(generator, path: str | os.PathLike) -> Path:
    """Exports a BESIII EMC GAN generator as a SavedModel (inputs: seed + 6 conditions).

    Endpoints (:func:`export_conditional_generator`; float32 vectors in physical units:
    GeV/c, deg, deg, cm, cm, cm; output float32 ``(n, 11, 11, 1)`` crystal energies in GeV):
    ``simulate(Mom, dTheta_Mom, dPhi_Mom, dZ_Pos, dPhi_Pos, Z, seed)``,
    ``simulate_conditions(conditions[n, 6], seed)``, ``simulate_noise(noise, conditions)``.
    One call reproduces :func:`keras_fastsim.training.besiii_emc.generate_showers` for the
    same conditions and seed, up to 65536 showers.

    Example:
        >>> export_besiii_emc_generator(generator, "besiii_emc_generator")
        >>> tf.saved_model.load("besiii_emc_generator").simulate_conditions(cond, seed=1)
    """
    from keras_fastsim.io.showers import BESIII_COLUMNS

    return export_conditional_generator(generator, path, BESIII_COLUMNS)


def export_cepc_ecal_generator(generator, path: str | os.PathLike) -> Path:
    """Exports a CEPC ECAL GAN generator as a SavedModel (inputs: seed + 6 conditions).

    Endpoints (:func:`export_conditional_generator`; float32 vectors in physical units:
    GeV, deg, deg, cm, cm, cm; output float32 ``(n, 30, 30, 29)`` voxel energies in GeV, axes
    dZ, dY, layer): ``simulate(Mom, theta, phi, dZ_Pos, dY_Pos, Z, seed)``,
    ``simulate_conditions(conditions[n, 6], seed)``, ``simulate_noise(noise[n, 512],
    conditions)``. One call reproduces
    :func:`keras_fastsim.training.cepc_ecal.generate_cepc_showers` (``keras-fastsim
    generate``) for the same conditions and seed, up to 65536 showers; a call holds ~9 MiB of
    activations per shower on CPU, so call it in batches of a few hundred showers (each
    batch with its own seed).

    Example:
        >>> export_cepc_ecal_generator(generator, "cepc_ecal_generator")
        >>> tf.saved_model.load("cepc_ecal_generator").simulate_conditions(cond, seed=1)
    """
    from keras_fastsim.io.showers import CEPC_COLUMNS

    return export_conditional_generator(generator, path, CEPC_COLUMNS)


def export_run(run_dir: str | os.PathLike, out_dir: str | os.PathLike) -> list[Path]:
    """Exports every model of a run directory; one SavedModel per species for flows.

    A ``dedx-knn`` run (one net for all species) is exported to ``out_dir/dedx_knn`` (see
    :func:`export_dedx_knn` for its endpoints).
    A ``besiii-emc-gan`` run's selected generator goes to ``out_dir/besiii_emc_generator``
    (:func:`export_besiii_emc_generator`), a ``cepc-ecal-gan`` run's to
    ``out_dir/cepc_ecal_generator`` (:func:`export_cepc_ecal_generator`); ``juno-npe`` / ``juno-time`` runs to
    ``out_dir/juno_npe`` / ``out_dir/juno_time`` (endpoint ``serve(R, theta, noise)``).

    Raises:
        RunError: if the run's kind has no SavedModel export.
    """
    manifest = read_manifest(run_dir)
    out_dir = Path(out_dir)
    if manifest["kind"] == "dedx-flow":
        run = FlowRun(run_dir)
        return [export_dedx_flow(run.model(s), out_dir / s) for s in run.species]
    if manifest["kind"] == "dedx-knn":
        from keras_fastsim.training.dedx_knn import load_dedx_knn

        return [export_dedx_knn(load_dedx_knn(run_dir), out_dir / "dedx_knn")]
    if manifest["kind"] == "besiii-emc-gan":
        from keras_fastsim.training.besiii_emc import load_besiii_generator

        return [export_besiii_emc_generator(load_besiii_generator(run_dir),
                                            out_dir / "besiii_emc_generator")]
    if manifest["kind"] == "cepc-ecal-gan":
        from keras_fastsim.training.cepc_ecal import load_cepc_generator

        return [export_cepc_ecal_generator(load_cepc_generator(run_dir),
                                           out_dir / "cepc_ecal_generator")]
    if manifest["kind"] in ("juno-npe", "juno-time"):
        from keras_fastsim.models.juno import (
            export_generator,
            load_juno_npe,
            load_juno_time,
        )

        name = manifest["kind"].replace("-", "_")
        load = load_juno_npe if manifest["kind"] == "juno-npe" else load_juno_time
        return [export_generator(load(run_dir), out_dir / name)]
    raise RunError(
        f"{run_dir}: a {manifest['kind']!r} run has no SavedModel export "
        "(a histogram sampler is a lookup table, not a graph)"
    )
