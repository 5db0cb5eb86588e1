"""TLS on both sides of the gateway: the platform over verified TLS
(proxy_ssl_verify on) and callers authenticated by client certificates
(yibao_auth mtls, yibao_auth hmac mtls), with their failure paths.

The certificates are made per test session with the openssl command
line tool and are never committed."""

import http.client
import json
import os
import shutil
import ssl
import subprocess
import urllib.request

import pytest

import harness
from harness import ENDPOINT

import yibao_client as client

CALLER = "village-subsystem"
SECRET = "demo-village-subsystem-secret-0001"
OTHER = "his-vendor-a"
OTHER_SECRET = "demo-his-vendor-a-secret-0001"


# ---------------------------------------------------------------------------
# certificates
# ---------------------------------------------------------------------------

OPENSSL_CNF = """\
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
[ ca ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ server ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ client ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


class Pki:
    """Files of the test PKI: pki.pem(name), pki.key(name)."""

    def __init__(self, folder):
        self.folder = folder
        self.cnf = os.path.join(folder, "openssl.cnf")
        with open(self.cnf, "w") as f:
            f.write(OPENSSL_CNF)

    def pem(self, name):
        return os.path.join(self.folder, name + ".pem")

    def key(self, name):
        return os.path.join(self.folder, name + ".key")

    def openssl(self, *args):
        p = subprocess.run(["openssl"] + list(args), capture_output=True,
                           text=True, stdin=subprocess.DEVNULL)
        assert p.returncode == 0, "openssl %s:\n%s" % (" ".join(args),
                                                       p.stderr)

    def newkey(self, name):
        self.openssl("genpkey", "-algorithm", "EC", "-pkeyopt",
                     "ec_paramgen_curve:P-256", "-out", self.key(name))

    def ca(self, name, cn):
        self.newkey(name)
        self.openssl("req", "-new", "-x509", "-config", self.cnf,
                     "-key", self.key(name), "-subj", "/CN=" + cn,
                     "-days", "2", "-extensions", "ca", "-out",
                     self.pem(name))

    def leaf(self, name, cn, ca, kind):
        self.newkey(name)
        csr = os.path.join(self.folder, name + ".csr")
        self.openssl("req", "-new", "-config", self.cnf, "-key",
                     self.key(name), "-subj", "/CN=" + cn, "-out", csr)
        self.openssl("x509", "-req", "-in", csr, "-CA", self.pem(ca),
                     "-CAkey", self.key(ca), "-set_serial",
                     str(int.from_bytes(os.urandom(8), "big")),
                     "-days", "2", "-extfile", self.cnf, "-extensions",
                     kind, "-out", self.pem(name))


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.fail("the openssl command line tool is missing "
                    "(apt-get install openssl)")
    p = Pki(str(tmp_path_factory.mktemp("pki")))
    p.ca("ca", "yibao test CA")
    p.ca("other-ca", "unrelated CA")
    p.leaf("server", "localhost", "ca", "server")
    p.leaf("other-server", "localhost", "other-ca", "server")
    p.leaf("village", CALLER, "ca", "client")
    p.leaf("nobody", "nobody-known", "ca", "client")
    p.leaf("other-village", CALLER, "other-ca", "client")
    return p


def context(pki, cas=("ca",), cert=None):
    """A client TLS context that trusts cas, presenting cert if given."""
    ctx = ssl.create_default_context()
    ctx.load_verify_locations(cadata="".join(
        open(pki.pem(c)).read() for c in cas))
    if cert:
        ctx.load_cert_chain(pki.pem(cert), pki.key(cert))
    return ctx


# ---------------------------------------------------------------------------
# stacks and requests
# ---------------------------------------------------------------------------

def platform_tls(pki, server="server", **kw):
    return dict(dict(ca=pki.pem("ca"), cert=pki.pem(server),
                     key=pki.key(server)), **kw)


def gateway_tls(pki, **kw):
    return dict(dict(cert=pki.pem("server"), key=pki.key("server"),
                     client_ca=pki.pem("ca")), **kw)


def sim_get(stack, pki, what):
    """The simulator's control API over its TLS (either CA)."""
    with urllib.request.urlopen(stack.sim_url + "/__sim/" + what, timeout=10,
                                context=context(pki, ("ca", "other-ca"))) \
            as r:
        return json.loads(r.read())


