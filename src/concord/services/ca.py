"""The certificate authority of the CoT TLS port: CA, server and client certificates, TAK data packages.

Files live under ``<key dir>/tak/`` (private keys mode 0600):

- ``ca.pem`` / ``ca.key``: the CA (EC P-256, self-signed), the only issuer the TLS port trusts;
- ``server.pem`` / ``server.key``: the listener's certificate, for 127.0.0.1, localhost and the
  configured host;
- ``clients/<username>.p12``: a client certificate and key as PKCS#12, protected by a password. The
  certificate's common name is the Concord username (also as the SAN ``urn:concord:user:<username>``),
  which is how the TLS port knows who connected.

A TAK data package (``<username>.zip``) holds the CA as a trust store, the client PKCS#12 and a
``config.pref`` pointing the client at ``host:port:ssl``, with a ``MANIFEST/manifest.xml``, the layout
ATAK, iTAK and WinTAK import.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import ssl
import uuid
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import quoteattr

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from concord.adapters.clock import SystemClock
from concord.domain.errors import Conflict, InvalidInput, NotFound
from concord.domain.ports import Clock

__all__ = [
    "USER_URI_PREFIX",
    "CertificateAuthority",
    "IssuedClient",
    "username_from_peercert",
]

USER_URI_PREFIX = "urn:concord:user:"
_BACKDATE = timedelta(minutes=5)  # tolerate small clock differences between server and devices


@dataclass(frozen=True, slots=True)
class IssuedClient:
    """A client certificate written to disk; the password opens the PKCS#12 file."""

    username: str
    p12_path: Path
    cert_path: Path
    password: str
    not_after: datetime

    def __repr__(self) -> str:
        return f"IssuedClient(username={self.username!r}, p12_path={str(self.p12_path)!r}, password='***')"


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _check_username(username: str) -> str:
    if not username or len(username) > 64 or not all(c.isalnum() or c in "._-" for c in username):
        raise InvalidInput(
            "a certificate username is 1-64 letters, digits, '.', '_' or '-'", details={"field": "username"}
        )
    return username


def username_from_peercert(cert: dict[str, object] | None) -> str | None:
    """The Concord username a verified peer certificate names (``ssl`` ``getpeercert()`` form)."""
    if not cert:
        return None
    for kind, value in cert.get("subjectAltName", ()) or ():  # type: ignore[attr-defined]
        if kind == "URI" and isinstance(value, str) and value.startswith(USER_URI_PREFIX):
            return value[len(USER_URI_PREFIX) :] or None
    for rdn in cert.get("subject", ()) or ():  # type: ignore[attr-defined]
        for name, value in rdn:
            if name == "commonName" and isinstance(value, str) and value:
                return value
    return None


