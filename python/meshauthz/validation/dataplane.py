"""Dataplane `Validate()` (TP §5.2, Kuma v2.7.29 dataplane_validator.go): networking, inbounds,
outbounds, gateway, probes, metrics."""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Optional

from .dispatch import Violation
from .mesh import prometheus_conf
from .netaddr import as_uint, is_dns_name, is_ip, validate_port
from .paths import MapKey, Path
from .tags import PROTOCOL_TAG, SERVICE_TAG, lst, obj, protocol_check, s, smap, validate_tags

_LOOPBACK = "127.0.0.1"
_PROTO_DURATION = re.compile(r"(-?)(\d+)(?:\.(\d{1,9}))?s")


def _v(path: Path, message: str) -> Any:
    return Violation(path, message)


def _ip(value: str) -> Optional[ipaddress._BaseAddress]:
    return ipaddress.ip_address(value) if is_ip(value) else None


def _overlap(a: str, b: str) -> bool:
    ia, ib = _ip(a), _ip(b)
    if (ia is not None and ia.is_unspecified) or (ib is not None and ib.is_unspecified):
        return True
    return ia is not None and ib is not None and ia == ib


def _uses_inbound(networking: dict[str, Any], port: int) -> bool:
    for inbound in map(obj, lst(networking.get("inbound"))):
        dp_ip = s(inbound.get("address")) or s(networking.get("address"))
        workload_ip = s(inbound.get("serviceAddress")) or dp_ip
        dp_port = as_uint(inbound.get("port"))
        workload_port = as_uint(inbound.get("servicePort")) or dp_port
        if (port == dp_port and _overlap(_LOOPBACK, dp_ip)) or (port == workload_port
                                                                 and _overlap(_LOOPBACK, workload_ip)):
            return True
    return False


def _uses_outbound(networking: dict[str, Any], port: int) -> bool:
    return any(port == as_uint(o.get("port")) and _overlap(_LOOPBACK, s(o.get("address")) or _LOOPBACK)
               for o in map(obj, lst(networking.get("outbound"))))


def _address(address: str) -> list:
    path: Path = ("networking", "address")
    if address == "":
        return [_v(path, "address can't be empty")]
    out = []
    if address in ("0.0.0.0", "::"):
        out.append(_v(path, "must not be 0.0.0.0 or ::"))
    if not is_ip(address) and not is_dns_name(address):
        out.append(_v(path, "address has to be valid IP address or domain name"))
    return out


def _duration_is_zero(value: Any) -> Optional[bool]:
    if s(value) == "0":
        return True
    m = _PROTO_DURATION.fullmatch(s(value))
    if m is None:
        return None  # unparseable: a decoding (model) error, not a Validate() violation
    return int(m.group(2)) == 0 and int(m.group(3) or "0") == 0


def _service_probe(path: Path, probe: Any) -> list:
    if not isinstance(probe, dict):
        return []
    out = []
    for field in ("interval", "timeout"):
        if probe.get(field) is not None:
            zero = _duration_is_zero(probe[field])
            if zero:
                out.append(_v(path + (field,), "must have a positive value"))
    for field in ("unhealthyThreshold", "healthyThreshold"):
        value = probe.get(field)
        if value is not None:
            raw = obj(value).get("value") if isinstance(value, dict) else value
            if as_uint(raw) == 0:
                out.append(_v(path + (field,), "must have a positive value"))
    return out


def _inbound(path: Path, inbound: dict[str, Any], dp_address: str) -> list:
    out = validate_port(path + ("port",), as_uint(inbound.get("port")))
    port, service_port = as_uint(inbound.get("port")), as_uint(inbound.get("servicePort"))
    if service_port != 0:
        out.extend(validate_port(path + ("servicePort",), service_port))
    service_address, address = s(inbound.get("serviceAddress")), s(inbound.get("address"))
    clash = "serviceAddress and servicePort has to differ from address and port"
    if service_address:
        if not is_ip(service_address):
            out.append(_v(path + ("serviceAddress",), "serviceAddress has to be valid IP address"))
        if service_address == dp_address and service_port in (0, port):
            out.append(_v(path + ("serviceAddress",), clash))
    if address:
        if not is_ip(address):
            out.append(_v(path + ("address",), "address has to be valid IP address"))
        if address == service_address and service_port in (0, port):
            out.append(_v(path + ("serviceAddress",), clash))
    out.extend(validate_tags(path + ("tags",), inbound.get("tags"), extra=(protocol_check,)))
    out.extend(_service_probe(path + ("serviceProbe",), inbound.get("serviceProbe")))
    return out


