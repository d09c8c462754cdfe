"""ExternalService `Validate()` (TP §5.2): networking, then tags, then the service/address clash."""

from __future__ import annotations

from typing import Any

from .dispatch import Violation
from .netaddr import is_dns_name, is_ip, parse_uint32, split_host_port, validate_port
from .paths import MapKey, Path
from .tags import SERVICE_TAG, obj, protocol_check, s, smap, validate_tags


def _v(path: Path, message: str) -> Any:
    return Violation(path, message)


def _address(path: Path, address: str) -> list:
    if address == "":
        return [_v(path, "address can't be empty")]
    out = []
    parsed = split_host_port(address)
    if parsed is None:
        out.append(_v(path, "unable to parse address"))
    host, port = parsed or ("", "")
    if not is_ip(host) and not is_dns_name(host):
        out.append(_v(path, "address has to be a valid IP address or a domain name"))
    value, ok = parse_uint32(port)
    if not ok:
        out.append(_v(path, "unable to parse port in address"))
    out.extend(validate_port(path, value))
    return out


def data_source_empty(ds: Any) -> bool:
    """system.ValidateDataSource: a present data source needs inline, inlineString, secret or file."""
    d = obj(ds)
    return not any(s(d.get(f)) for f in ("inline", "inlineString", "secret", "file"))


def _networking(networking: Any) -> list:
    out = []
    path: Path = ("networking",)
    if not isinstance(networking, dict):
        out.append(_v(path, "should have networking"))
    else:
        out.extend(_address(path + ("address",), s(networking.get("address"))))
    tls = obj(obj(networking).get("tls"))
    if "serverName" in tls and tls["serverName"] is not None and s(tls["serverName"]) == "":
        out.append(_v(path + ("tls", "serverName"), "cannot be empty"))
    for field in ("caCert", "clientCert", "clientKey"):
        if tls.get(field) is not None and data_source_empty(tls[field]):
            out.append(_v(path + ("tls", field), "data source cannot be empty"))
    return out


def validate(body: dict[str, Any]) -> list:
    out = _networking(body.get("networking"))
    tags = smap(body.get("tags"))
    # protocol is reported before the per-key checks; kuma.io/service is mandatory
    out.extend(validate_tags(("tags",), tags, require_service=True, extra=(protocol_check,)))
    service = tags.get(SERVICE_TAG, "")
    if service:
        parsed = split_host_port(s(obj(body.get("networking")).get("address")))
        if parsed is not None and parsed[0] == service:
            out.append(_v(("tags", MapKey(SERVICE_TAG)), "cannot be the same as networking.address"))
    return out
