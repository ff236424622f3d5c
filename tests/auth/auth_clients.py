"""Authentication and TLS with real clients: psql (libpq), psycopg and pgjdbc against a gateway
with a test CA made here by openssl, users added with `lakegate user add`, and a JWKS served
over https by this script. Tokens are signed here with `cryptography`, independently of the
gateway's JWT library.

Usage: python3 tests/auth/auth_clients.py path/to/lakegate
"""

import base64
import hashlib
import hmac
import http.server
import json
import os
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import psycopg
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

# TLS 1.1 is used on purpose, to see it refused.
warnings.filterwarnings("ignore", category=DeprecationWarning)

BIN = Path(sys.argv[1]).resolve()
HERE = Path(__file__).parent
WORK = Path(tempfile.mkdtemp(prefix="lakegate-auth-"))
ISSUER, AUDIENCE = "https://idp.lakegate.test", "lakegate"
FAILURES = []


def check(name, ok, detail=""):
    print(("PASS " if ok else "FAIL ") + name + ("" if ok else f": {detail}"), flush=True)
    if not ok:
        FAILURES.append(name)


def run(*args, **kw):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, **kw)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- a test CA, server and client certificates (RSA PKCS#1, EC SEC1 and PKCS#8 keys) -----------

def openssl(*args):
    result = run("openssl", *args, cwd=WORK)
    assert result.returncode == 0, result.stderr


def make_ca(name):
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
            "-out", f"{name}.pem", "-days", "2", "-subj", f"/CN=lakegate test {name}")


def make_cert(name, cn, key_kind, usage, sans="DNS:localhost,IP:127.0.0.1", ca="ca"):
    if key_kind == "rsa-pkcs1":
        openssl("genpkey", "-algorithm", "RSA", "-out", f"{name}.p8")
        openssl("rsa", "-in", f"{name}.p8", "-traditional", "-out", f"{name}.key")
    elif key_kind == "ec-sec1":
        openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", f"{name}.key")
    else:
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", f"{name}.key")
    openssl("req", "-new", "-key", f"{name}.key", "-subj", f"/CN={cn}", "-out", f"{name}.csr")
    (WORK / f"{name}.ext").write_text(f"subjectAltName={sans}\nextendedKeyUsage={usage}\n")
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-days", "2", "-out", f"{name}.pem", "-extfile", f"{name}.ext")
    return WORK / f"{name}.pem", WORK / f"{name}.key"


# --- tokens ------------------------------------------------------------------------------------

def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(header, claims, key=None, signature=None):
    signing_input = (b64u(json.dumps(header).encode()) + "." + b64u(json.dumps(claims).encode())).encode()
    if signature is None:
        alg = header["alg"]
        if alg == "RS256":
            signature = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        elif alg == "ES256":
            r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
            signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        elif alg == "EdDSA":
            signature = key.sign(signing_input)
        elif alg == "HS256":
            signature = hmac.new(key, signing_input, hashlib.sha256).digest()
    return signing_input.decode() + "." + b64u(signature)


