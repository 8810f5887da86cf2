"""``rediss://`` against a private TLS Redis server started for these tests (with a password).

The fixture makes a CA and a server certificate for 127.0.0.1 with
``cryptography`` (a core dependency), starts ``redis-server`` with TLS only
on a free port and ``requirepass``, and stops it afterwards; the shared test
server is never touched. Without a ``redis-server`` binary built with TLS
the tests skip (fail under ``DBKEEPER_REQUIRE_SERVERS=1``).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from dbkeeper.backup import BackupManager
from dbkeeper.engine.connection import DatabaseConnection
from dbkeeper.errors import ConnectionError as DbConnectionError
from dbkeeper.testing.pytest_plugin import unavailable
from dbkeeper.urls import DatabaseURL

PASSWORD = "Tls-S3cr@t:p/w%rd"


def _certificates(directory: Path) -> tuple[Path, Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("dbkeeper test CA")).issuer_name(name("dbkeeper test CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(name("127.0.0.1")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """(port, CA file) of a private TLS-only redis-server with ``requirepass``."""
    binary = shutil.which("redis-server")
    if binary is None:
        unavailable("redis-server is not installed; the rediss:// tests need it")
    directory = tmp_path_factory.mktemp("tls")
    ca, cert, key = _certificates(directory)
    port = _free_port()
    config = directory / "redis.conf"  # the password in a 0600 file, not in the process arguments
    config.write_text(f'port 0\ntls-port {port}\nbind 127.0.0.1\ntls-cert-file {cert}\ntls-key-file {key}\n'
                      f'tls-ca-cert-file {ca}\ntls-auth-clients no\nsave ""\nappendonly no\ndir {directory}\n'
                      f'requirepass "{PASSWORD}"\n')
    config.chmod(0o600)
    process = subprocess.Popen([binary, str(config)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    output = process.stdout.read().decode(errors="replace") if process.stdout else ""
                    unavailable(f"could not start a TLS redis-server: {output[-500:]}")
                time.sleep(0.05)
        yield port, ca
    finally:
        process.terminate()
        process.wait(timeout=20)
        if process.stdout is not None:
            process.stdout.close()


def tls_url(port: int, ca: Path, password: str = PASSWORD, database: str = "0") -> DatabaseURL:
    return DatabaseURL.parse(f"rediss://:{quote(password, safe='')}@127.0.0.1:{port}/{database}"
                             f"?ssl_ca_certs={quote(str(ca))}")


def test_rediss_connects_with_verified_tls_and_a_password(tls_server: tuple[int, Path]) -> None:
    port, ca = tls_server
    with DatabaseConnection.from_url(tls_url(port, ca), name="tls") as conn:
        report = conn.health_check()
        assert report["status"] == "healthy", report
        conn.execute("SET ? ?", ("k", "over tls"))
        assert conn.execute("GET k").scalar() == "over tls"
        assert conn.execute("INFO server").rows  # INFO arrives as field/value rows
        conn.execute("FLUSHDB")


def test_an_untrusted_certificate_is_refused(tls_server: tuple[int, Path], tmp_path: Path) -> None:
    port, _ = tls_server
    other_ca, _, _ = _certificates(tmp_path)
    conn = DatabaseConnection.from_url(tls_url(port, other_ca), name="tls", max_retries=0, connection_timeout=5)
    with pytest.raises(DbConnectionError) as info:
        conn.connect()
    assert "certificate" in str(info.value).lower()
    assert PASSWORD not in str(info.value)


def test_a_wrong_password_is_reported_without_the_password(tls_server: tuple[int, Path]) -> None:
    port, ca = tls_server
    wrong = PASSWORD + "-wrong"
    conn = DatabaseConnection.from_url(tls_url(port, ca, wrong), name="tls", max_retries=0)
    with pytest.raises(DbConnectionError) as info:
        conn.connect()
    for text in (str(info.value), repr(conn), conn.get_connection_string()):
        assert wrong not in text and quote(wrong, safe="") not in text and PASSWORD not in text


def test_a_backup_round_trips_over_tls(tls_server: tuple[int, Path], tmp_path: Path) -> None:
    port, ca = tls_server
    source, target = tls_url(port, ca, database="1"), tls_url(port, ca, database="2")
    with DatabaseConnection.from_url(source) as conn:
        for i in range(100):
            conn.execute("HSET ? f ?", (f"h:{i}", i))
    manager = BackupManager(tmp_path / "ws", source)
    result = manager.create_backup("tls", compression="zstd")
    assert result.success, result.error_message
    manager.restore_backup(result.backup_id, target)
    with DatabaseConnection.from_url(target) as conn:
        assert conn.execute('SELECT COUNT(*) AS n FROM "h:*"').scalar() == 100
        assert conn.execute("HGET h:42 f").scalar() == "42"
    verdict = manager.verify_backup(result.backup_id, "deep")
    assert verdict.success, verdict.error_message
