"""Mesh `Validate()` (TP §5.2, Kuma v2.7.29 mesh_validator.go): mtls, logging, tracing, metrics,
constraints, then the zoneEgress/mTLS coupling."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from .dispatch import Violation
from .netaddr import as_uint, split_host_port, validate_port
from .paths import Path
from .tags import lst, obj, s, validate_selector

ALLOWED_MTLS_BACKENDS = 1
_DURATION = re.compile(r"[0-9]+(y|w|d|h|m|s|ms)")


def _v(path: Path, message: str) -> Any:
    return Violation(path, message)


def _unique_names(path: Path, backends: list[dict[str, Any]]) -> tuple[list, set[str]]:
    out, used = [], set()
    for i, backend in enumerate(backends):
        name = s(backend.get("name"))
        if name in used:
            out.append(_v(path + (i, "name"), f'"{name}" name is already used for another backend'))
        used.add(name)
    return out, used


def _mtls(mtls: Any) -> list:
    if not isinstance(mtls, dict):
        return []
    path: Path = ("mtls",)
    backends = [obj(b) for b in lst(mtls.get("backends"))]
    out = []
    if len(backends) > ALLOWED_MTLS_BACKENDS:
        out.append(_v(path + ("backends",), f"cannot have more than {ALLOWED_MTLS_BACKENDS} backends"))
    dup, used = _unique_names(path + ("backends",), backends)
    out.extend(dup)
    enabled = s(mtls.get("enabledBackend"))
    if enabled and enabled not in used:
        out.append(_v(path + ("enabledBackend",), "has to be set to one of the backends in the mesh"))
    for backend in backends:
        if backend.get("dpCert") is not None:
            expiration = s(obj(obj(backend.get("dpCert")).get("rotation")).get("expiration"))
            if expiration != "0" and not _DURATION.fullmatch(expiration):
                out.append(_v(path + ("dpcert.rotation.expiration",), "has to be a valid format"))
    return out


def _logging(logging: Any) -> list:
    if not isinstance(logging, dict):
        return []
    path: Path = ("logging",)
    out, used = [], set()
    for i, backend in enumerate(map(obj, lst(logging.get("backends")))):
        bpath = path + ("backends", i)
        name = s(backend.get("name"))
        if name == "":
            out.append(_v(bpath + ("name",), "cannot be empty"))
        btype = s(backend.get("type"))
        conf = obj(backend.get("conf"))
        if btype == "file":
            if s(conf.get("path")) == "":
                out.append(_v(bpath + ("config", "path"), "cannot be empty"))
        elif btype == "tcp":
            address = s(conf.get("address"))
            if address == "":
                out.append(_v(bpath + ("config", "address"), "cannot be empty"))
            else:
                parsed = split_host_port(address)
                if parsed is None or not parsed[0] or not parsed[1]:
                    out.append(_v(bpath + ("config", "address"), "has to be in format of HOST:PORT"))
        else:
            out.append(_v(bpath + ("type",), 'unknown backend type. Available backends: "tcp", "file"'))
        if name in used:
            out.append(_v(bpath + ("name",), f'"{name}" name is already used for another backend'))
        used.add(name)
    default = s(logging.get("defaultBackend"))
    if default and default not in used:
        out.append(_v(path + ("defaultBackend",), "has to be set to one of the logging backend in mesh"))
    return out


def _zipkin(path: Path, conf: dict[str, Any]) -> list:
    out = []
    api = s(conf.get("apiVersion"))
    if api and api not in ("httpJsonV1", "httpJson", "httpProto"):
        out.append(_v(path + ("apiVersion",), "has invalid value. Allowed values: httpJsonV1, httpJson, httpProto"))
    url = s(conf.get("url"))
    if url == "":
        out.append(_v(path + ("url",), "cannot be empty"))
        return out
    try:
        parts = urlsplit(url)
        ok = bool(parts.scheme) or url.startswith("/")
        port = parts.port
    except ValueError:
        ok, port = False, None
    if not ok:
        out.append(_v(path + ("url",), "invalid URL"))
    elif port is None:
        out.append(_v(path + ("url",), "port has to be explicitly specified"))
    return out


def _tracing(tracing: Any) -> list:
    if not isinstance(tracing, dict):
        return []
    path: Path = ("tracing",)
    out, used = [], set()
    for i, backend in enumerate(map(obj, lst(tracing.get("backends")))):
        bpath = path + ("backends", i)
        name = s(backend.get("name"))
        if name == "":
            out.append(_v(bpath + ("name",), "cannot be empty"))
        sampling = backend.get("sampling")
        if isinstance(sampling, (int, float)) and not isinstance(sampling, bool) and not 0.0 <= sampling <= 100.0:
            out.append(_v(bpath + ("sampling",), "has to be in [0.0 - 100.0] range"))
        btype, conf = s(backend.get("type")), obj(backend.get("conf"))
        if btype == "zipkin":
            out.extend(_zipkin(bpath + ("config",), conf))
        elif btype == "datadog":
            if s(conf.get("address")) == "":
                out.append(_v(bpath + ("config", "address"), "cannot be empty"))
            out.extend(validate_port(bpath + ("config", "port"), as_uint(conf.get("port"))))
        else:
            out.append(_v(bpath + ("type",), 'unknown backend type. Available backends: "zipkin", "datadog"'))
        if name in used:
            out.append(_v(bpath + ("name",), f'"{name}" name is already used for another backend'))
        used.add(name)
    default = s(tracing.get("defaultBackend"))
    if default and default not in used:
        out.append(_v(path + ("defaultBackend",), "has to be set to one of the tracing backend in mesh"))
    return out


def prometheus_conf(path: Path, conf: Any) -> list:
    """validatePrometheusConfig (subset: skipMTLS vs tls, duplicate aggregate names)."""
    c = obj(conf)
    out = []
    if c.get("skipMTLS") is not None and c.get("tls") is not None:
        skip = c.get("skipMTLS") is True
        mode = s(obj(c.get("tls")).get("mode")) or "activeMTLSBackend"
        if not ((not skip and mode == "activeMTLSBackend") or (skip and mode == "disabled")):
            return [_v(path, "skipMTLS and tls configuration cannot be defined together")]
    used: set[str] = set()
    for i, agg in enumerate(map(obj, lst(c.get("aggregate")))):
        name = s(agg.get("name"))
        if name in used:
            out.append(_v(path + ("aggregate", i, "name"), f"duplicate entry: {name}, values have to be unique"))
            continue
        used.add(name)
    return out


def _metrics(metrics: Any) -> list:
    if not isinstance(metrics, dict):
        return []
    path: Path = ("metrics",)
    out, used = [], set()
    for i, backend in enumerate(map(obj, lst(metrics.get("backends")))):
        bpath = path + ("backends", i)
        name = s(backend.get("name"))
        if name in used:
            out.append(_v(bpath + ("name",), f'"{name}" name is already used for another backend'))
        if s(backend.get("type")) != "prometheus":
            out.append(_v(bpath + ("type",), 'unknown backend type. Available backends: "prometheus"'))
        else:
            out.extend(prometheus_conf(bpath + ("conf",), backend.get("conf")))
        used.add(name)
    enabled = s(metrics.get("enabledBackend"))
    if enabled and enabled not in used:
        out.append(_v(path + ("enabledBackend",), "has to be set to one of the backends in the mesh"))
    return out


def _constraints(constraints: Any) -> list:
    dpp = obj(obj(constraints).get("dataplaneProxy"))
    out = []
    for field in ("requirements", "restrictions"):
        for i, item in enumerate(lst(dpp.get(field))):
            out.extend(validate_selector(("constraints", "dataplaneProxy", field, i, "tags"),
                                         obj(item).get("tags"), require_one=True))
    return out


def validate(body: dict[str, Any]) -> list:
    out = _mtls(body.get("mtls")) + _logging(body.get("logging")) + _tracing(body.get("tracing"))
    out += _metrics(body.get("metrics")) + _constraints(body.get("constraints"))
    routing = body.get("routing")
    if isinstance(routing, dict) and routing.get("zoneEgress") is True:
        if not s(obj(body.get("mtls")).get("enabledBackend")):
            out.append(_v(("mtls",), "has to be set when zoneEgress enabled"))  # §5.2 Mesh
    return out