def jwk(kid, key):
    public = key.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        n = public.public_numbers()
        return {"kty": "RSA", "kid": kid, "n": b64u(n.n.to_bytes((n.n.bit_length() + 7) // 8, "big")),
                "e": b64u(n.e.to_bytes(3, "big"))}
    if isinstance(public, ec.EllipticCurvePublicKey):
        n = public.public_numbers()
        return {"kty": "EC", "crv": "P-256", "kid": kid, "x": b64u(n.x.to_bytes(32, "big")),
                "y": b64u(n.y.to_bytes(32, "big"))}
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    return {"kty": "OKP", "crv": "Ed25519", "kid": kid,
            "x": b64u(public.public_bytes(Encoding.Raw, PublicFormat.Raw))}


def claims(**changes):
    now = int(time.time())
    c = {"iss": ISSUER, "aud": AUDIENCE, "sub": "ann", "groups": ["analysts"], "nbf": now - 5, "exp": now + 600}
    for k, v in changes.items():
        if v is None:
            c.pop(k, None)
        else:
            c[k] = v
    return c


class Jwks:
    """An https JWKS endpoint whose key set the test changes; counts fetches."""

    def __init__(self, cert, key):
        self.document, self.fetches = {"keys": []}, 0
        jwks = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                jwks.fetches += 1
                body = json.dumps(jwks.document).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://localhost:{self.server.server_address[1]}/jwks.json"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


# --- the gateway -------------------------------------------------------------------------------

class Gateway:
    def __init__(self, config_text, name):
        self.port = free_port()
        self.config = WORK / f"{name}.toml"
        self.config.write_text(config_text)
        self.log_path = WORK / f"{name}.log"
        self.proc = subprocess.Popen(
            [str(BIN), "serve", "--config", str(self.config), "--listen", f"127.0.0.1:{self.port}",
             "--lake-root", str(WORK / "lake")],
            env=dict(os.environ, LAKEGATE_AUDIT_DIR=str(WORK / f"audit-{name}")),
            stdout=open(self.log_path, "w"), stderr=subprocess.STDOUT)
        deadline = time.time() + 120
        while "listening on" not in self.log():
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"gateway {name} did not start:\n{self.log()}")
            time.sleep(0.2)

    def log(self):
        return self.log_path.read_text() if self.log_path.exists() else ""

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=20)

    def dsn(self, user, **extra):
        parts = {"host": "localhost", "port": self.port, "dbname": "lake", "user": user,
                 "connect_timeout": 10, **extra}
        return " ".join(f"{k}={v}" for k, v in parts.items())


def psql(dsn, *commands, password=None):
    env = dict(os.environ, PGPASSWORD=password or "", PGCONNECT_TIMEOUT="10")
    args = ["psql", dsn, "-X", "-At", "-v", "ON_ERROR_STOP=1"]
    for c in commands:
        args += ["-c", c]
    result = run(*args, env=env, timeout=60)
    return result.returncode, result.stdout + result.stderr


def psycopg_login(dsn, password):
    """('ok', current_user, groups-visible orders count) or ('error', sqlstate, message)."""
    try:
        with psycopg.connect(dsn, password=password) as conn:
            user = conn.execute("SELECT current_user").fetchone()[0]
            try:
                count = conn.execute("SELECT count(*) FROM sales.orders").fetchone()[0]
            except psycopg.Error as e:
                count = e.sqlstate
            return ("ok", user, count)
    except psycopg.Error as e:
        return ("error", e.sqlstate, str(e))


# --- a minimal client, for exact SQLSTATEs of refused logins and for hostile byte sequences ------

def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def read_message(sock):
    tag = recv_exact(sock, 1)
    (length,) = struct.unpack("!i", recv_exact(sock, 4))
    return tag, recv_exact(sock, length - 4)


def error_fields(body):
    return {f[:1]: f[1:].decode() for f in body.split(b"\0") if f}


def startup_packet(user):
    body = struct.pack("!i", 196608) + b"user\0" + user.encode() + b"\0database\0lake\0\0"
    return struct.pack("!i", len(body) + 4) + body


def tls_socket(port, alpn=None, direct=False, version=None):
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    if not direct:
        sock.sendall(struct.pack("!ii", 8, 80877103))
        assert recv_exact(sock, 1) == b"S"
    context = ssl.create_default_context(cafile=str(WORK / "ca.pem"))
    if alpn:
        context.set_alpn_protocols(alpn)
    if version:
        context.minimum_version = context.maximum_version = version
    return context.wrap_socket(sock, server_hostname="localhost")


def login_outcome(sock):
    """('ok',) for AuthenticationOk, else ('error', SQLSTATE, message)."""
    tag, body = read_message(sock)
    if tag == b"R" and struct.unpack("!i", body[:4])[0] == 0:
        return ("ok",)
    f = error_fields(body)
    return ("error", f.get(b"C"), f.get(b"M"))


def token_login(port, user, token, tls=True):
    """('ok',) or ('error', SQLSTATE, message), from the gateway's own answer."""
    sock = tls_socket(port) if tls else socket.create_connection(("127.0.0.1", port), timeout=10)
    with sock:
        sock.sendall(startup_packet(user))
        tag, body = read_message(sock)
        if tag == b"E":
            f = error_fields(body)
            return ("error", f.get(b"C"), f.get(b"M"))
        assert tag == b"R" and struct.unpack("!i", body[:4])[0] == 3, (tag, body)
        payload = token.encode() + b"\0"
        sock.sendall(b"p" + struct.pack("!i", len(payload) + 4) + payload)
        return login_outcome(sock)


