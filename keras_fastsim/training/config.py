"""Plain YAML configs unpacked into the arguments of models and trainers."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Any

import yaml


def load_config(name_or_path: str | os.PathLike) -> dict[str, Any]:
    """Loads a config: a packaged one by name (``"dedx_flow"``) or a YAML file path.

    Raises:
        ValueError: if the file is missing or is not a YAML mapping.
    """
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise ValueError(f"Config file not found. Received: path={str(path)!r}")
        text = path.read_text()
    else:
        try:
            text = resources.files("keras_fastsim.configs").joinpath(f"{name_or_path}.yaml").read_text()
        except FileNotFoundError:
            raise ValueError(f"No packaged config. Received: name={name_or_path!r}") from None
    config = yaml.safe_load(text) or {}
    if not isinstance(config, dict):
        raise ValueError(f"A config must be a YAML mapping. Received: {type(config).__name__}")
    return config


def merge_config(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Recursively merges ``override`` into a copy of ``base``; ``None`` values are skipped."""
    merged = dict(base)
    for key, value in override.items():
        if value is None:
            continue
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_config(merged[key], value)
        else:
            merged[key] = value
    return merged
