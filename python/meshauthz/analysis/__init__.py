"""Analysis (issue #6): reverse queries, service matrices and policy diffs.

    from meshauthz.analysis import who_can_reach, service_matrix, what_can, diff_paths
"""

from .traffic import ClientSet, ClientTerm, TrafficAnalyzer, identity_of, who_can_reach

__all__ = ["ClientSet", "ClientTerm", "TrafficAnalyzer", "identity_of", "who_can_reach"]