# --- the scenarios -----------------------------------------------------------------------------

def setup():
    make_ca("ca")
    make_ca("other-ca")
    server = make_cert("server", "localhost", "rsa-pkcs1", "serverAuth")
    make_cert("server-ec", "localhost", "ec-sec1", "serverAuth")
    make_cert("client-certuser", "certuser", "pkcs8", "clientAuth", sans="DNS:certuser")
    make_cert("client-mallory", "mallory", "pkcs8", "clientAuth", sans="DNS:mallory")
    users = WORK / "users.toml"
    for name, groups in [("svc", "analysts"), ("certuser", "analysts"), ("blocked", "analysts")]:
        r = run(BIN, "user", "add", name, "--groups", groups, "--password-stdin", "--users-file", users,
                input=f"{name}-secret\n")
        assert r.returncode == 0, r.stderr
    listed = run(BIN, "user", "list", "--users-file", users).stdout
    check("user list shows users, groups and sign-in", "svc" in listed and "scram" in listed and "analysts" in listed, listed)
    check("users file holds verifiers, not passwords",
          "SCRAM-SHA-256$4096:" in users.read_text() and "svc-secret" not in users.read_text())
    keys = {"rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
            "ec": ec.generate_private_key(ec.SECP256R1()),
            "ed": ed25519.Ed25519PrivateKey.generate(),
            "rotated": ec.generate_private_key(ec.SECP256R1())}
    jwks = Jwks(*server)
    jwks.document = {"keys": [jwk("rsa-1", keys["rsa"]), jwk("ec-1", keys["ec"]), jwk("ed-1", keys["ed"])]}
    run(BIN, "demo", "generate", "--scale", "0.01", "--lake-root", WORK / "lake")
    return keys, jwks, server


def config(server_cert, server_key, jwks_url):
    return f"""
[tls]
cert = "{server_cert}"
key = "{server_key}"
client_ca = "{WORK / 'ca.pem'}"
reload_check_ms = 200

[auth]
users_file = "{WORK / 'users.toml'}"

[auth.jwt]
issuer = "{ISSUER}"
audience = "{AUDIENCE}"
jwks_url = "{jwks_url}"
jwks_ca_file = "{WORK / 'ca.pem'}"
jwks_min_refresh_seconds = 0

[[auth.rules]]
users = ["certuser"]
tls = true
method = "cert"

[[auth.rules]]
users = ["svc", "blocked"]
method = "scram"

[[auth.rules]]
users = ["plain"]
method = "jwt"

[[auth.rules]]
users = ["oauthuser"]
tls = true
method = "oauthbearer"

[[auth.rules]]
tls = true
method = "jwt"
"""


def test_scram_and_tls(gw):
    ca = WORK / "ca.pem"
    code, out = psql(gw.dsn("svc", sslmode="require"), "\\conninfo", "SELECT current_user", password="svc-secret")
    check("psql sslmode=require, SCRAM", code == 0 and "SSL connection" in out and "svc" in out, out)
    code, out = psql(gw.dsn("svc", sslmode="verify-full", sslrootcert=ca), "SELECT count(*) FROM sales.orders",
                     password="svc-secret")
    check("psql sslmode=verify-full", code == 0 and out.strip().isdigit(), out)
    code, out = psql(gw.dsn("svc", sslmode="verify-full", sslrootcert=WORK / "other-ca.pem"), "SELECT 1",
                     password="svc-secret")
    check("verify-full against another CA fails", code != 0 and "certificate verify failed" in out, out)
    code, out = psql(gw.dsn("svc", sslmode="require", channel_binding="require"), "SELECT 1", password="svc-secret")
    check("SCRAM-SHA-256-PLUS (channel_binding=require) over TLS", code == 0, out)
    check("the server used channel binding", "SCRAM-SHA-256-PLUS" in gw.log(), gw.log()[-2000:])
    code, out = psql(gw.dsn("svc", sslmode="require", channel_binding="disable"), "SELECT 1", password="svc-secret")
    check("SCRAM without channel binding over TLS", code == 0, out)
    code, out = psql(gw.dsn("svc", sslmode="disable", channel_binding="require"), "SELECT 1", password="svc-secret")
    check("no channel binding is offered on plaintext", code != 0 and "channel binding" in out, out)
    code, out = psql(gw.dsn("svc", sslmode="require"), "SELECT 1", password="wrong")
    check("wrong SCRAM password → 28P01 message", code != 0 and "password authentication failed" in out, out)
    result = psycopg_login(gw.dsn("svc", sslmode="verify-full", sslrootcert=ca), "svc-secret")
    check("psycopg verify-full SCRAM", result[0] == "ok" and result[1] == "svc" and isinstance(result[2], int), result)
    for version, name in [(ssl.TLSVersion.TLSv1_2, "1.2"), (ssl.TLSVersion.TLSv1_3, "1.3")]:
        with tls_socket(gw.port, version=version) as s:
            check(f"TLS {name} handshake", s.version() == f"TLSv{name}", s.version())
    try:
        tls_socket(gw.port, version=ssl.TLSVersion.TLSv1_1).close()
        check("TLS 1.1 refused", False, "handshake succeeded")
    except (ssl.SSLError, OSError):
        check("TLS 1.1 refused", True)


