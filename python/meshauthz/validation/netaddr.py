"""Go-compatible address helpers used by Kuma's validators (net.SplitHostPort, net.ParseIP,
govalidator.IsDNSName, strconv.ParseUint(_, 10, 32), ValidatePort)."""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Optional

from .dispatch import Violation
from .paths import Path

_DNS_NAME = re.compile(r"([a-zA-Z0-9_][a-zA-Z0-9_-]{0,62})(\.[a-zA-Z0-9_][a-zA-Z0-9_-]{0,62})*[._]?")
_UINT = re.compile(r"[0-9]+")
MSG_PORT = "port must be in the range [1, 65535]"


def split_host_port(hostport: str) -> Optional[tuple[str, str]]:
    """net.SplitHostPort; None on error (Go then returns empty host and port)."""
    i = hostport.rfind(":")
    if i < 0:
        return None
    j = k = 0
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0 or end + 1 == len(hostport) or end + 1 != i:
            return None
        host, j, k = hostport[1:end], 1, end + 1
    else:
        host = hostport[:i]
        if ":" in host:
            return None
    if "[" in hostport[j:] or "]" in hostport[k:]:
        return None
    return host, hostport[i + 1:]


def is_ip(value: str) -> bool:
    """net.ParseIP != nil (no zones, no leading zeros in IPv4)."""
    if not value or "%" in value:
        return False
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def is_dns_name(value: str) -> bool:
    """govalidator.IsDNSName."""
    if value == "" or len(value.replace(".", "")) > 255:
        return False
    return not is_ip(value) and _DNS_NAME.fullmatch(value) is not None


def parse_uint32(value: str) -> tuple[int, bool]:
    """strconv.ParseUint(value, 10, 32): (value, ok); overflow yields the max value and not ok."""
    if not _UINT.fullmatch(value):
        return 0, False
    n = int(value)
    if n > 0xFFFFFFFF:
        return 0xFFFFFFFF, False
    return n, True


def as_uint(value: Any) -> int:
    """A uint32 proto field as decoded (wrong types count as 0)."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _UINT.fullmatch(value):
        return int(value)
    return 0


def validate_port(path: Path, port: int) -> list:
    return [Violation(path, MSG_PORT)] if port == 0 or port > 65535 else []
