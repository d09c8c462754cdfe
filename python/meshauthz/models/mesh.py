"""Mesh (TP §1.3): mTLS backends, passthrough, zone egress, initial-policy skip list, metrics."""

from __future__ import annotations

from typing import List, Literal, Optional

from .base import Bool, KumaModel, Payload, Str, StrList


class MtlsBackend(KumaModel):
    name: Str = None
    type: Str = None
    mode: Optional[Literal["STRICT", "PERMISSIVE"]] = None  # proto enum; unset = STRICT
    conf: Payload = None
    dpCert: Payload = None
    rootChain: Payload = None


class Mtls(KumaModel):
    enabledBackend: Str = None
    skipValidation: Bool = None
    backends: Optional[List[MtlsBackend]] = None


class Outbound(KumaModel):
    passthrough: Bool = None  # BoolValue; unset means true (T4.8)


class MeshNetworking(KumaModel):
    outbound: Optional[Outbound] = None


class Routing(KumaModel):
    zoneEgress: Bool = None
    localityAwareLoadBalancing: Bool = None
    defaultForbidMeshExternalServiceAccess: Bool = None


class MetricsBackend(KumaModel):
    name: Str = None
    type: Str = None
    conf: Payload = None


class Metrics(KumaModel):
    enabledBackend: Str = None
    backends: Optional[List[MetricsBackend]] = None


class Mesh(KumaModel):
    mtls: Optional[Mtls] = None
    networking: Optional[MeshNetworking] = None
    routing: Optional[Routing] = None
    skipCreatingInitialPolicies: StrList = None
    metrics: Optional[Metrics] = None
    logging: Payload = None
    tracing: Payload = None
    constraints: Payload = None
    meshServices: Payload = None