def oauth_login(port, user, token):
    """SASL OAUTHBEARER (RFC 7628) as PostgreSQL 18's libpq speaks it, with a token in hand."""
    with tls_socket(port) as sock:
        sock.sendall(startup_packet(user))
        tag, body = read_message(sock)
        assert tag == b"R" and struct.unpack("!i", body[:4])[0] == 10 and b"OAUTHBEARER" in body, body
        data = f"n,,\x01auth=Bearer {token}\x01\x01".encode()
        payload = b"OAUTHBEARER\0" + struct.pack("!i", len(data)) + data
        sock.sendall(b"p" + struct.pack("!i", len(payload) + 4) + payload)
        return login_outcome(sock)


def test_oauthbearer(gw, keys):
    token = sign({"alg": "EdDSA", "kid": "ed-1"}, claims(sub="oauthuser"), keys["ed"])
    result = oauth_login(gw.port, "oauthuser", token)
    check("OAUTHBEARER with a valid token", result == ("ok",), result)
    expired = sign({"alg": "EdDSA", "kid": "ed-1"}, claims(sub="oauthuser", exp=int(time.time()) - 300), keys["ed"])
    result = oauth_login(gw.port, "oauthuser", expired)
    check("OAUTHBEARER with an expired token is refused", result[0] == "error" and result[1] == "28P01", result)


def test_pgjdbc(gw, token):
    jar = "/usr/share/java/postgresql.jar"
    url = (f"jdbc:postgresql://localhost:{gw.port}/lake?sslmode=verify-full&sslrootcert={WORK / 'ca.pem'}")
    for user, password, name in [("svc", "svc-secret", "SCRAM"), ("ann", token, "token as password")]:
        r = run("java", "-cp", jar, HERE / "TlsLogin.java", url, user, password, timeout=120)
        check(f"pgjdbc verify-full, {name}", f"user={user} orders=" in r.stdout, r.stdout + r.stderr)


def test_direct_tls_and_pipelining(gw):
    with tls_socket(gw.port, alpn=["postgresql"], direct=True) as s:
        s.sendall(startup_packet("svc"))
        tag, body = read_message(s)
        check("direct TLS with ALPN postgresql", tag == b"R" and struct.unpack("!i", body[:4])[0] == 10, (tag, body))
    try:
        with tls_socket(gw.port, direct=True) as s:
            s.sendall(startup_packet("svc"))
            closed = s.recv(1) == b""
    except (ssl.SSLError, ConnectionError, OSError):
        closed = True
    check("direct TLS without ALPN is closed", closed)
    sock = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
    sock.sendall(struct.pack("!ii", 8, 80877103) + startup_packet("svc"))
    answer = sock.recv(1)
    rest = b""
    try:
        rest = sock.recv(100)
    except OSError:
        pass
    sock.close()
    check("bytes pipelined after SSLRequest are not served in plaintext",
          answer == b"S" and not rest.startswith(b"R"), (answer, rest))


