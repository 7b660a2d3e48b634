"""The `diemcau` command: check, db upgrade, user add, demo, and serve as `make run` starts it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from web.cli import main


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str) -> Path:
    data = tmp_path / "data"
    monkeypatch.setenv("DIEMCAU_DATA_DIR", str(data))
    monkeypatch.setenv("DIEMCAU_DATABASE_URL", database_url)
    monkeypatch.delenv("DIEMCAU_CONFIG", raising=False)
    return data


def test_check_prints_settings(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    assert "Configuration is valid" in out
    assert f"data_dir = {env}" in out
    assert "session_key = present" in out
    assert "Database: revision" in out


def test_check_refuses_a_corrupt_file(
    env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "diemcau.toml"
    config.write_text("port = [\n", encoding="utf-8")
    assert main(["--config", str(config), "check"]) == 2
    err = capsys.readouterr().err
    assert f"configuration file {config}: not valid TOML" in err


def test_user_add_and_demo(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "upgrade"]) == 0
    assert "is at revision" in capsys.readouterr().out
    assert (
        main(
            [
                "user",
                "add",
                "lanhdao2",
                "--full-name",
                "Lương Văn Bình",
                "--role",
                "chair",
                "--generate-password",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "User lanhdao2 created with role(s) chair." in out
    assert "One-time password (shown only now):" in out
    assert (
        main(
            [
                "user",
                "add",
                "lanhdao2",
                "--full-name",
                "X",
                "--role",
                "chair",
                "--generate-password",
            ]
        )
        == 2
    )
    assert "already taken" in capsys.readouterr().err
    assert (
        main(["user", "add", "A", "--full-name", "X", "--role", "chair", "--generate-password"])
        == 2
    )
    assert "username" in capsys.readouterr().err
    assert main(["demo"]) == 0
    first = capsys.readouterr().out
    assert "Đã nạp dữ liệu dùng thử" in first  # in the default language
    assert main(["demo"]) == 0
    again = capsys.readouterr().out
    assert "đã được nạp từ trước" in again
    # The demo password stays retrievable for the next demonstration, readable by the owner only.
    password_line = next(line for line in again.splitlines() if "Mật khẩu dùng thử" in line)
    assert password_line in first
    assert (env / "demo-password.txt").stat().st_mode & 0o077 == 0


def test_site_kiosk_link(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    capsys.readouterr()
    assert main(["site", "kiosk", "05977"]) == 0
    out = capsys.readouterr().out
    assert "http://127.0.0.1:8080/kiosk/" in out
    assert main(["site", "kiosk", "99999"]) == 2
    assert "no endpoint with code 99999" in capsys.readouterr().err


def test_site_kiosk_setup_writes_what_the_pc_needs(
    env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo"]) == 0
    capsys.readouterr()
    folder = tmp_path / "kiosk-05977"
    assert main(["site", "kiosk", "05977", "--setup", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "install.sh" in out
    policy = json.loads((folder / "diemcau.json").read_text())
    # Our origin only, and nothing else granted.
    assert policy["VideoCaptureAllowedUrls"] == ["http://127.0.0.1:8080"]
    assert policy["AudioCaptureAllowedUrls"] == ["http://127.0.0.1:8080"]
    assert policy["AutoplayAllowlist"] == ["http://127.0.0.1:8080"]
    entry = (folder / "diemcau-kiosk.desktop").read_text()
    exec_line = next(line for line in entry.splitlines() if line.startswith("Exec="))
    assert exec_line.startswith("Exec=chromium --kiosk ")
    assert "http://127.0.0.1:8080/kiosk/" in exec_line
    # The entry holds the device link: readable by its owner only; the folder too.
    assert (folder / "diemcau-kiosk.desktop").stat().st_mode & 0o077 == 0
    assert folder.stat().st_mode & 0o077 == 0
    script = (folder / "install.sh").read_text()
    assert "/etc/chromium/policies/managed/diemcau.json" in script
    assert subprocess.run(["sh", "-n", str(folder / "install.sh")], check=False).returncode == 0
    assert not (folder / "ca.pem").exists()  # plain HTTP: no CA to install


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.mark.parametrize(
    ("locale", "opening", "lines"),
    [
        (
            "vi",
            "Mở http",
            [
                "Mở http://127.0.0.1:{port}/ bằng trình duyệt và đăng nhập.",
                "đã thêm 67 điểm cầu",
                "tên đăng nhập: admin",
                "Mật khẩu dùng thử",
            ],
        ),
        (
            "en",
            "Open http",
            [
                "Open http://127.0.0.1:{port}/ in a browser and sign in.",
                "67 endpoints added",
                "username: admin",
                "Demo password",
            ],
        ),
    ],
)
def test_serve_first_start(tmp_path: Path, locale: str, opening: str, lines: list[str]) -> None:
    """What `make run` does on a fresh machine: migrate, seed, print the URL and the password,
    in the configured language (Vietnamese by default)."""
    port = free_port()
    env = {
        **os.environ,
        "DIEMCAU_DATA_DIR": str(tmp_path / "data"),
        "DIEMCAU_PORT": str(port),
        "PYTHONUNBUFFERED": "1",
    }
    if locale != "vi":
        env["DIEMCAU_DEFAULT_LOCALE"] = locale
    env.pop("DIEMCAU_DATABASE_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "web.cli", "serve", "--demo"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    printed: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            printed.append(line)
            if line.startswith(opening):
                break
        output = "".join(printed)
        for expected in lines:
            assert expected.format(port=port) in output, output
        health = None
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    health = json.load(r)
                break
            except OSError:
                time.sleep(0.1)
        assert health == {"status": "ok", "database": "ok"}
        assert (tmp_path / "data" / "diemcau.sqlite3").exists()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        if proc.stdout is not None:
            proc.stdout.close()


def test_gen_cert_makes_a_ca_once_and_a_server_certificate(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["gen-cert", "--name", "tcd.langson.local", "--name", "127.0.0.1"]) == 0
    out = capsys.readouterr().out
    folder = env / "tls"
    assert "certutil -d sql:$HOME/.pki/nssdb" in out
    assert "(new)" in out
    ca = x509.load_pem_x509_certificate((folder / "ca.pem").read_bytes())
    server = x509.load_pem_x509_certificate((folder / "server.pem").read_bytes())
    assert server.issuer == ca.subject
    public = ca.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    assert server.signature_hash_algorithm is not None
    public.verify(
        server.signature, server.tbs_certificate_bytes, ec.ECDSA(server.signature_hash_algorithm)
    )
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "tcd.langson.local" in names.get_values_for_type(x509.DNSName)
    assert [str(a) for a in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    for key in ("ca.key", "server.key"):
        assert (folder / key).stat().st_mode & 0o077 == 0
    # Again: the CA is kept (kiosks install it once), the server certificate is new.
    assert main(["gen-cert", "--name", "tcd.langson.local"]) == 0
    assert "(kept)" in capsys.readouterr().out
    assert x509.load_pem_x509_certificate((folder / "ca.pem").read_bytes()) == ca
    assert x509.load_pem_x509_certificate((folder / "server.pem").read_bytes()) != server
