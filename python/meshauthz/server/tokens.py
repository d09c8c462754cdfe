"""User tokens (S4.3–S4.8, rbac.md R10.1–R10.3): RS256 JWTs with PyJWT and `cryptography`.

Signing keys are GlobalSecrets `user-token-signing-key-<N>` (data = base64 of an RSA 2048 PEM private
key); kid = `str(N)`, the bare legacy name has kid `0`. Revocations: GlobalSecret
`user-token-revocations` (jtis joined by `,`, one trailing newline stripped, exact match).
"""

from __future__ import annotations

import base64
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Optional

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

SIGNING_KEY_PREFIX = "user-token-signing-key"
REVOCATIONS = "user-token-revocations"
ADMIN_TOKEN = "admin-user-token"
MAX_VALID_FOR = 87600 * 3600.0  # SA9: 10 years
NOT_BEFORE_SKEW = 5 * 60  # S4.3: nbf = now - 5 min


class TokenError(Exception):
    """Why a token was rejected (logged, never returned: S3.3)."""


def key_name(serial: int) -> str:
    return SIGNING_KEY_PREFIX if serial == 0 else f"{SIGNING_KEY_PREFIX}-{serial}"


def serial_of(name: str) -> Optional[int]:
    if name == SIGNING_KEY_PREFIX:
        return 0
    m = re.fullmatch(re.escape(SIGNING_KEY_PREFIX) + r"-([1-9][0-9]*)", name)
    return int(m.group(1)) if m else None


def new_private_key_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


def load_private_key(pem: bytes) -> Any:
    return serialization.load_pem_private_key(pem, password=None)


def load_public_key(pem: bytes) -> Any:
    """A public key PEM, or the public half of a private key PEM (for `validator.publicKeys`)."""
    if b"PRIVATE KEY" in pem:
        return load_private_key(pem).public_key()
    return serialization.load_pem_public_key(pem)


def public_pem(private_pem: bytes) -> bytes:
    return load_private_key(private_pem).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def secret_data(doc: Optional[dict[str, Any]]) -> Optional[bytes]:
    if doc is None:
        return None
    try:
        return base64.b64decode(doc.get("data") or "", validate=True)
    except (ValueError, TypeError):
        return None


def issue(private_pem: bytes, serial: int, name: str, groups: list[str], valid_for: float,
          now: Optional[float] = None) -> str:
    """S4.3: `iat = now`, `nbf = now - 5 min`, `exp = now + validFor`, `jti` UUIDv4, kid = serial."""
    now = int(time.time() if now is None else now)
    payload = {"Name": name, "Groups": list(groups), "exp": now + int(valid_for), "nbf": now - NOT_BEFORE_SKEW,
               "iat": now, "jti": str(uuid.uuid4())}
    return jwt.encode(payload, load_private_key(private_pem), algorithm="RS256", headers={"kid": str(serial)})


@dataclass(frozen=True)
class Verified:
    name: str
    groups: tuple[str, ...]
    jti: Optional[str]
    exp: Optional[float] = None
    nbf: Optional[float] = None
    iat: Optional[float] = None


def _claim(claims: dict[str, Any], name: str) -> Any:
    """R10.1: Go's decoder matches field names case-insensitively; the exact case wins."""
    if name in claims:
        return claims[name]
    for k, v in claims.items():
        if k.lower() == name.lower():
            return v
    return None


def verify(token: str, key_for_kid: Callable[[str], Optional[Any]], revoked: Callable[[], set[str]],
           now: Optional[float] = None) -> Verified:
    """S4.4 in order; any failure raises TokenError (→ 401)."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as e:
        raise TokenError(f"malformed token: {e}") from None
    kid = header.get("kid")
    if not isinstance(kid, str):  # SA3: missing or non-string kid
        raise TokenError("kid header is missing or not a string")
    if header.get("alg") != "RS256":  # SA2: RS256 only (no HS*, no none)
        raise TokenError(f"unsupported signing method {header.get('alg')!r}")
    key = key_for_kid(kid)
    if key is None:
        raise TokenError(f"there is no signing key with KID {kid}")
    now = time.time() if now is None else now
    try:
        claims = jwt.decode(token, key, algorithms=["RS256"],
                            options={"verify_exp": False, "verify_nbf": False, "verify_iat": False,
                                     "verify_aud": False, "verify_iss": False, "require": []})
    except jwt.PyJWTError as e:
        raise TokenError(f"could not verify the token: {e}") from None
    # No leeway (S4.4): exp > now, nbf <= now, iat <= now, when present.
    for field, ok in (("exp", lambda v: v > now), ("nbf", lambda v: v <= now), ("iat", lambda v: v <= now)):
        if field in claims:
            value = claims[field]
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise TokenError(f"claim {field} is not a number")
            if not ok(value):
                raise TokenError(f"token {field} check failed")
    name = _claim(claims, "Name")
    groups = _claim(claims, "Groups")
    if not isinstance(name, str) or not name:
        raise TokenError("token has no Name")
    if groups is None:
        groups = []
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        raise TokenError("token Groups is not a list of strings")
    jti = claims.get("jti")
    if jti is not None and not isinstance(jti, str):
        raise TokenError("jti is not a string")
    if jti is not None and jti in revoked():
        raise TokenError("token is revoked")
    return Verified(name, tuple(groups), jti, claims.get("exp"), claims.get("nbf"), claims.get("iat"))


def parse_revocations(data: bytes) -> set[str]:
    """S4.7: jtis joined by `,`; exactly one trailing newline stripped; exact match (no trimming)."""
    text = data.decode("utf-8", errors="replace")
    if text.endswith("\n"):
        text = text[:-1]
    return set(text.split(",")) if text else set()


# --- Go durations (time.ParseDuration) ------------------------------------------------------------

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)([a-zµμ]*)")


def parse_go_duration(text: str) -> float:
    """Seconds; raises ValueError with Go's message (`time: invalid duration "x"`, ...)."""
    quoted = '"' + text + '"'
    s = text
    neg = False
    if s[:1] in ("-", "+"):
        neg = s[0] == "-"
        s = s[1:]
    if s == "0":
        return 0.0
    if s == "":
        raise ValueError(f"time: invalid duration {quoted}")
    total = 0.0
    pos = 0
    while pos < len(s):
        m = _PART.match(s, pos)
        assert m is not None
        number, unit = m.group(1), m.group(2)
        if number in ("", "."):
            raise ValueError(f"time: invalid duration {quoted}")
        if unit == "":
            raise ValueError(f"time: missing unit in duration {quoted}")
        if unit not in _UNITS:
            raise ValueError(f'time: unknown unit "{unit}" in duration {quoted}')
        total += float(number) * _UNITS[unit]
        pos = m.end()
    return -total if neg else total