def test_certificates(gw):
    cert, key = WORK / "client-certuser.pem", WORK / "client-certuser.key"
    code, out = psql(gw.dsn("certuser", sslmode="verify-full", sslrootcert=WORK / "ca.pem", sslcert=cert, sslkey=key),
                     "SELECT current_user")
    check("client certificate login (mTLS)", code == 0 and "certuser" in out, out)
    code, out = psql(gw.dsn("certuser", sslmode="require", sslcert=WORK / "client-mallory.pem",
                            sslkey=WORK / "client-mallory.key"), "SELECT 1")
    check("a certificate for another name is refused", code != 0 and "certificate authentication failed" in out, out)
    code, out = psql(gw.dsn("certuser", sslmode="require"), "SELECT 1")
    check("no client certificate is refused", code != 0 and "certificate authentication failed" in out, out)


def test_tokens(gw, keys, jwks):
    good = sign({"alg": "RS256", "kid": "rsa-1"}, claims(), keys["rsa"])
    for alg, kid, key in [("RS256", "rsa-1", "rsa"), ("ES256", "ec-1", "ec"), ("EdDSA", "ed-1", "ed")]:
        result = token_login(gw.port, "ann", sign({"alg": alg, "kid": kid}, claims(), keys[key]))
        check(f"valid {alg} token", result == ("ok",), result)
    result = psycopg_login(gw.dsn("ann", sslmode="verify-full", sslrootcert=WORK / "ca.pem"), good)
    check("psycopg: token as password; its groups feed the policies", result[:2] == ("ok", "ann") and isinstance(result[2], int), result)
    no_groups = sign({"alg": "RS256", "kid": "rsa-1"}, claims(groups=None), keys["rsa"])
    result = psycopg_login(gw.dsn("ann", sslmode="require"), no_groups)
    check("a token without groups sees no analyst tables", result[:2] == ("ok", "ann") and result[2] == "42P01", result)
    code, out = psql(gw.dsn("ann", sslmode="verify-full", sslrootcert=WORK / "ca.pem"), "SELECT current_user", password=good)
    check("psql verify-full with a token as password", code == 0 and "ann" in out, out)
    now = int(time.time())
    hs_key = json.dumps(jwk("rsa-1", keys["rsa"])).encode()
    tampered_parts = good.split(".")
    tampered_parts[1] = b64u(json.dumps(claims(groups=["admins"])).encode())
    log_before = len(gw.log())
    fetches_before = jwks.fetches
    matrix = [
        ("expired", sign({"alg": "RS256", "kid": "rsa-1"}, claims(exp=now - 300), keys["rsa"]), "ann"),
        ("not yet valid", sign({"alg": "RS256", "kid": "rsa-1"}, claims(nbf=now + 300), keys["rsa"]), "ann"),
        ("wrong audience", sign({"alg": "RS256", "kid": "rsa-1"}, claims(aud="someone-else"), keys["rsa"]), "ann"),
        ("wrong issuer", sign({"alg": "RS256", "kid": "rsa-1"}, claims(iss="https://evil.test"), keys["rsa"]), "ann"),
        ("alg none", sign({"alg": "none", "kid": "rsa-1"}, claims(), signature=b""), "ann"),
        ("HS256 keyed with the public key", sign({"alg": "HS256", "kid": "rsa-1"}, claims(), hs_key), "ann"),
        ("unknown kid", sign({"alg": "ES256", "kid": "rotated"}, claims(), keys["rotated"]), "ann"),
        ("tampered payload", ".".join(tampered_parts), "ann"),
        ("token for another user", good, "svc2"),
    ]
    for name, token, user in matrix:
        result = token_login(gw.port, user, token)
        ok = result[0] == "error" and result[1] in ("28000", "28P01")
        leaks = [w for w in ("expired", "audience", "issuer", "signature", "kid", "alg") if w in (result[2] or "").lower()]
        check(f"token refused: {name}", ok and not leaks, result)
    check("an unknown kid made the gateway refresh the JWKS", jwks.fetches > fetches_before, jwks.fetches)
    result = token_login(gw.port, "plain", good, tls=False)
    check("token over plaintext is refused before it is sent",
          result[0] == "error" and result[1] == "28000" and "requires TLS" in result[2], result)
    refusals = gw.log()[log_before:].count("login refused")
    check("each refused token is logged", refusals >= len(matrix) + 1, refusals)
    jwks.document["keys"].append(jwk("rotated", keys["rotated"]))
    result = token_login(gw.port, "ann", sign({"alg": "ES256", "kid": "rotated"}, claims(), keys["rotated"]))
    check("a rotated-in key is fetched on its first use", result == ("ok",), result)


