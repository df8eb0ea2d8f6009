"""EdDSA access tokens and the JWKS (docs/jwt.md).

This file starts an Apache of its own whose first JKLGJWTKey is an Ed25519
key (a PKCS#8 PEM file, as `openssl genpkey -algorithm ed25519` writes it)
and whose second is the suite's HS256 key k1: the middle of a rotation
from HS256 to EdDSA. It shares the session's PostgreSQL and SMTP stand-in.
Tokens are checked with python3-cryptography, independently of the C code.
Bad key files must stop Apache at start-up naming JKLGJWTKey."""

import shutil
import tempfile
import time
from pathlib import Path

import pytest
import requests
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey, Ed25519PublicKey)
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from harness.customers import (assert_json, assert_unauthorized,
                               b64u, b64u_decode, jwt_encode, jwt_split,
                               me, register_verified)
from harness.server import (DBD_NONE, JWT_KEYS, directives, minimal,
                            own_server, serving, templates_dir)

JWKS = "/api/.well-known/jwks.json"
ED_KID = "e1"
HS_KID = "k1"                       # the suite's key, second here


def pem(private_key):
    return private_key.private_bytes(serialization.Encoding.PEM,
                                     serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())


def raw_public(private_key):
    return private_key.public_key().public_bytes(serialization.Encoding.Raw,
                                                 serialization.PublicFormat.Raw)


@pytest.fixture(scope="module")
def ed_key():
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="module")
def eddsa_server(pg, smtp, stripe_api, ed_key):
    base = Path(tempfile.mkdtemp(prefix="jklg-eddsa-httpd-"))
    key_file = base / "jklg-jwt-ed25519.pem"
    key_file.write_bytes(pem(ed_key))
    key_file.chmod(0o600)           # read by the parent, as root, at start-up
    conf = directives(smtp, stripe_api, templates_dir(base),
                      jwt_keys=[(ED_KID, f"ed25519:file:{key_file}"),
                                (HS_KID, JWT_KEYS[HS_KID])])
    httpd = own_server(base, pg.dbd_params(), conf)
    httpd.issuer = "https://travel.test"
    with serving(httpd):
        yield httpd
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def eddsa_clean(eddsa_server):
    """This server's error log gains no unexpected errors during a test."""
    eddsa_server.mark_log()
    yield eddsa_server
    errors = eddsa_server.new_errors([])
    assert not errors, "unexpected errors in the error log:\n" + "\n".join(errors)


def verify_ed25519(public_raw, token):
    signing_input, _, signature = token.rpartition(".")
    Ed25519PublicKey.from_public_bytes(public_raw).verify(
        b64u_decode(signature), signing_input.encode("ascii"))


# ---------------------------------------------------------------- tokens

def test_login_issues_an_eddsa_token_that_me_accepts(eddsa_clean, mail, ed_key):
    account = register_verified(eddsa_clean, mail)
    header, claims, signature = jwt_split(account.token)
    assert header == {"alg": "EdDSA", "typ": "JWT", "kid": ED_KID}
    assert claims["sub"] == account.id
    assert claims["iss"] == eddsa_clean.issuer
    assert len(b64u_decode(signature)) == 64
    verify_ed25519(raw_public(ed_key), account.token)
    body = assert_json(me(eddsa_clean, account.token), 200)
    assert body["customer"]["email"] == account.email


def test_old_hs256_token_still_works_during_rotation(eddsa_clean, mail):
    account = register_verified(eddsa_clean, mail)
    _, claims, _ = jwt_split(account.token)
    # What the server issued while k1 was first: same session, HS256.
    old = jwt_encode({"alg": "HS256", "typ": "JWT", "kid": HS_KID}, claims,
                     JWT_KEYS[HS_KID])
    assert_json(me(eddsa_clean, old), 200)
    # Not with a secret the server does not have.
    assert_unauthorized(me(eddsa_clean, jwt_encode(
        {"alg": "HS256", "typ": "JWT", "kid": HS_KID}, claims,
        JWT_KEYS["k2"])))


