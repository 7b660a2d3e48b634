"""Settings from defaults, TOML and environment; secrets; clear errors for bad files."""

from __future__ import annotations

import stat
from datetime import date
from pathlib import Path

import pytest

from sessions.settings import ConfigError, load_settings


def test_defaults_and_generated_secrets(tmp_path: Path) -> None:
    settings = load_settings(environ={}, overrides={"data_dir": tmp_path / "data"})
    assert settings.port == 8080
    assert settings.default_locale == "vi"
    assert (
        settings.effective_database_url
        == f"sqlite:///{(tmp_path / 'data' / 'diemcau.sqlite3').resolve()}"
    )
    assert settings.effective_public_url == "http://127.0.0.1:8080"
    secrets_dir = tmp_path / "data" / "secrets"
    for name in ("session.key", "identity.key", "signing.key"):
        mode = stat.S_IMODE((secrets_dir / name).stat().st_mode)
        assert mode == 0o600, name
    assert stat.S_IMODE(secrets_dir.stat().st_mode) == 0o700
    assert len(settings.session_key) == 32
    # The same keys are read back on the next start.
    again = load_settings(environ={}, overrides={"data_dir": tmp_path / "data"})
    assert again.session_key == settings.session_key
    assert again.identity_key == settings.identity_key
    assert "session_key" not in repr(settings)


def test_file_then_environment(tmp_path: Path) -> None:
    config = tmp_path / "diemcau.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "d"}"\nport = 9000\nhost = "0.0.0.0"\n'
        "crowd_threshold = 7\n"
        '[[election_periods]]\nname = "before"\nstart = 2026-02-01\nend = 2026-03-14\n',
        encoding="utf-8",
    )
    settings = load_settings(config, environ={"DIEMCAU_PORT": "9100"})
    assert settings.port == 9100  # the environment wins over the file
    assert settings.host == "0.0.0.0"
    assert settings.crowd_threshold == 7
    assert settings.election_periods[0].start == date(2026, 2, 1)
    via_env = load_settings(environ={"DIEMCAU_CONFIG": str(config)})
    assert via_env.port == 9000


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("port = ", "not valid TOML"),
        ("prot = 80", "unknown setting(s) prot"),
        ('port = "tám nghìn"', "setting 'port'"),
        ("port = 70000", "port must be between 1 and 65535"),
        ('timezone = "Mars/Olympus"', "not a known time zone"),
        ('default_locale = "fr"', "default_locale must be 'vi' or 'en'"),
    ],
)
def test_bad_file_names_file_and_problem(tmp_path: Path, content: str, expected: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(content + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_settings(config, environ={}, overrides={"data_dir": tmp_path / "data"})
    assert expected in str(err.value)
    if "must be" not in expected and "known time zone" not in expected:
        assert str(config) in str(err.value)


def test_unreadable_and_binary_files(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    with pytest.raises(ConfigError, match=f"{missing}: not found"):
        load_settings(missing, environ={})
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00port")
    with pytest.raises(ConfigError, match="cannot be read"):
        load_settings(binary, environ={})


def test_bad_environment_value(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="environment variable DIEMCAU_SESSION_HOURS"):
        load_settings(environ={"DIEMCAU_SESSION_HOURS": "mười"}, overrides={"data_dir": tmp_path})


def test_a_number_with_a_fraction_from_the_environment_or_the_file(tmp_path: Path) -> None:
    settings = load_settings(
        environ={"DIEMCAU_HEARTBEAT_SECONDS": "2.5"}, overrides={"data_dir": tmp_path}
    )
    assert settings.heartbeat_seconds == 2.5
    config = tmp_path / "diemcau.toml"
    config.write_text("heartbeat_seconds = 4\n")
    assert (
        load_settings(config, environ={}, overrides={"data_dir": tmp_path}).heartbeat_seconds == 4
    )
    for bad in ("nhanh", "nan", "inf"):
        with pytest.raises(ConfigError, match="DIEMCAU_HEARTBEAT_SECONDS"):
            load_settings(
                environ={"DIEMCAU_HEARTBEAT_SECONDS": bad}, overrides={"data_dir": tmp_path}
            )
    with pytest.raises(ConfigError, match="heartbeat_seconds must be between"):
        load_settings(
            environ={"DIEMCAU_HEARTBEAT_SECONDS": "0.01"}, overrides={"data_dir": tmp_path}
        )


def test_corrupt_secret_file(tmp_path: Path) -> None:
    load_settings(environ={}, overrides={"data_dir": tmp_path})
    (tmp_path / "secrets" / "session.key").write_text("không phải hex")
    with pytest.raises(ConfigError, match=r"session\.key: unreadable or corrupt"):
        load_settings(environ={}, overrides={"data_dir": tmp_path})
