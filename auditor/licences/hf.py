"""Source-level licences declared in a Hugging Face dataset folder's own metadata.

Looked up, in order, in ``dataset_info.json`` (``license``, as written by ``save_to_disk`` and the Hub),
the YAML header of ``README.md`` (the dataset card: ``license:`` as a string or a list, with
``license_name`` used when the card says ``other``), then the same files one folder down (a
``DatasetDict`` saved to disk keeps one ``dataset_info.json`` per split). The string is returned as
found; ``normalise_licence`` turns it into SPDX.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

import yaml


class DeclaredLicence(NamedTuple):
    """A licence string as declared in a dataset's metadata, and the file it came from."""

    licence: str
    file: Path


def _from_dataset_info(path: Path) -> str | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    value = data.get("license") if isinstance(data, dict) else None
    return value.strip() if isinstance(value, str) and value.strip() else None


def _card_header(path: Path) -> dict[str, Any] | None:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    if not text.startswith("---"):
        return None
    end = text.find("\n---", 3)
    if end < 0:
        return None
    try:
        header = yaml.safe_load(text[3:end])
    except yaml.YAMLError:
        return None
    return header if isinstance(header, dict) else None


def _from_card(path: Path) -> str | None:
    header = _card_header(path)
    if header is None:
        return None
    value = header.get("license")
    if isinstance(value, list):
        # Several licences listed on a card apply to different parts: all of them apply.
        items = [str(v).strip() for v in value if str(v).strip()]
        value = " AND ".join(items) if len(items) > 1 else (items[0] if items else None)
    if isinstance(value, str) and value.strip().lower() == "other":
        name = header.get("license_name")
        if isinstance(name, str) and name.strip():
            return name.strip()
    return value.strip() if isinstance(value, str) and value.strip() else None


def _in_folder(folder: Path) -> DeclaredLicence | None:
    info = folder / "dataset_info.json"
    if info.is_file() and (found := _from_dataset_info(info)):
        return DeclaredLicence(found, info)
    card = folder / "README.md"
    if card.is_file() and (found := _from_card(card)):
        return DeclaredLicence(found, card)
    return None


def source_licence_from_hf_dir(path: Path) -> DeclaredLicence | None:
    """The licence a Hugging Face dataset folder declares, with the file it came from; None if none."""
    folder = Path(path)
    if not folder.is_dir():
        return None
    found = _in_folder(folder)
    if found is not None:
        return found
    for child in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        found = _in_folder(child)
        if found is not None:
            return found
    return None