def test_hs256_token_naming_the_ed25519_kid_is_refused(eddsa_clean, mail, ed_key):
    """The algorithm-confusion attack: the public key (as raw bytes, or as
    published in the JWKS) used as an HMAC secret."""
    account = register_verified(eddsa_clean, mail)
    _, claims, _ = jwt_split(account.token)
    header = {"alg": "HS256", "typ": "JWT", "kid": ED_KID}
    public = raw_public(ed_key)
    for secret in (public, b64u(public)):
        assert_unauthorized(me(eddsa_clean, jwt_encode(header, claims, secret)))
    # EdDSA naming the HS256 kid, signed with our own Ed25519 key.
    forged_input = (b64u('{"alg":"EdDSA","typ":"JWT","kid":"k1"}') + "."
                    + account.token.split(".")[1])
    forged = forged_input + "." + b64u(ed_key.sign(forged_input.encode()))
    assert_unauthorized(me(eddsa_clean, forged))
    # alg none, and a signature over other claims.
    none = b64u('{"alg":"none","typ":"JWT","kid":"e1"}') + "." \
        + account.token.split(".")[1] + "."
    assert_unauthorized(me(eddsa_clean, none))
    other = Ed25519PrivateKey.generate()
    alien = account.token.rpartition(".")[0]
    assert_unauthorized(me(eddsa_clean, alien + "." + b64u(
        other.sign(alien.encode()))))
    assert_json(me(eddsa_clean, account.token), 200)


# ------------------------------------------------------------------ JWKS

def test_jwks_lists_exactly_the_ed25519_public_key(eddsa_clean, mail, ed_key):
    resp = requests.get(eddsa_clean.url + JWKS, timeout=30)
    body = assert_json(resp, 200)
    assert body == {"keys": [{"kty": "OKP", "crv": "Ed25519",
                              "x": b64u(raw_public(ed_key)), "kid": ED_KID,
                              "use": "sig", "alg": "EdDSA"}]}
    assert resp.headers["Cache-Control"] == "public, max-age=300"
    # Neither the HS256 secret nor the private key, in any spelling.
    private_raw = ed_key.private_bytes(serialization.Encoding.Raw,
                                       serialization.PrivateFormat.Raw,
                                       serialization.NoEncryption())
    for secret in (JWT_KEYS[HS_KID], b64u(private_raw)):
        assert secret not in resp.text
    # The HS256 key not even by its id ("k1" is short enough to turn up
    # inside a random public key, so compare ids, not text).
    assert HS_KID not in {k.get("kid") for k in body["keys"]}
    # Another service verifies a login token with nothing but the JWKS.
    account = register_verified(eddsa_clean, mail)
    jwk = {k["kid"]: k for k in body["keys"]}[jwt_split(account.token)[0]["kid"]]
    verify_ed25519(b64u_decode(jwk["x"]), account.token)
    with pytest.raises(InvalidSignature):
        verify_ed25519(b64u_decode(jwk["x"]),
                       account.token[:-2] + ("AA" if account.token[-2:] != "AA"
                                             else "BA"))


def test_jwks_of_an_hs256_only_server_is_empty(server):
    resp = requests.get(server.url + JWKS, timeout=30)
    assert assert_json(resp, 200) == {"keys": []}
    assert resp.headers["Cache-Control"] == "public, max-age=300"


def test_jwks_other_methods(eddsa_clean):
    resp = requests.post(eddsa_clean.url + JWKS, timeout=30)
    assert resp.status_code in (404, 405), resp.text
    assert "error" in resp.json()


# ------------------------------------------------ key files at start-up

# No key: each test adds the JKLGJWTKey it checks.
GOOD = minimal("{spool}", jwt_keys=())


@pytest.fixture
def key_dir(tmp_path):
    tmp_path.chmod(0o755)
    return tmp_path


def config_test(key_dir, directive, env=None):
    httpd = own_server(key_dir, DBD_NONE,
                       GOOD.format(spool=key_dir) + directive + "\n",
                       remote_ip=False)
    return httpd.config_test(env=env)


def write(key_dir, name, data):
    path = key_dir / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return path


@pytest.mark.parametrize("content", [
    "pem", "pem-crlf", "seed-b64url"])
def test_accepted_key_files(key_dir, content):
    key = Ed25519PrivateKey.generate()
    private_raw = key.private_bytes(serialization.Encoding.Raw,
                                    serialization.PrivateFormat.Raw,
                                    serialization.NoEncryption())
    data = {"pem": pem(key),
            "pem-crlf": pem(key).replace(b"\n", b"\r\n"),
            "seed-b64url": b64u(private_raw) + "\n"}[content]
    path = write(key_dir, "key", data)
    rc, out = config_test(key_dir, f"JKLGJWTKey e1 ed25519:file:{path}")
    assert rc == 0, out


