# Generates the forged and control Notation envelopes of this folder (python3 with
# the cryptography package): python3 generate.py tests/data/notation-forgeries
# - forged-tsa.jws: a signature by a certificate that expired in 2021, saved by an
#   RFC 3161 token from a "TSA" whose certificate an end-entity (CA:FALSE)
#   certificate under the tsa root issued: must be refused.
# - real-tsa.jws: the same signature stamped by a TSA the root issued: verifies.
# - expired-no-ts.jws: the expired signature without a timestamp (permissive).
# - selfsigned.jws: a self-signed signer no store holds (audit).
# - repeated-o.jws: a signer whose subject is "O=Evil, O=Acme", under a
#   statement trusting O=Acme (policy-identity.json): must be refused.
import datetime, hashlib, json, os, base64, sys
from cryptography import x509
from cryptography.x509.oid import NameOID, ExtendedKeyUsageOID
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

OUT = sys.argv[1]
os.makedirs(OUT, exist_ok=True)
D = lambda y, m=1, d=1: datetime.datetime(y, m, d, tzinfo=datetime.timezone.utc)

def name(cn): return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
    x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "WA"),
    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Acme"),
    x509.NameAttribute(NameOID.COMMON_NAME, cn)])

def cert(subject, key, issuer_name, issuer_key, nb, na, ca, eku=None, eku_crit=False, ku=None):
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(nb).not_valid_after(na)
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
    if eku: b = b.add_extension(x509.ExtendedKeyUsage(eku), critical=eku_crit)
    if ku == "ca":
        b = b.add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
    elif ku == "sig":
        b = b.add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
    return b.sign(issuer_key, hashes.SHA256())

def pem(c): return c.public_bytes(serialization.Encoding.PEM)
def der(c): return c.public_bytes(serialization.Encoding.DER)
newkey = lambda: ec.generate_private_key(ec.SECP256R1())

# TSA trust store root (a public-CA-like root that also issues end-entity certs)
rk = newkey(); R = cert(name("TSA Root"), rk, name("TSA Root"), rk, D(2000), D(2099), True, ku="ca")
# An ordinary end-entity certificate under that root (CA:FALSE, code signing only): the attacker holds its key
ek = newkey(); E = cert(name("Some customer"), ek, R.subject, rk, D(2019), D(2099), False, [ExtendedKeyUsageOID.CODE_SIGNING], ku="sig")
# The attacker's own "TSA" certificate, issued by the end-entity key
tk = newkey(); T = cert(name("Forged TSA"), tk, E.subject, ek, D(2019), D(2099), False, [ExtendedKeyUsageOID.TIME_STAMPING], True, ku="sig")
# Control: a legitimate TSA directly under the root
gk = newkey(); G = cert(name("Real TSA"), gk, R.subject, rk, D(2019), D(2099), False, [ExtendedKeyUsageOID.TIME_STAMPING], True, ku="sig")

# Signing chain: ca store root, leaf expired in 2021
sk = newkey(); S = cert(name("Signing Root"), sk, name("Signing Root"), sk, D(2000), D(2099), True, ku="ca")
lk = newkey(); L = cert(name("Release signer"), lk, S.subject, sk, D(2020), D(2021), False, [ExtendedKeyUsageOID.CODE_SIGNING], ku="sig")
# A signer under the same root whose subject repeats O: Evil and Acme
rep_name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
    x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "WA"),
    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Evil"),
    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Acme"),
    x509.NameAttribute(NameOID.COMMON_NAME, "Release")])
pk = newkey(); P = cert(rep_name, pk, S.subject, sk, D(2020), D(2099), False, [ExtendedKeyUsageOID.CODE_SIGNING], ku="sig")
# Self-signed attacker leaf (for the audit-level case)
ak = newkey(); A = cert(name("Acme Release Signing"), ak, name("Acme Release Signing"), ak, D(2020), D(2099), False, [ExtendedKeyUsageOID.CODE_SIGNING], ku="sig")

# ---- minimal DER ----
def L_(n):
    if n < 0x80: return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big"); return bytes([0x80 | len(b)]) + b
