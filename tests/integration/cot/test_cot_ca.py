"""``concord ca``: the CA, client certificates as PKCS#12 and TAK data packages."""

from __future__ import annotations

import ssl
import zipfile
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12
from tests.conftest import FAST_HASHER
from tests.factories import small_world
from typer.testing import CliRunner

from concord.bootstrap import bootstrap
from concord.config import Settings
from concord.domain.errors import Conflict, InvalidInput, NotFound
from concord.entrypoints.cli_ca import app
from concord.services.ca import CertificateAuthority, username_from_peercert


@pytest.fixture
def ca_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("CONCORD_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("CONCORD_ENV", "test")
    monkeypatch.setenv("CONCORD_SECRET_KEY", "s" * 40)
    settings = Settings()
    concord = bootstrap(settings, password_hasher=FAST_HASHER)
    small_world(concord)
    concord.close()
    return settings


def test_cli_issues_a_pkcs12_and_a_data_package_for_a_known_user(ca_env: Settings, tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["init"]).exit_code == 0
    assert runner.invoke(app, ["init"]).exit_code == 1  # never replaced silently
    result = runner.invoke(app, ["issue-client", "bp.op", "--password", "pkcs-pass-123"])
    assert result.exit_code == 0, result.output
    root = ca_env.effective_key_dir / "tak"
    key, cert, cas = pkcs12.load_key_and_certificates(
        (root / "clients" / "bp.op.p12").read_bytes(), b"pkcs-pass-123"
    )
    assert key is not None and cert is not None
    assert cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == "bp.op"
    assert cas and cas[0].subject == x509.load_pem_x509_certificate((root / "ca.pem").read_bytes()).subject
    with pytest.raises(ValueError):
        pkcs12.load_key_and_certificates((root / "clients" / "bp.op.p12").read_bytes(), b"wrong")

    out = tmp_path / "pkg"
    result = runner.invoke(
        app, ["data-package", "bp.op", "--host", "cot.example.org", "--port", "8089", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    password = next(
        line.split(": ", 1)[1] for line in result.output.splitlines() if line.startswith("password: ")
    )
    with zipfile.ZipFile(out / "bp.op.zip") as package:
        names = set(package.namelist())
        assert names == {"MANIFEST/manifest.xml", "certs/config.pref", "certs/caCert.p12", "certs/bp.op.p12"}
        pref = package.read("certs/config.pref").decode()
        assert "cot.example.org:8089:ssl" in pref
        manifest = package.read("MANIFEST/manifest.xml").decode()
        assert 'zipEntry="certs/bp.op.p12"' in manifest
        _, _, trusted = pkcs12.load_key_and_certificates(package.read("certs/caCert.p12"), password.encode())
        assert trusted
        key, cert, _ = pkcs12.load_key_and_certificates(package.read("certs/bp.op.p12"), password.encode())
        assert key is not None and cert is not None


def test_cli_refuses_unknown_users_and_hostile_hosts(ca_env: Settings) -> None:
    runner = CliRunner()
    runner.invoke(app, ["init"])
    assert runner.invoke(app, ["issue-client", "nobody"]).exit_code == 1
    result = runner.invoke(app, ["data-package", "bp.op", "--host", 'evil"><x', "--port", "8089"])
    assert result.exit_code == 1
    assert (
        runner.invoke(app, ["data-package", "bp.op", "--host", "ok.example", "--port", "70000"]).exit_code
        == 1
    )


def test_authority_without_init_refuses_and_usernames_are_checked(tmp_path: Path) -> None:
    ca = CertificateAuthority(tmp_path)
    with pytest.raises(NotFound):
        ca.issue_client("bp.op")
    ca.init()
    with pytest.raises(Conflict):
        ca.init()
    for bad in ("", "a" * 65, "bp op", "../etc", "x\x00y", "<script>"):
        with pytest.raises(InvalidInput):
            ca.issue_client(bad)


def test_server_context_trusts_only_our_clients(tmp_path: Path) -> None:
    ca = CertificateAuthority(tmp_path)
    ca.init()
    context = ca.server_context(["cot.example.org"])
    assert context.verify_mode == ssl.CERT_REQUIRED
    cert = x509.load_pem_x509_certificate(ca.server_cert_path.read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {"localhost", "cot.example.org"} <= set(sans.get_values_for_type(x509.DNSName))
    assert username_from_peercert({"subject": ((("commonName", "bp.op"),),)}) == "bp.op"
    assert username_from_peercert({"subjectAltName": (("URI", "urn:concord:user:cg.op"),)}) == "cg.op"
    assert username_from_peercert({}) is None
    assert username_from_peercert(None) is None