class CertificateAuthority:
    """The CoT port's CA, kept as files under ``key_dir/tak``."""

    def __init__(self, key_dir: Path, *, clock: Clock | None = None) -> None:
        self.root = Path(key_dir) / "tak"
        self._clock = clock or SystemClock()

    @property
    def ca_cert_path(self) -> Path:
        return self.root / "ca.pem"

    @property
    def ca_key_path(self) -> Path:
        return self.root / "ca.key"

    @property
    def server_cert_path(self) -> Path:
        return self.root / "server.pem"

    @property
    def server_key_path(self) -> Path:
        return self.root / "server.key"

    def client_dir(self) -> Path:
        return self.root / "clients"

    def exists(self) -> bool:
        return self.ca_cert_path.exists() and self.ca_key_path.exists()

    # -- the CA ------------------------------------------------------------------------------------
    def init(
        self, *, name: str = "Concord CoT CA", days: int = 3650, force: bool = False
    ) -> x509.Certificate:
        """Create the CA key and self-signed certificate (refuses to replace one unless ``force``)."""
        if self.exists() and not force:
            raise Conflict(
                f"a CA already exists in {self.root}; pass force to replace it (every issued "
                "certificate stops working)",
                details={"path": str(self.root)},
            )
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Concord"),
                x509.NameAttribute(NameOID.COMMON_NAME, name),
            ]
        )
        now = self._clock.now()
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(now + timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        _write_private(self.ca_key_path, _key_pem(key))
        self.ca_cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        for stale in (self.server_cert_path, self.server_key_path):
            stale.unlink(missing_ok=True)  # issued by the old CA
        return cert

    def ca_certificate(self) -> x509.Certificate:
        self._require()
        return x509.load_pem_x509_certificate(self.ca_cert_path.read_bytes())

    def _ca_key(self) -> ec.EllipticCurvePrivateKey:
        self._require()
        key = serialization.load_pem_private_key(self.ca_key_path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise InvalidInput("the CA key is not an EC key", details={"path": str(self.ca_key_path)})
        return key

    def _require(self) -> None:
        if not self.exists():
            raise NotFound(
                f"no CA in {self.root}; run `concord ca init` first", details={"path": str(self.root)}
            )

    def _issue(
        self,
        subject_cn: str,
        *,
        days: float,
        server: bool,
        sans: Sequence[x509.GeneralName],
        not_before: datetime | None = None,
    ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        ca_cert = self.ca_certificate()
        ca_key = self._ca_key()
        key = ec.generate_private_key(ec.SECP256R1())
        start = not_before if not_before is not None else self._clock.now() - _BACKDATE
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)]))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + _BACKDATE + timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),  # type: ignore[arg-type]
                critical=False,
            )
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
        return key, builder.sign(ca_key, hashes.SHA256())

    # -- the server --------------------------------------------------------------------------------
    def issue_server(self, hosts: Sequence[str], *, days: int = 397) -> Path:
        """Issue the TLS listener's certificate for ``hosts`` (names or IP addresses)."""
        names: list[x509.GeneralName] = []
        for host in dict.fromkeys(h for h in hosts if h):
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        key, cert = self._issue(hosts[0] if hosts else "localhost", days=days, server=True, sans=names)
        _write_private(self.server_key_path, _key_pem(key))
        self.server_cert_path.write_bytes(
            cert.public_bytes(serialization.Encoding.PEM)
            + self.ca_certificate().public_bytes(serialization.Encoding.PEM)
        )
        return self.server_cert_path

    def _server_covers(self, hosts: Sequence[str]) -> bool:
        if not (self.server_cert_path.exists() and self.server_key_path.exists()):
            return False
        cert = x509.load_pem_x509_certificate(self.server_cert_path.read_bytes())
        if cert.not_valid_after_utc <= self._clock.now() + timedelta(days=1):
            return False
        try:
            sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            return False
        have = {str(v) for v in sans.get_values_for_type(x509.IPAddress)}
        have |= set(sans.get_values_for_type(x509.DNSName))
        return all(h in have for h in hosts if h)

    def server_context(self, hosts: Sequence[str] = ("127.0.0.1", "localhost")) -> ssl.SSLContext:
        """The TLS listener's context: our server certificate, client certificates from our CA required."""
        hosts = list(dict.fromkeys(["127.0.0.1", "localhost", *hosts]))
        if not self._server_covers(hosts):
            self.issue_server(hosts)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_cert_chain(self.server_cert_path, self.server_key_path)
        context.load_verify_locations(cafile=str(self.ca_cert_path))
        return context

    # -- clients -----------------------------------------------------------------------------------
    def issue_client(
        self,
        username: str,
        *,
        password: str | None = None,
        days: float = 365,
        out_dir: Path | None = None,
        not_before: datetime | None = None,
    ) -> IssuedClient:
        """Issue a client certificate for ``username`` as a password-protected PKCS#12 file."""
        username = _check_username(username)
        password = password or secrets.token_urlsafe(12)
        key, cert = self._issue(
            username,
            days=days,
            server=False,
            sans=[x509.UniformResourceIdentifier(USER_URI_PREFIX + username)],
            not_before=not_before,
        )
        target = out_dir or self.client_dir()
        p12 = pkcs12.serialize_key_and_certificates(
            username.encode(),
            key,
            cert,
            [self.ca_certificate()],
            serialization.BestAvailableEncryption(password.encode()),
        )
        p12_path = target / f"{username}.p12"
        _write_private(p12_path, p12)
        cert_path = target / f"{username}.pem"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return IssuedClient(
            username=username,
            p12_path=p12_path,
            cert_path=cert_path,
            password=password,
            not_after=cert.not_valid_after_utc,
        )

    def data_package(
        self,
        username: str,
        *,
        host: str,
        port: int,
        password: str | None = None,
        out_dir: Path | None = None,
        days: float = 365,
    ) -> tuple[Path, IssuedClient]:
        """Issue a client certificate and write a TAK data package zip that connects to ``host:port``."""
        if not host or any(c in host for c in ":<>&\"' \n"):
            raise InvalidInput("host must be a plain host name or IPv4 address", details={"field": "host"})
        if not 0 < port < 65536:
            raise InvalidInput("port must be 1-65535", details={"field": "port"})
        target = out_dir or self.client_dir()
        issued = self.issue_client(username, password=password, days=days, out_dir=target)
        truststore = pkcs12.serialize_key_and_certificates(
            b"concord-ca",
            None,
            None,
            [self.ca_certificate()],
            serialization.BestAvailableEncryption(issued.password.encode()),
        )
        package_uid = str(uuid.uuid4())
        manifest = (
            '<MissionPackageManifest version="2">\n'
            "  <Configuration>\n"
            f'    <Parameter name="uid" value="{package_uid}"/>\n'
            f'    <Parameter name="name" value={quoteattr(f"concord-{username}")}/>\n'
            '    <Parameter name="onReceiveDelete" value="true"/>\n'
            "  </Configuration>\n"
            "  <Contents>\n"
            '    <Content ignore="false" zipEntry="certs/config.pref"/>\n'
            '    <Content ignore="false" zipEntry="certs/caCert.p12"/>\n'
            f'    <Content ignore="false" zipEntry={quoteattr(f"certs/{username}.p12")}/>\n'
            "  </Contents>\n"
            "</MissionPackageManifest>\n"
        )
        secret = quoteattr(issued.password)[1:-1]
        pref = (
            "<?xml version='1.0' encoding='ASCII' standalone='yes'?>\n"
            "<preferences>\n"
            '  <preference version="1" name="cot_streams">\n'
            '    <entry key="count" class="class java.lang.Integer">1</entry>\n'
            '    <entry key="description0" class="class java.lang.String">Concord</entry>\n'
            '    <entry key="enabled0" class="class java.lang.Boolean">true</entry>\n'
            f'    <entry key="connectString0" class="class java.lang.String">{host}:{port}:ssl</entry>\n'
            "  </preference>\n"
            '  <preference version="1" name="com.atakmap.app_preferences">\n'
            '    <entry key="displayServerConnectionWidget" class="class java.lang.Boolean">true</entry>\n'
            '    <entry key="caLocation" class="class java.lang.String">cert/caCert.p12</entry>\n'
            f'    <entry key="caPassword" class="class java.lang.String">{secret}</entry>\n'
            f'    <entry key="clientPassword" class="class java.lang.String">{secret}</entry>\n'
            '    <entry key="certificateLocation" class="class java.lang.String">'
            f"cert/{username}.p12</entry>\n"
            "  </preference>\n"
            "</preferences>\n"
        )
        zip_path = target / f"{username}.zip"
        target.mkdir(parents=True, exist_ok=True)
        fd = os.open(zip_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED) as package:
            package.writestr("MANIFEST/manifest.xml", manifest)
            package.writestr("certs/config.pref", pref)
            package.writestr("certs/caCert.p12", truststore)
            package.writestr(f"certs/{username}.p12", issued.p12_path.read_bytes())
        return zip_path, issued
