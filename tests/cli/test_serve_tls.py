"""``opengp serve --ssl-certfile/--ssl-keyfile``: HTTPS, and a certificate that cannot be used
stopping the server in one line."""
from __future__ import annotations

import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from conftest import Server, free_port
from tls import self_signed

pytestmark = pytest.mark.local_only


def serve(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "opengp", "serve", "--demo", "--port", str(free_port()),
                           "--data-dir", str(tmp_path / "data"), *args], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, done.stdout + done.stderr
    out = " ".join((done.stdout + done.stderr).split())
    assert "Traceback" not in out
    return out


def test_the_server_answers_over_https(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path / "tls")
    srv = Server(tmp_path, extra_args=["--ssl-certfile", str(cert), "--ssl-keyfile", str(key)])
    srv.url = f"https://127.0.0.1:{srv.port}"
    srv.start()
    try:
        with httpx.Client(verify=ssl.create_default_context(cafile=cert), timeout=10) as https:
            info = https.get(f"{srv.url}/arcgis/rest/info", params={"f": "json"}).json()
            assert info["authInfo"]["tokenServicesUrl"] == f"{srv.url}/arcgis/tokens/generateToken"
            token = https.post(info["authInfo"]["tokenServicesUrl"], data={
                "username": "admin", "password": (srv.data_dir / "demo-admin-password").read_text().strip(),
                "f": "json"}).json()
            assert token["ssl"] is True and token["token"]
        with pytest.raises(httpx.HTTPError):       # no plain HTTP on that port
            httpx.get(f"http://127.0.0.1:{srv.port}/arcgis/rest/info", timeout=5)
        assert f"https://127.0.0.1:{srv.port}/arcgis/rest/services" in " ".join(srv.log.read_text().split())
    finally:
        srv.stop()


def test_a_certificate_without_its_key_is_refused(tmp_path: Path) -> None:
    cert, _ = self_signed(tmp_path / "tls")
    out = one_line(serve(tmp_path, "--ssl-certfile", str(cert)))
    assert "HTTPS needs both ssl_certfile and ssl_keyfile" in out


def test_a_key_of_another_certificate_is_refused(tmp_path: Path) -> None:
    cert, _ = self_signed(tmp_path / "one")
    _, other_key = self_signed(tmp_path / "two")
    out = one_line(serve(tmp_path, "--ssl-certfile", str(cert), "--ssl-keyfile", str(other_key)))
    assert f"cannot use the certificate {cert}" in out


def test_a_missing_certificate_file_is_refused(tmp_path: Path) -> None:
    _, key = self_signed(tmp_path / "tls")
    out = one_line(serve(tmp_path, "--ssl-certfile", str(tmp_path / "nowhere.pem"), "--ssl-keyfile", str(key)))
    assert "cannot use the certificate" in out and "nowhere.pem" in out


def test_an_encrypted_key_is_refused_without_asking_for_its_password(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    cert, key = self_signed(tmp_path / "tls")
    private = serialization.load_pem_private_key(key.read_bytes(), None)
    key.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.BestAvailableEncryption(b"secret")))
    out = one_line(serve(tmp_path, "--ssl-certfile", str(cert), "--ssl-keyfile", str(key)))
    assert "the key is encrypted with a password" in out