def sim_requests(stack, pki):
    return sim_get(stack, pki, "requests?n=500")["requests"]


def clinic_of(stack, mode="township"):
    rows = harness.yibao_stack.read_tsv(stack.path("data", "clinics.tsv"))
    r = next(r for r in rows if r[3] == mode)
    return {"org": r[0], "name": r[1], "admdvs": r[2], "entity": r[4]}


def envelope(clinic, infno="1101", inp=None, sign_no=""):
    inp = inp if inp is not None else {"data": {
        "mdtrt_cert_type": "02", "mdtrt_cert_no": "370102195603152017",
        "card_sn": "", "begntime": "", "psn_cert_type": "01",
        "certno": "370102195603152017", "psn_name": ""}}
    return client.make_envelope(infno, inp, clinic["org"], clinic["name"],
                                clinic["admdvs"], sign_no=sign_no)


def sign_in_envelope(clinic):
    return envelope(clinic, "9001", {"signIn": {
        "opter_no": "001", "mac": "00:16:3e:00:00:01", "ip": "127.0.0.1"}})


def tls_post(stack, pki, env, cert=None, hmac_as=None):
    """One request over TLS to the gateway, presenting client
    certificate cert; with hmac_as=(caller, secret) also signed with
    the X-Yibao-* headers.  Returns (status, json), or (status, text)
    when the answer is not JSON."""
    body = client.encode(env)
    if hmac_as:
        headers = client.signed_headers(hmac_as[0], hmac_as[1], "POST",
                                        ENDPOINT, body)
    else:
        headers = {"Content-Type": "application/json"}
    conn = http.client.HTTPSConnection("127.0.0.1", stack.port, timeout=20,
                                       context=context(pki, cert=cert))
    try:
        conn.request("POST", ENDPOINT, body=body, headers=headers)
        r = conn.getresponse()
        data = r.read()
    finally:
        conn.close()
    try:
        return r.status, json.loads(data) if data else None
    except ValueError:
        return r.status, data.decode("utf-8", "replace")


def assert_ok(status, body):
    assert status == 200 and body["infcode"] == 0, (status, body)
    return body


def assert_rejected(status, body, want_status, code, *words):
    assert status == want_status, (status, body)
    assert body["infcode"] == -1
    assert body["output"] is None
    assert body["err_msg"].startswith("YB%d " % code), body["err_msg"]
    for w in words:
        assert w in body["err_msg"], body["err_msg"]


def last_access(stack):
    with open(stack.access_log, encoding="utf-8") as f:
        return json.loads(f.read().splitlines()[-1])


# ---------------------------------------------------------------------------
# the platform over TLS
# ---------------------------------------------------------------------------

def test_outpatient_flow_over_verified_tls(make_stack, pki):
    stack = make_stack(scheme="csb", workers=1,
                       upstream_tls=platform_tls(pki))
    conf = open(stack.path("nginx.conf")).read()
    for line in ("proxy_pass https://yibao_platform$yibao_upstream_uri;",
                 "proxy_ssl_verify on;",
                 "proxy_ssl_trusted_certificate %s;" % pki.pem("ca"),
                 "proxy_ssl_name localhost;", "proxy_ssl_server_name on;"):
        assert line in conf

    clinic = clinic_of(stack)
    steps = client.outpatient_flow(stack.url, CALLER, SECRET, clinic["org"],
                                   clinic["name"], clinic["admdvs"],
                                   cancel=True)
    bad = [s for s in steps if s[1] != 200 or s[2].get("infcode") != 0]
    assert not bad, bad
    assert [s[0] for s in steps] == ["9001", "1101", "2201", "2203", "2204",
                                     "2206", "2207", "2208"]

    sent = sim_requests(stack, pki)
    assert [r["envelope"]["infno"] for r in sent] == [s[0] for s in steps]
    for r in sent:
        assert r["tls"] is not None, r
        assert r["tls"]["version"] == "TLSv1.3"  # proxy_ssl_protocols
        assert r["tls"]["sni"] == "localhost"    # proxy_ssl_server_name
        assert r["envelope"]["fixmedins_code"] == clinic["entity"]
    # one worker, keepalive: every transaction on one TLS connection
    assert len({r["conn"] for r in sent}) == 1, [r["conn"] for r in sent]


