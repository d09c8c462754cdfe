"""Analysis (issue #6): reverse queries, service matrices and policy diffs.

    from meshauthz.analysis import who_can_reach, service_matrix, what_can, diff_traffic, diff_rbac
"""

from .diff import DiffReport, RbacChange, TrafficChange, diff_rbac, diff_traffic
from .matrix import ServiceMatrix, service_matrix
from .rbac import Capabilities, Permission, what_can
from .traffic import ClientSet, ClientTerm, TrafficAnalyzer, identity_of, who_can_reach

__all__ = ["Capabilities", "ClientSet", "ClientTerm", "DiffReport", "Permission", "RbacChange", "ServiceMatrix",
           "TrafficAnalyzer", "TrafficChange", "diff_rbac", "diff_traffic", "identity_of", "service_matrix",
           "what_can", "who_can_reach"]
