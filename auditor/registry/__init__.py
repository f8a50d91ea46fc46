"""Rights registries and opt-out evidence: works, holders, opt-out lists, captured robots.txt /
ai.txt / tdmrep.json files, AI agent tokens and copyright terms.

Public API::

    load_registries(paths, *, as_of) -> Registries       validated, raises ConfigError (file:line)
    check_registry(path) -> list[str]                     problems, for `auditor registry check`
    build_fingerprints(works_csv, out=None) -> Path       for `auditor registry build`
    public_domain_in(work, jurisdiction, as_of) -> bool | None
    propagate_clusters(table) -> pa.Table                 union of rights/opt_out per dup_cluster
    registry_paths(section, base_dir) -> list[Path]       [registries] paths of audit.toml

The stages that use them are ``auditor.stages.rights.RightsStage`` and
``auditor.stages.optout.OptOutStage``. File formats: docs/registries.md.
"""

from __future__ import annotations

from auditor.registry.loaders import DEFAULT_AGENTS_PATH, DEFAULT_REGISTRY_DIR, load_registries
from auditor.registry.models import (
    COPYRIGHT_STATUSES,
    OPT_OUT_SIGNALS,
    RIGHTS_KINDS,
    Holder,
    OptOutEntry,
    Registries,
    Snapshot,
    Work,
)
from auditor.registry.propagate import propagate_clusters
from auditor.registry.terms import CopyrightTerms, load_terms, public_domain_in
from auditor.registry.tools import build_fingerprints, check_registry, registry_paths

__all__ = [
    "COPYRIGHT_STATUSES",
    "DEFAULT_AGENTS_PATH",
    "DEFAULT_REGISTRY_DIR",
    "OPT_OUT_SIGNALS",
    "RIGHTS_KINDS",
    "CopyrightTerms",
    "Holder",
    "OptOutEntry",
    "Registries",
    "Snapshot",
    "Work",
    "build_fingerprints",
    "check_registry",
    "load_registries",
    "load_terms",
    "propagate_clusters",
    "public_domain_in",
    "registry_paths",
]
