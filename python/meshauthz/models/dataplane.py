"""Dataplane (TP §1.4): networking address, inbounds, gateway, outbounds (+ admin, probes, metrics)."""

from __future__ import annotations

from typing import List, Literal, Optional

from .base import KumaModel, Payload, Str, StrMap, UInt32


class Inbound(KumaModel):
    port: UInt32 = None
    servicePort: UInt32 = None
    serviceAddress: Str = None
    address: Str = None
    state: Optional[Literal["Ready", "NotReady", "Ignored"]] = None
    name: Str = None
    tags: StrMap = None
    health: Payload = None
    serviceProbe: Payload = None


class BackendRef(KumaModel):
    kind: Str = None
    name: Str = None
    port: UInt32 = None
    labels: StrMap = None


class Outbound(KumaModel):
    address: Str = None
    port: UInt32 = None
    tags: StrMap = None
    service: Str = None
    backendRef: Optional[BackendRef] = None


class Gateway(KumaModel):
    type: Optional[Literal["DELEGATED", "BUILTIN"]] = None  # unset = DELEGATED
    tags: StrMap = None


class Admin(KumaModel):
    port: UInt32 = None


class Networking(KumaModel):
    address: Str = None
    advertisedAddress: Str = None
    inbound: Optional[List[Inbound]] = None
    outbound: Optional[List[Outbound]] = None
    gateway: Optional[Gateway] = None
    admin: Optional[Admin] = None
    transparentProxying: Payload = None


class Dataplane(KumaModel):
    networking: Optional[Networking] = None
    metrics: Payload = None
    probes: Payload = None