def _outbound(path: Path, outbound: dict[str, Any]) -> list:
    out = validate_port(path + ("port",), as_uint(outbound.get("port")))
    address = s(outbound.get("address"))
    if address and not is_ip(address):
        out.append(_v(path + ("address",), "address has to be valid IP address"))
    backend_ref = outbound.get("backendRef")
    tags = smap(outbound.get("tags"))
    service = s(outbound.get("service"))
    if isinstance(backend_ref, dict):
        if s(backend_ref.get("kind")) != "MeshService":
            out.append(_v(path + ("backendRef.kind",), "invalid value. Available values are: MeshService"))
        if not s(backend_ref.get("name")):
            out.append(_v(path + ("backendRef.name",), "cannot be empty"))
        out.extend(validate_port(path + ("backendRef", "port"), as_uint(backend_ref.get("port"))))
    elif not tags:
        if not service:
            out.append(_v(path + ("tags",), f'mandatory tag "{SERVICE_TAG}" is missing'))
    else:
        out.extend(validate_tags(path + ("tags",), tags, require_service=True))
    if isinstance(backend_ref, dict) and (tags or service):
        out.append(_v(path + ("backendRef",), "both backendRef and tags/service cannot be defined"))
    return out


def _gateway_protocol(path: Path, tags: dict[str, str]) -> list:
    if PROTOCOL_TAG in tags and tags[PROTOCOL_TAG] != "tcp":
        return [_v(path + (MapKey(PROTOCOL_TAG),),
                   f'other values than tcp are not allowed, provided value "{tags[PROTOCOL_TAG]}"')]
    return []


def _networking(networking: dict[str, Any]) -> list:
    dp_address = s(networking.get("address"))
    out = _address(dp_address)
    for i, inbound in enumerate(lst(networking.get("inbound"))):
        path: Path = ("networking", "inbound", i)
        out.extend(_inbound(path, obj(inbound), dp_address))
        if SERVICE_TAG not in smap(obj(inbound).get("tags")):
            out.append(_v(path + ("tags", MapKey(SERVICE_TAG)), "tag has to exist"))
    for i, outbound in enumerate(lst(networking.get("outbound"))):
        out.extend(_outbound(("networking", "outbound", i), obj(outbound)))
    return out


def _probes(probes: Any) -> list:
    if not isinstance(probes, dict):
        return []
    path: Path = ("probes",)
    out = validate_port(path + ("port",), as_uint(probes.get("port")))
    for i, endpoint in enumerate(map(obj, lst(probes.get("endpoints")))):
        ep: Path = path + ("endpoints", i)
        out.extend(validate_port(ep + ("inboundPort",), as_uint(endpoint.get("inboundPort"))))
        for field in ("inboundPath", "path"):
            if not _request_uri(s(endpoint.get(field))):
                out.append(_v(ep + (field,), "should be a valid URL Path"))
    return out


def _request_uri(value: str) -> bool:
    """url.ParseRequestURI, approximately: an absolute path or an absolute URI."""
    return value.startswith("/") or re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*:", value) is not None


def _metrics(metrics: dict[str, Any]) -> list:
    if s(metrics.get("type")) != "prometheus":
        return [_v(("metrics", "type"), 'unknown backend type. Available backends: "prometheus"')]
    return prometheus_conf(("metrics", "conf"), metrics.get("conf"))


def validate(body: dict[str, Any]) -> list:
    networking = body.get("networking")
    net: Path = ("networking",)
    if not isinstance(networking, dict):
        return [_v(net, "must be defined")]
    out: list = []
    admin = networking.get("admin")
    if isinstance(admin, dict):
        port = as_uint(admin.get("port"))
        if _uses_inbound(networking, port):
            out.append(_v(net + ("admin", "port"), "must differ from inbound"))
        if _uses_outbound(networking, port):
            out.append(_v(net + ("admin", "port"), "must differ from outbound"))
    gateway = networking.get("gateway")
    inbounds, outbounds = lst(networking.get("inbound")), lst(networking.get("outbound"))
    if isinstance(gateway, dict):
        builtin = s(gateway.get("type")) == "BUILTIN"
        if builtin:
            if inbounds:
                out.append(_v(net + ("inbound",), "inbound cannot be defined for builtin gateways"))
            if outbounds:
                out.append(_v(net + ("outbound",), "outbound cannot be defined for builtin gateways"))
            if body.get("probes") is not None:
                out.append(_v(net + ("probes",), "probes cannot be defined for builtin gateways"))
        elif inbounds:
            out.append(_v(net + ("inbound",), "inbound cannot be defined for delegated gateways"))
        out.extend(validate_tags(net + ("gateway", "tags"), gateway.get("tags"), require_service=True,
                                 extra=(_gateway_protocol,)))
        out.extend(_networking(networking))
        if not builtin:
            out.extend(_probes(body.get("probes")))
        return out
    if not inbounds:
        out.append(_v(net, "has to contain at least one inbound interface or gateway"))
    out.extend(_networking(networking))
    out.extend(_probes(body.get("probes")))
    if isinstance(body.get("metrics"), dict):
        out.extend(_metrics(body["metrics"]))
    return out
