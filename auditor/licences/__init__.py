"""Licence engine: normalisation to SPDX, traits, content evidence and per-record conclusions.

Public API::

    normalise_licence(text) -> LicenceNormalisation
    traits_of(expression) -> LicenceTraits
    permissiveness_rank(expression) -> int
    explain(expression) -> dict;  render_explanation(dict) -> str
    source_licence_from_hf_dir(path) -> DeclaredLicence | None
    ContentScanner(rules_dir).scan(text) -> list[Finding]
    conclude(evidence) -> Conclusion

The stage that uses them is ``auditor.stages.licence.LicenceStage``.
"""

from __future__ import annotations

from auditor.licences.conclude import Conclusion, Evidence, conclude
from auditor.licences.content import ContentScanner, Finding
from auditor.licences.explain import explain, render_explanation
from auditor.licences.hf import DeclaredLicence, source_licence_from_hf_dir
from auditor.licences.normalise import LicenceNormalisation, normalise_licence
from auditor.licences.traits import LicenceTraits, permissiveness_rank, traits_of

__all__ = [
    "Conclusion",
    "ContentScanner",
    "DeclaredLicence",
    "Evidence",
    "Finding",
    "LicenceNormalisation",
    "LicenceTraits",
    "conclude",
    "explain",
    "normalise_licence",
    "permissiveness_rank",
    "render_explanation",
    "source_licence_from_hf_dir",
    "traits_of",
]