def test_reload(gw):
    with tls_socket(gw.port) as before:
        old = before.getpeercert(binary_form=True)
        shutil.copy(WORK / "server-ec.pem", WORK / "server.pem")
        shutil.copy(WORK / "server-ec.key", WORK / "server.key")
        deadline, new = time.time() + 15, old
        while new == old and time.time() < deadline:
            time.sleep(0.3)
            with tls_socket(gw.port) as after:
                new = after.getpeercert(binary_form=True)
        check("certificate reload reaches new connections", new != old)
        before.sendall(startup_packet("svc"))
        check("an established connection keeps working", read_message(before)[0] == b"R")


def test_broken_configs(server_key):
    other_key = WORK / "server-ec.key"
    cases = [
        ("key does not match certificate", f'[tls]\ncert = "{WORK / "client-certuser.pem"}"\nkey = "{other_key}"\n',
         "do not form a usable pair"),
        ("missing key file", f'[tls]\ncert = "{WORK / "server.pem"}"\nkey = "{WORK / "nope.key"}"\n', "tls.key"),
        ("certificate without key", f'[tls]\ncert = "{WORK / "server.pem"}"\n', "both tls.cert and tls.key"),
    ]
    for name, text, expected in cases:
        path = WORK / "broken.toml"
        path.write_text(text)
        r = run(BIN, "serve", "--config", path, "--listen", f"127.0.0.1:{free_port()}",
                "--lake-root", WORK / "lake", timeout=60)
        check(f"broken TLS config stops the start: {name}", r.returncode != 0 and expected in r.stderr, r.stderr[-500:])


def test_demo_readme_flow():
    """The README's steps: demo tls, serve, token issue, psql verify-full with the token."""
    demo = WORK / "demo-tls"
    r = run(BIN, "demo", "tls", "--dir", demo)
    check("lakegate demo tls", r.returncode == 0, r.stderr)
    port = free_port()
    text = (demo / "lakegate.toml").read_text()
    gw_log = WORK / "demo.log"
    proc = subprocess.Popen([str(BIN), "serve", "--config", str(demo / "lakegate.toml"), "--listen",
                             f"127.0.0.1:{port}", "--lake-root", str(WORK / "lake")],
                            stdout=open(gw_log, "w"), stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 120
        while "listening on" not in gw_log.read_text() and time.time() < deadline and proc.poll() is None:
            time.sleep(0.2)
        token = run(BIN, "token", "issue", "--user", "analyst", "--groups", "analysts").stdout.strip()
        code, out = psql(f"host=localhost port={port} dbname=lake user=analyst sslmode=verify-full "
                         f"sslrootcert={demo / 'ca.pem'}", "SELECT current_user, count(*) FROM sales.orders",
                         password=token)
        check("README flow: demo token over verify-full", code == 0 and out.startswith("analyst|"), out)
        check("the gateway warns that it trusts the demo key", "demo JWKS" in gw_log.read_text())
        check("demo config has TLS and token rules", "[auth.jwt]" in text and "[tls]" in text)
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def main():
    keys, jwks, server = setup()
    gw = Gateway(config(server[0], server[1], jwks.url), "gateway")
    try:
        test_scram_and_tls(gw)
        good = sign({"alg": "RS256", "kid": "rsa-1"}, claims(), keys["rsa"])
        test_tokens(gw, keys, jwks)
        test_oauthbearer(gw, keys)
        test_pgjdbc(gw, good)
        test_direct_tls_and_pipelining(gw)
        test_certificates(gw)
        test_reload(gw)
    finally:
        gw.stop()
    test_broken_configs(server[1])
    test_demo_readme_flow()
    if FAILURES:
        print(f"\n{len(FAILURES)} failed: {FAILURES}\nwork dir kept: {WORK}")
        sys.exit(1)
    shutil.rmtree(WORK, ignore_errors=True)
    print("\nall auth checks passed")


if __name__ == "__main__":
    main()