@pytest.mark.parametrize("tls,logged", [
    (dict(server="other-server"), "upstream SSL certificate verify error"),
    (dict(name="platform.invalid"),
     "upstream SSL certificate does not match"),
])
def test_platform_certificate_refused(make_stack, pki, tls, logged):
    stack = make_stack(scheme="csb", upstream_tls=platform_tls(pki, **tls))
    r = client.post(stack.url, CALLER, SECRET, envelope(clinic_of(stack)))
    assert_rejected(r.status, r.body, 502, 6001)

    # nginx got as far as the TLS handshake and refused the platform
    # there: not a byte of the transaction was sent
    assert sim_requests(stack, pki) == []
    stats = sim_get(stack, pki, "stats")
    assert stats["requests"] == 0
    assert stats["tls_handshakes"] >= 3     # nginx, and the two above
    assert logged in harness.error_log_text(stack)
    assert last_access(stack)["error"] == "YB6001"


def test_platform_tls_session_resumed(make_stack, pki):
    stack = make_stack(scheme="none", workers=1,
                       upstream_tls=platform_tls(pki))
    clinic = clinic_of(stack)
    r = client.post(stack.url, CALLER, SECRET, sign_in_envelope(clinic))
    assert r.status == 200 and r.body["infcode"] == 0, r.body
    sign_no = r.body["output"]["signinoutb"]["sign_no"]

    # the platform drops the kept-alive connection: the caller is told
    # (never a silent resend), and the next transaction opens a new
    # connection that resumes the TLS session (proxy_ssl_session_reuse)
    req = urllib.request.Request(
        stack.sim_url + "/__sim/fault", method="POST",
        data=json.dumps({"infno": "1101", "mode": "drop_before_act"})
        .encode(), headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=10, context=context(pki)).read()
    r = client.post(stack.url, CALLER, SECRET,
                    envelope(clinic, sign_no=sign_no))
    assert_rejected(r.status, r.body, 502, 6001)
    r = client.post(stack.url, CALLER, SECRET,
                    envelope(clinic, sign_no=sign_no))
    assert r.status == 200 and r.body["infcode"] == 0, r.body

    sent = sim_requests(stack, pki)
    assert [e["fault"] for e in sent] == [None, "drop_before_act", None]
    assert [e["envelope"]["infno"] for e in (sent[0], sent[2])] == \
        ["9001", "1101"]
    assert sent[0]["conn"] == sent[1]["conn"] != sent[2]["conn"]
    assert not sent[0]["tls"]["resumed"]
    assert sent[2]["tls"]["resumed"], sent[2]["tls"]


def test_plain_http_platform_has_no_tls_lines(make_stack):
    stack = make_stack(scheme="none", start=False)
    conf = open(stack.path("nginx.conf")).read()
    assert "proxy_pass http://yibao_platform$yibao_upstream_uri;" in conf
    assert "\n            proxy_ssl_" not in conf
    assert "\n        ssl_" not in conf


def test_https_platform_is_always_verified(make_stack, pki):
    stack = make_stack(scheme="none", start=False,
                       upstream="https://platform.example:8443")
    conf = open(stack.path("nginx.conf")).read()
    assert "proxy_pass https://yibao_platform$yibao_upstream_uri;" in conf
    assert "proxy_ssl_verify on;" in conf
    assert "proxy_ssl_trusted_certificate %s;" \
        % harness.yibao_stack.SYSTEM_CA in conf
    assert "proxy_ssl_name platform.example;" in conf


