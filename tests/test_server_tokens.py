"""Authentication (S4, SA1, SA2, SA3, SA9, SA14): user tokens, every JWT negative of §9, localhost admin,
token issuing, revocation, rotation, offline issuing. Tokens are forged with `cryptography` directly
(never with the server's own issuer) so the negatives do not depend on the code under test."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid

import pytest
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import padding, rsa  # noqa: E402

from server_support import err, server_factory  # noqa: F401

UNAUTH = err(401, "Invalid authentication data", "Unauthenticated")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: dict, payload: dict, key=None, hs_secret: bytes = None) -> str:
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    if hs_secret is not None:
        sig = hmac.new(hs_secret, signing_input.encode(), hashlib.sha256).digest()
    elif key is not None:
        sig = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    else:
        sig = b""
    return f"{signing_input}.{b64(sig)}"


def claims(name="alice", groups=("team-a",), **over):
    now = int(time.time())
    c = {"Name": name, "Groups": list(groups), "exp": now + 3600, "nbf": now - 300, "iat": now,
         "jti": str(uuid.uuid4())}
    c.update(over)
    return {k: v for k, v in c.items() if v is not None}


def signing_key(api, serial=1):
    doc = api.service.snapshot.docs[("GlobalSecret", "", f"user-token-signing-key-{serial}")]
    return serialization.load_pem_private_key(base64.b64decode(doc["data"]), password=None)


RS = {"alg": "RS256", "kid": "1", "typ": "JWT"}


def raw_get(api, path: str, extra: bytes) -> tuple:
    import socket
    from urllib.parse import urlsplit

    u = urlsplit(api.url)
    with socket.create_connection((u.hostname, u.port), timeout=10) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {u.netloc}\r\nConnection: close\r\n".encode() + extra + b"\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


@pytest.fixture
def api(server_factory):  # noqa: F811
    return server_factory("sqlite")


def whoami(api, token=None, **headers):
    return api.client(token, **headers).get("/who-am-i")


def test_valid_forged_token_is_the_user_plus_authenticated(api) -> None:
    r = whoami(api, forge(RS, claims(), signing_key(api)))
    assert r.json() == {"name": "alice", "groups": ["team-a", "mesh-system:authenticated"]}
    # no Groups claim → []; Go's decoder matches claim names case-insensitively (R10.1)
    c = claims()
    del c["Groups"]
    assert whoami(api, forge(RS, c, signing_key(api))).json()["groups"] == ["mesh-system:authenticated"]
    c = claims()
    c["name"] = c.pop("Name")
    assert whoami(api, forge(RS, c, signing_key(api))).json()["name"] == "alice"
    # a token without exp does not expire (R10.3)
    assert whoami(api, forge(RS, claims(exp=None), signing_key(api))).status_code == 200


@pytest.mark.parametrize("case", [
    "alg-none", "hs256-public-pem", "other-key-same-kid", "unknown-kid", "missing-kid", "numeric-kid",
    "expired", "nbf-future", "iat-future", "malformed", "empty-bearer", "lowercase-bearer", "rs512",
])
def test_jwt_negatives_are_401(api, case) -> None:
    key = signing_key(api)
    pub_pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    now = int(time.time())
    header = None
    token = {
        "alg-none": lambda: forge({"alg": "none", "kid": "1", "typ": "JWT"}, claims()),
        "hs256-public-pem": lambda: forge({"alg": "HS256", "kid": "1", "typ": "JWT"}, claims(), hs_secret=pub_pem),
        "other-key-same-kid": lambda: forge(RS, claims(), rsa.generate_private_key(public_exponent=65537,
                                                                                   key_size=2048)),
        "unknown-kid": lambda: forge({**RS, "kid": "99"}, claims(), key),
        "missing-kid": lambda: forge({"alg": "RS256", "typ": "JWT"}, claims(), key),
        "numeric-kid": lambda: forge({**RS, "kid": 1}, claims(), key),
        "expired": lambda: forge(RS, claims(exp=now - 1), key),
        "nbf-future": lambda: forge(RS, claims(nbf=now + 60), key),
        "iat-future": lambda: forge(RS, claims(iat=now + 60), key),
        "malformed": lambda: "not.a-jwt",
        "empty-bearer": lambda: None,
        "lowercase-bearer": lambda: None,
        "rs512": lambda: forge({**RS, "alg": "RS512"}, claims(), key),
    }[case]()
    if case == "empty-bearer":  # httpx refuses a trailing space in a header value: send raw bytes
        status, body = raw_get(api, "/who-am-i", b"Authorization: Bearer \r\n")
        assert status == 401 and body == UNAUTH
        return
    if case == "lowercase-bearer":
        header = "bearer " + forge(RS, claims(), key)  # SA14: not anonymous
    headers = {"Authorization": header} if header else {}
    r = api.client(token, **headers).get("/who-am-i")
    assert r.status_code == 401 and r.json() == UNAUTH
    # the same token on a write: rejected before RBAC (R8.7), nothing written
    r = api.client(token, **headers).put("/meshes/x", json={"type": "Mesh", "name": "x"})
    assert r.status_code == 401
    assert api.client(api.admin_token()).get("/meshes/x").status_code == 404


def test_other_schemes_are_anonymous_and_index_skips_authentication(api) -> None:
    r = whoami(api, Authorization="Basic YWRtaW46YWRtaW4=")
    assert r.json() == {"name": "mesh-system:anonymous", "groups": ["mesh-system:unauthenticated"]}
    assert api.client("garbage").get("/").status_code == 200  # S4.9


def test_revocation_list(api) -> None:
    admin = api.client(api.admin_token())
    jti = str(uuid.uuid4())
    token = forge(RS, claims(jti=jti), signing_key(api))
    assert whoami(api, token).status_code == 200

    def revoke(text: str) -> None:
        r = admin.put("/global-secrets/user-token-revocations", json={
            "type": "GlobalSecret", "name": "user-token-revocations", "data": base64.b64encode(text.encode()).decode()})
        assert r.status_code in (200, 201), r.text

    revoke(f" {jti}")  # a space before the id never matches (exact match)
    assert whoami(api, token).status_code == 200
    revoke(f"other,{jti}\n")  # one trailing newline is stripped
    assert whoami(api, token).json() == UNAUTH
    revoke(f"{jti}\n\n")  # only one newline is stripped: "jti\n" does not match
    assert whoami(api, token).status_code == 200


def test_rotation_and_deleted_signing_key(api) -> None:
    admin_token = api.admin_token()
    admin = api.client(admin_token)
    old = admin.post("/tokens/user", json={"name": "bob", "validFor": "1h"}).text
    assert json.loads(base64.urlsafe_b64decode(old.split(".")[0] + "==")) == {"alg": "RS256", "kid": "1",
                                                                               "typ": "JWT"}
    assert api.service.rotate_signing_key() == 2
    new = admin.post("/tokens/user", json={"name": "bob", "validFor": "1h"}).text
    assert json.loads(base64.urlsafe_b64decode(new.split(".")[0] + "=="))["kid"] == "2"
    assert whoami(api, old).status_code == 200 and whoami(api, new).status_code == 200
    # the admin token was signed with key 1: use a key-2 admin token to delete key 1
    admin2 = api.client(forge({**RS, "kid": "2"}, claims("mesh-system:admin", ["mesh-system:admin"]),
                              signing_key(api, 2)))
    assert admin2.delete("/global-secrets/user-token-signing-key-1").status_code == 200
    assert whoami(api, old).json() == UNAUTH
    assert whoami(api, admin_token).json() == UNAUTH
    assert whoami(api, new).status_code == 200


def test_issued_token_claims(api) -> None:
    admin = api.client(api.admin_token())
    before = int(time.time())
    token = admin.post("/tokens/user", json={"name": "carol", "groups": ["g1", "g2"], "validFor": "1h30m"}).text
    payload = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert set(payload) == {"Name", "Groups", "exp", "nbf", "iat", "jti"}
    assert payload["Name"] == "carol" and payload["Groups"] == ["g1", "g2"]
    assert before <= payload["iat"] <= int(time.time())
    assert payload["exp"] - payload["iat"] == 5400 and payload["iat"] - payload["nbf"] == 300
    assert uuid.UUID(payload["jti"]).version == 4
    signing_key(api).public_key().verify(  # RS256 with the stored key
        base64.urlsafe_b64decode(token.split(".")[2] + "=="), ".".join(token.split(".")[:2]).encode(),
        padding.PKCS1v15(), hashes.SHA256())
    assert whoami(api, token).json() == {"name": "carol", "groups": ["g1", "g2", "mesh-system:authenticated"]}


def test_token_request_validation(api) -> None:
    admin = api.client(api.admin_token())

    def issue(body):
        return admin.post("/tokens/user", json=body)

    def bad(*params):
        return err(400, "Invalid request", "Resource is not valid", list(params))

    assert issue({"name": "", "validFor": "1h"}).json() == bad(("name", "cannot be empty"))
    assert issue({"name": "x"}).json() == bad(("validFor", "cannot be empty"))
    assert issue({"name": "x", "validFor": "abc"}).json() == bad(
        ("validFor", 'is invalid: time: invalid duration "abc"'))
    assert issue({"name": "x", "validFor": "10"}).json() == bad(
        ("validFor", 'is invalid: time: missing unit in duration "10"'))
    assert issue({"name": "x", "validFor": "1d"}).json() == bad(
        ("validFor", 'is invalid: time: unknown unit "d" in duration "1d"'))
    assert issue({"name": "x", "validFor": "0s"}).json() == bad(("validFor", "cannot be empty or nil"))
    for too in ("-1h", "87601h"):  # SA9
        r = issue({"name": "x", "validFor": too})
        assert r.status_code == 400 and r.json()["invalid_parameters"][0]["field"] == "validFor"
        assert r.json()["invalid_parameters"][0]["reason"].startswith("is invalid: ")
    r = admin.post("/tokens/user", content=b"{nope")
    assert r.status_code == 400
    assert issue({"name": "x", "validFor": "87600h"}).status_code == 200


def test_token_issuing_needs_generate_user_token_and_can_be_disabled(server_factory) -> None:  # noqa: F811
    api = server_factory("sqlite")
    admin = api.client(api.admin_token())
    assert admin.put("/access-role-bindings/default", json={
        "type": "AccessRoleBinding", "name": "default", "subjects": [{"type": "Group", "name": "mesh-system:admin"}],
        "roles": ["admin"]}).status_code == 200
    bob = api.client(forge(RS, claims("bob", []), signing_key(api)))
    r = bob.post("/tokens/user", json={"name": "x", "validFor": "1h"})
    assert r.json() == err(403, "Access Denied", 'user "bob/mesh-system:authenticated" cannot access the resource')
    r = bob.post("/tokens/user", content=b"{nope")  # RBAC precedes decoding (S4.6)
    assert r.status_code == 403
    off = server_factory("sqlite", enable_issuer=False)
    r = off.client(off.admin_token()).post("/tokens/user", json={"name": "x", "validFor": "1h"})
    assert r.json() == err(400, "Could not issue a token", "issuing tokens using the control plane is disabled.")


def test_bootstrap_admin_token_is_never_regenerated(tmp_path, server_factory) -> None:  # noqa: F811
    url = f"sqlite:{tmp_path / 'keep.db'}"
    first = server_factory(url)
    token = first.admin_token()
    payload = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert payload["Name"] == "mesh-system:admin" and payload["Groups"] == ["mesh-system:admin"]
    assert payload["exp"] - payload["iat"] == 87600 * 3600
    first.close()
    second = server_factory(url)
    assert second.admin_token() == token
    assert whoami(second, token).json()["name"] == "mesh-system:admin"
    disabled = server_factory("sqlite", bootstrap_admin_token=False)
    assert ("GlobalSecret", "", "admin-user-token") not in disabled.service.snapshot.docs


@pytest.mark.parametrize("headers,admin", [
    ({}, True),
    ({"X-Forwarded-For": "10.0.0.1"}, False),
    ({"Forwarded": "for=10.0.0.1"}, False),
    ({"X-Real-IP": "10.0.0.1"}, False),
    ({"Host": "example.com"}, False),
    ({"Host": "localhost:5681"}, True),
    ({"Sec-Fetch-Site": "cross-site"}, False),
    ({"Sec-Fetch-Site": "same-origin"}, True),
    ({"Origin": "http://evil.example"}, False),
])
def test_localhost_is_admin_strict_loopback(server_factory, headers, admin) -> None:  # noqa: F811
    api = server_factory("sqlite", localhost_is_admin=True)
    r = api.client("an-invalid-token-ignored-for-localhost" if admin else None, **headers).get("/who-am-i")
    expected = "mesh-system:admin" if admin else "mesh-system:anonymous"
    assert r.json()["name"] == expected
    if admin:
        assert r.json()["groups"] == ["mesh-system:admin", "mesh-system:authenticated"]


def test_offline_token_and_static_public_keys(tmp_path, server_factory) -> None:  # noqa: F811
    from meshauthz.server.cli import main

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_file = tmp_path / "signing.pem"
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    pub = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    api = server_factory("sqlite", public_keys=[{"kid": "7", "key": pub.decode()}], use_secrets=False)
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["token", "--signing-key", str(key_file), "--kid", "7", "--name", "ci-bot", "--group", "ci",
                     "--valid-for", "1h"]) == 0
    token = out.getvalue().strip()
    assert whoami(api, token).json() == {"name": "ci-bot", "groups": ["ci", "mesh-system:authenticated"]}
    # useSecrets=false: the stored signing key no longer verifies anything
    assert whoami(api, api.admin_token()).json() == UNAUTH
    with contextlib.redirect_stderr(io.StringIO()):
        assert main(["token", "--signing-key", str(tmp_path / "missing.pem"), "--name", "x"]) == 2


def test_signing_key_secrets_must_hold_an_rsa_key(api) -> None:
    """meshauthz signs with these secrets: a garbage key would break issuing, so it is refused (step 6)."""
    admin = api.client(api.admin_token())
    r = admin.put("/global-secrets/user-token-signing-key-2", json={
        "type": "GlobalSecret", "name": "user-token-signing-key-2", "data": base64.b64encode(b"test").decode()})
    assert r.json() == err(400, "Could not create a resource", "Resource is not valid", [
        ("data", "must be a PEM-encoded RSA private key (a user token signing key)")])
    assert admin.post("/tokens/user", json={"name": "x", "validFor": "1h"}).status_code == 200
    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption())
    r = admin.put("/global-secrets/user-token-signing-key-2", json={
        "type": "GlobalSecret", "name": "user-token-signing-key-2", "data": base64.b64encode(pem).decode()})
    assert r.status_code == 201
    new = admin.post("/tokens/user", json={"name": "x", "validFor": "1h"}).text
    assert json.loads(base64.urlsafe_b64decode(new.split(".")[0] + "=="))["kid"] == "2"
