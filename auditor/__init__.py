"""auditor: training-data provenance auditor.

The public API (``__all__``); names load lazily, so ``import auditor`` stays cheap::

    from auditor import load_config, scan, ScanOptions
    result = scan(load_config("audit.toml"), ScanOptions(out=Path("audit-out")))
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "AuditConfig": "auditor.config",
    "SourceSpec": "auditor.config",
    "load_config": "auditor.config",
    "config_from_paths": "auditor.config",
    "ScanOptions": "auditor.pipeline",
    "ScanResult": "auditor.pipeline",
    "scan": "auditor.pipeline",
    "verify_manifest": "auditor.manifest.verify",
    "redecide": "auditor.redecide",
    "explain_in_manifest": "auditor.explain",
    "filter_corpus": "auditor.filtering",
    "load_audit_policy": "auditor.reduce",
    "AuditorError": "auditor.errors",
    "UsageError": "auditor.errors",
    "ConfigError": "auditor.errors",
    "InputError": "auditor.errors",
    "FormatError": "auditor.errors",
    "ColumnError": "auditor.errors",
    "ManifestError": "auditor.errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'auditor' has no attribute {name!r}; public names: {', '.join(__all__)}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(__all__)