def test_key_from_environment(key_dir):
    key = pem(Ed25519PrivateKey.generate()).decode()
    directive = "JKLGJWTKey e1 ed25519:env:JKLG_TEST_ED25519_KEY"
    rc, out = config_test(key_dir, directive,
                          env={"JKLG_TEST_ED25519_KEY": key})
    assert rc == 0, out
    rc, out = config_test(key_dir, directive)
    assert rc != 0
    assert ("JKLGJWTKey: environment variable JKLG_TEST_ED25519_KEY is not "
            "set") in out, out


def test_server_started_with_a_key_from_the_environment(key_dir):
    """A real start reads the configuration twice (and a graceful restart
    again): the variable must still hold the key the second time."""
    key = Ed25519PrivateKey.generate()
    env = {"JKLG_TEST_ED25519_KEY": pem(key).decode()}
    httpd = own_server(key_dir, DBD_NONE, GOOD.format(spool=key_dir)
                       + "JKLGJWTKey e1 ed25519:env:JKLG_TEST_ED25519_KEY\n",
                       remote_ip=False)
    httpd.write_config()
    res = httpd._apache("-k", "start", env=env)
    try:
        assert res.returncode == 0 and httpd.wait_listening(), \
            res.stdout + res.stderr + httpd.new_log()
        body = assert_json(requests.get(httpd.url + JWKS, timeout=30), 200)
        assert [k["x"] for k in body["keys"]] == [b64u(raw_public(key))]
    finally:
        # `apache2 -k stop` reads the configuration too, so it needs the
        # variable; stop() then only waits for the parent to be gone.
        deadline = time.monotonic() + 10
        while httpd.pid() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        httpd._apache("-k", "stop", env=env)
        httpd.stop()


def _x25519_pem():
    return X25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())


def _encrypted_pem():
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase"))


@pytest.mark.parametrize("name, data, message", [
    ("empty", b"", "is empty"),
    ("blank", b"\n\n", "the key is empty"),
    ("seed-31-bytes", b64u(b"\x01" * 31) + "\n",
     "the base64url key is not 32 bytes"),
    ("seed-33-bytes", b64u(b"\x01" * 33) + "\n",
     "the base64url key is not 32 bytes"),
    ("raw-32-bytes", b"\x9d" * 32, "neither a PKCS#8 PEM"),
    ("hs256-secret", "0123456789abcdef0123456789abcdef\n",
     "the base64url key is not 32 bytes"),
    ("hs256-secret-punctuated", "s3cret/with+chars=and-more-than-32\n",
     "neither a PKCS#8 PEM"),
    ("x25519", _x25519_pem(), "does not hold an Ed25519 key"),
    ("encrypted", _encrypted_pem(), "not an unencrypted PRIVATE KEY"),
    ("public-key", Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM,
        serialization.PublicFormat.SubjectPublicKeyInfo),
     "not an unencrypted PRIVATE KEY"),
    ("truncated", pem(Ed25519PrivateKey.generate())[:60], "does not end"),
    ("huge", b"A" * 5000, "is larger than an Ed25519 key file"),
], ids=lambda v: v if isinstance(v, str) and len(v) < 20 else "")
def test_bad_key_file_stops_startup(key_dir, name, data, message):
    data = data if isinstance(data, bytes) else data.encode()
    path = write(key_dir, name, data)
    rc, out = config_test(key_dir, f"JKLGJWTKey e1 ed25519:file:{path}")
    assert rc != 0
    assert "JKLGJWTKey" in out and message in out, out
    # The message names the file, never its contents.
    if len(data) >= 8 and name != "huge":
        text = data.decode("latin-1").strip()
        for line in text.splitlines():
            if len(line) >= 16 and "-----" not in line:
                assert line not in out, out


@pytest.mark.parametrize("spec, message", [
    ("ed25519:file:/nonexistent/jwt.pem", "JKLGJWTKey: cannot open "
     "/nonexistent/jwt.pem"),
    ("ed25519:/etc/jwt.pem", "JKLGJWTKey: an ed25519 key is read from "
     "ed25519:file:/path or ed25519:env:NAME"),
])
def test_unreadable_or_inline_key_stops_startup(key_dir, spec, message):
    rc, out = config_test(key_dir, f"JKLGJWTKey e1 {spec}")
    assert rc != 0
    assert message in out, out


def test_directory_as_key_file_stops_startup(key_dir):
    rc, out = config_test(key_dir, f"JKLGJWTKey e1 ed25519:file:{key_dir}")
    assert rc != 0
    assert "JKLGJWTKey" in out, out
