"""Certificates and keys for each region's control plane, made with `cryptography`.

One CA per region signs the API server's serving certificate and every client
certificate (as kubeadm does with its cluster CA); the controller manager also uses it
as the cluster signing CA. A separate RSA key pair signs service-account tokens.
Files are created once and reused; keys are written with mode 0600.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from lab.files import write_atomic, write_private

VALIDITY = datetime.timedelta(days=3650)

# Client identities per region: file stem -> (common name, organizations).
# `alice` and `bob` are plain users with no bindings; tests and roles grant them rights.
CLIENT_IDENTITIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "admin": ("lab-admin", ("system:masters",)),
    "kube-controller-manager": ("system:kube-controller-manager", ()),
    "alice": ("alice", ("lab:users",)),
    "bob": ("bob", ("lab:users",)),
}

SERVING_DNS_NAMES = (
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)
# 10.0.0.1 is the first address of --service-cluster-ip-range (the `kubernetes` Service).
SERVING_IPS = ("127.0.0.1", "10.0.0.1")


@dataclass(frozen=True)
class RegionPki:
    """Paths of one region's PKI files."""

    directory: Path

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca.key"

    @property
    def serving_cert(self) -> Path:
        return self.directory / "apiserver.crt"

    @property
    def serving_key(self) -> Path:
        return self.directory / "apiserver.key"

    @property
    def service_account_key(self) -> Path:
        return self.directory / "sa.key"

    @property
    def service_account_pub(self) -> Path:
        return self.directory / "sa.pub"

    def client_cert(self, identity: str) -> Path:
        return self.directory / f"{identity}.crt"

    def client_key(self, identity: str) -> Path:
        return self.directory / f"{identity}.key"


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _new_ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _name(common_name: str, organizations: tuple[str, ...] = ()) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in organizations]
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


def _load_key(path: Path):
    return serialization.load_pem_private_key(path.read_bytes(), password=None)


def _load_cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _create_ca(pki: RegionPki, region: str) -> None:
    key = _new_ec_key()
    name = _name(f"meridian-lab-{region}-ca", ("meridian-lab",))
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - datetime.timedelta(minutes=5))
        .not_valid_after(_now() + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    write_private(pki.ca_key, _key_pem(key))
    write_atomic(pki.ca_cert, _cert_pem(cert))


def _issue(
    pki: RegionPki,
    cert_path: Path,
    key_path: Path,
    subject: x509.Name,
    usage: ExtendedKeyUsageOID,
    sans: list[x509.GeneralName] | None = None,
) -> None:
    ca_key = _load_key(pki.ca_key)
    ca_cert = _load_cert(pki.ca_cert)
    key = _new_ec_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - datetime.timedelta(minutes=5))
        .not_valid_after(_now() + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False,
                crl_sign=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    write_private(key_path, _key_pem(key))
    write_atomic(cert_path, _cert_pem(cert))


def _create_service_account_keys(pki: RegionPki) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    write_private(pki.service_account_key, _key_pem(key))
    write_atomic(
        pki.service_account_pub,
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def ensure_region_pki(directory: Path, region: str) -> RegionPki:
    """Create whatever of a region's PKI is missing; never replace what exists."""
    directory.mkdir(parents=True, exist_ok=True)
    pki = RegionPki(directory)
    if not (pki.ca_cert.exists() and pki.ca_key.exists()):
        _create_ca(pki, region)
    if not (pki.serving_cert.exists() and pki.serving_key.exists()):
        sans: list[x509.GeneralName] = [x509.DNSName(name) for name in SERVING_DNS_NAMES]
        sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in SERVING_IPS]
        _issue(pki, pki.serving_cert, pki.serving_key, _name("kube-apiserver"),
               ExtendedKeyUsageOID.SERVER_AUTH, sans)
    for identity, (common_name, organizations) in CLIENT_IDENTITIES.items():
        if not (pki.client_cert(identity).exists() and pki.client_key(identity).exists()):
            _issue(pki, pki.client_cert(identity), pki.client_key(identity),
                   _name(common_name, organizations), ExtendedKeyUsageOID.CLIENT_AUTH)
    if not (pki.service_account_key.exists() and pki.service_account_pub.exists()):
        _create_service_account_keys(pki)
    return pki
