"""``python -m keras_fastsim``: the command-line interface."""

from keras_fastsim.cli import main

raise SystemExit(main())