def tlv(t, c): return bytes([t]) + L_(len(c)) + c
def seq(*xs): return tlv(0x30, b"".join(xs))
def set_(*xs): return tlv(0x31, b"".join(sorted(xs)))
def integer(n):
    b = n.to_bytes((n.bit_length() + 8) // 8 or 1, "big"); return tlv(0x02, b)
def octet(b): return tlv(0x04, b)
def oid(s):
    p = [int(x) for x in s.split(".")]; out = bytes([40 * p[0] + p[1]])
    for v in p[2:]:
        enc = [v & 0x7f]; v >>= 7
        while v: enc.insert(0, 0x80 | (v & 0x7f)); v >>= 7
        out += bytes(enc)
    return tlv(0x06, out)
def gentime(dt): return tlv(0x18, dt.strftime("%Y%m%d%H%M%SZ").encode())
SHA256 = seq(oid("2.16.840.1.101.3.4.2.1"))

def token(signed_bytes, gen, signer_cert, signer_key, certs):
    tst = seq(integer(1), oid("1.2.3.4"), seq(SHA256, octet(hashlib.sha256(signed_bytes).digest())),
              integer(42), gentime(gen))
    attrs = [seq(oid("1.2.840.113549.1.9.3"), set_(oid("1.2.840.113549.1.9.16.1.4"))),
             seq(oid("1.2.840.113549.1.9.4"), set_(octet(hashlib.sha256(tst).digest())))]
    signed_attrs = set_(*attrs)
    sig = signer_key.sign(signed_attrs, ec.ECDSA(hashes.SHA256()))
    sid = seq(signer_cert.issuer.public_bytes(), integer(signer_cert.serial_number))
    si = seq(integer(1), sid, SHA256, b"\xa0" + signed_attrs[1:], seq(oid("1.2.840.10045.4.3.2")), octet(sig))
    sd = seq(integer(3), set_(SHA256), seq(oid("1.2.840.113549.1.9.16.1.4"), tlv(0xa0, octet(tst))),
             tlv(0xa0, b"".join(der(c) for c in certs)), set_(si))
    return seq(oid("1.2.840.113549.1.7.2"), tlv(0xa0, sd))

def b64u(b): return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
DIGEST = "sha256:b8479de3f88fb259a0a9ea82a5b2a052a1ef3c4ebbcfc61482d5ae4c831f8af9"
def jws(leaf_key, chain, signing_time, ts=None):
    prot = b64u(json.dumps({"alg": "ES256", "crit": ["io.cncf.notary.signingScheme"],
        "cty": "application/vnd.cncf.notary.payload.v1+json",
        "io.cncf.notary.signingScheme": "notary.x509",
        "io.cncf.notary.signingTime": signing_time}).encode())
    pay = b64u(json.dumps({"targetArtifact": {"mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": DIGEST, "size": 1}}).encode())
    r, s = decode_dss_signature(leaf_key.sign(f"{prot}.{pay}".encode(), ec.ECDSA(hashes.SHA256())))
    sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    header = {"x5c": [base64.b64encode(der(c)).decode() for c in chain]}
    if ts: header["io.cncf.notary.timestampSignature"] = base64.b64encode(ts(sig)).decode()
    return json.dumps({"payload": pay, "protected": prot, "header": header, "signature": b64u(sig)}).encode(), sig

def store(d, kind, nm, c):
    p = os.path.join(OUT, d, "x509", kind, nm); os.makedirs(p, exist_ok=True)
    open(os.path.join(p, "root.pem"), "wb").write(pem(c))
def policy(fname, level, stores):
    open(os.path.join(OUT, fname), "w").write(json.dumps({"version": "1.0", "trustPolicies": [{
        "name": "p", "registryScopes": ["*"], "signatureVerification": {"level": level},
        "trustStores": stores, "trustedIdentities": ["*"]}]}))

store("store", "ca", "mine", S); store("store", "tsa", "tsaroot", R)
policy("policy-strict-tsa.json", "strict", ["ca:mine", "tsa:tsaroot"])
policy("policy-audit.json", "audit", ["ca:mine"])
policy("policy-permissive.json", "permissive", ["ca:mine"])
when = D(2020, 6, 1)
env, _ = jws(lk, [L, S], "2020-06-01T00:00:00Z", lambda s: token(s, when, T, tk, [T, E]))
open(os.path.join(OUT, "forged-tsa.jws"), "wb").write(env)
env, _ = jws(lk, [L, S], "2020-06-01T00:00:00Z", lambda s: token(s, when, G, gk, [G]))
open(os.path.join(OUT, "real-tsa.jws"), "wb").write(env)
env, _ = jws(lk, [L, S], "2020-06-01T00:00:00Z")
open(os.path.join(OUT, "expired-no-ts.jws"), "wb").write(env)
env, _ = jws(ak, [A], "2024-06-01T00:00:00Z")
open(os.path.join(OUT, "selfsigned.jws"), "wb").write(env)
env, _ = jws(pk, [P, S], "2024-06-01T00:00:00Z")
open(os.path.join(OUT, "repeated-o.jws"), "wb").write(env)
open(os.path.join(OUT, "policy-identity.json"), "w").write(json.dumps({"version": "1.0", "trustPolicies": [{
    "name": "acme", "registryScopes": ["*"], "signatureVerification": {"level": "strict"},
    "trustStores": ["ca:mine"], "trustedIdentities": ["x509.subject: C=US, ST=WA, O=Acme, CN=Release"]}]}))
# bare primitive: token over b"signature" via the forged TSA
open(os.path.join(OUT, "forged.tst"), "wb").write(token(b"signature", when, T, tk, [T, E]))
open(os.path.join(OUT, "tsaroot.der"), "wb").write(der(R))
print(DIGEST)