# ---------------------------------------------------------------------------
# callers with client certificates
# ---------------------------------------------------------------------------

def test_mtls_callers(make_stack, pki):
    stack = make_stack(scheme="none", listen_tls=gateway_tls(pki),
                       location_extra="            yibao_auth mtls;")
    clinic = clinic_of(stack)

    # the certificate is the caller: no X-Yibao-* header at all
    out = assert_ok(*tls_post(stack, pki, sign_in_envelope(clinic),
                              cert="village"))
    sign_no = out["output"]["signinoutb"]["sign_no"]
    assert_ok(*tls_post(stack, pki, envelope(clinic, sign_no=sign_no),
                        cert="village"))
    assert last_access(stack)["caller"] == CALLER

    # HMAC headers of another caller change nothing under mtls alone
    status, body = tls_post(stack, pki, envelope(clinic, sign_no=sign_no),
                            cert="village", hmac_as=(OTHER, OTHER_SECRET))
    assert_ok(status, body)
    assert last_access(stack)["caller"] == CALLER

    assert_rejected(*tls_post(stack, pki, envelope(clinic, sign_no=sign_no)),
                    401, 2007, "no client certificate")
    assert_rejected(*tls_post(stack, pki, envelope(clinic, sign_no=sign_no),
                              cert="nobody"), 401, 2002, "nobody-known")

    # only the three accepted requests reached the platform
    assert [r["envelope"]["infno"] for r in sim_requests(stack, pki)] == \
        ["9001", "1101", "1101"]


@pytest.mark.parametrize("verify_client", ["optional", "optional_no_ca"])
def test_mtls_certificate_of_unrelated_ca_refused(make_stack, pki,
                                                  verify_client):
    stack = make_stack(scheme="none", listen_tls=gateway_tls(
        pki, verify_client=verify_client),
        location_extra="            yibao_auth mtls;")
    clinic = clinic_of(stack)
    status, body = tls_post(stack, pki, sign_in_envelope(clinic),
                            cert="other-village")
    if verify_client == "optional":
        # nginx itself refuses a certificate that fails verification
        # (ngx_http_process_request), before any location or module: its
        # own 400 page, not an envelope
        assert status == 400, (status, body)
        assert "The SSL certificate error" in body
    else:
        # optional_no_ca lets an untrusted issuer through with a failed
        # verify result: the module's own check refuses it
        assert_rejected(status, body, 401, 2007, "not verified")
    assert sim_requests(stack, pki) == []


def test_hmac_and_mtls_callers(make_stack, pki):
    stack = make_stack(scheme="none", listen_tls=gateway_tls(pki),
                       location_extra="            yibao_auth hmac mtls;")
    clinic = clinic_of(stack)

    # a valid signature of another caller over CN village-subsystem
    assert_rejected(*tls_post(stack, pki, sign_in_envelope(clinic),
                              cert="village", hmac_as=(OTHER, OTHER_SECRET)),
                    401, 2007, OTHER, CALLER)
    # a valid signature without a certificate
    assert_rejected(*tls_post(stack, pki, sign_in_envelope(clinic),
                              hmac_as=(CALLER, SECRET)), 401, 2007)
    # a certificate without the headers
    assert_rejected(*tls_post(stack, pki, sign_in_envelope(clinic),
                              cert="village"), 401, 2001)

    out = assert_ok(*tls_post(stack, pki, sign_in_envelope(clinic),
                              cert="village", hmac_as=(CALLER, SECRET)))
    sign_no = out["output"]["signinoutb"]["sign_no"]
    assert_ok(*tls_post(stack, pki, envelope(clinic, sign_no=sign_no),
                        cert="village", hmac_as=(CALLER, SECRET)))
    assert last_access(stack)["caller"] == CALLER
    assert [r["envelope"]["infno"] for r in sim_requests(stack, pki)] == \
        ["9001", "1101"]

