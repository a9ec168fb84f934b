"""keras_fastsim: generative fast simulation for HEP detectors in Keras 3.

Subpackages by role:

- ``physics``: particle species and shared physical constants.
- ``reference``: physics-based reference simulators standing in for Geant4/data.
- ``io``: reading and writing users' files (track tables, HDF5 showers).
- ``layers``: custom Keras layers.
- ``models``: generative models and baselines.
- ``losses``: two-sample and adversarial losses.
- ``evaluation``: fidelity metrics and particle identification.
- ``plotting``: the validation figures.
- ``training``: ``tf.distribute`` strategies, fitting loops and callbacks.
- ``export``: SavedModel export.
"""

__version__ = "0.1.0"
