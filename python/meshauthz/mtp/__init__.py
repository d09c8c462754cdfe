"""MeshTrafficPermission (meshtrafficpermission.md): selection (M4), order (M4.9), decision (M6.2),
Kuma's rule list (M6.4), subset algebra (M6.5) and the §7 inbound decision for MTP-governed inbounds."""

from .engine import MtpDecision, MtpEngine, Rule
from .subset import subset_contains, subset_is_subset, subset_iter

__all__ = ["MtpDecision", "MtpEngine", "Rule", "subset_contains", "subset_is_subset",
           "subset_iter"]
