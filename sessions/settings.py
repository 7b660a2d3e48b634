"""Settings: one frozen dataclass, built once at start-up.

Sources, later ones winning: the defaults below, an optional TOML file (``--config`` or
``DIEMCAU_CONFIG``), then ``DIEMCAU_<NAME>`` environment variables. Secrets are not settings
a person types: they are generated on first run under ``<data_dir>/secrets`` (mode 0600) and
loaded into the same dataclass. ``docs/operations.md`` documents every field.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import os
import secrets
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sessions.ids import whole_number

ENV_PREFIX = "DIEMCAU_"
SECRET_FILES = ("session.key", "identity.key", "signing.key", "audit.key")


class ConfigError(Exception):
    """The configuration cannot be used; the message names the source and the problem."""


@dataclass(frozen=True)
class ElectionPeriod:
    """A named date range ('before', 'during', 'after' the election) for dashboards and reports."""

    name: str
    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ConfigError(
                f"election period {self.name!r}: end {self.end} is before {self.start}"
            )


def _default_periods() -> tuple[ElectionPeriod, ...]:
    # Plan 67/KH-UBND: election day Sunday 15/3/2026.
    return (
        ElectionPeriod("before", date(2026, 1, 1), date(2026, 3, 14)),
        ElectionPeriod("during", date(2026, 3, 15), date(2026, 3, 15)),
        ElectionPeriod("after", date(2026, 3, 16), date(2026, 6, 30)),
    )


@dataclass(frozen=True)
class IceServer:
    """A STUN or TURN server handed to browsers and used by the server's own peers."""

    urls: tuple[str, ...]
    username: str = ""
    credential: str = ""

    def __post_init__(self) -> None:
        if not self.urls or not all(u.startswith(("stun:", "turn:", "turns:")) for u in self.urls):
            raise ConfigError(
                f"ice server urls must start with stun:, turn: or turns: ({self.urls})"
            )


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("data")
    database_url: str = ""  # empty: SQLite file under data_dir
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = ""  # empty: http://host:port
    tls_cert: Path | None = None
    tls_key: Path | None = None
    default_locale: str = "vi"
    timezone: str = "Asia/Ho_Chi_Minh"
    session_hours: int = 12
    # Sign-in throttle: this many wrong passwords within the lockout window lock the account
    # (or, for the second number, the address) for the window.
    login_max_failures: int = 5
    login_address_max_failures: int = 20
    login_lockout_minutes: int = 15
    crowd_threshold: int = 5
    # Deadlines (sessions.deadlines): the rules counted in working days (the others in calendar
    # days), and how many days before a deadline a case shows as "due soon".
    working_day_rules: tuple[str, ...] = ("complaint_accept", "denunciation_notify")
    due_soon_days: int = 5
    # The letterhead of official documents (minutes, notices).
    issuing_body: str = "UBND TỈNH LẠNG SƠN"
    issuing_office: str = "BAN TIẾP CÔNG DÂN TỈNH"
    document_place: str = "Lạng Sơn"  # the place of a notice's "…, ngày … tháng … năm …" line
    election_periods: tuple[ElectionPeriod, ...] = field(default_factory=_default_periods)
    log_level: str = "INFO"
    # The event loop ``diemcau serve`` runs on: "uvloop" (measured a little cheaper per packet,
    # bench/loops.py) or "asyncio" (the standard library's).
    event_loop: str = "uvloop"
    # Media plane. No public server is ever contacted unless listed here.
    ice_servers: tuple[IceServer, ...] = ()
    ice_host_addresses: tuple[str, ...] = ()  # empty: every non-loopback interface
    ice_allowed_remote: tuple[str, ...] = ()  # networks remote candidates must be in; empty: any
    reconnect_grace_seconds: int = 30
    max_message_bytes: int = 262144
    # Past these the server refuses new participants and rooms (server_busy) and caps video:
    # the event loop late by this many milliseconds on average over 5 s, or the loop's thread
    # busy this many percent of the time. 0 turns that measure off.
    busy_loop_lag_ms: int = 100
    busy_cpu_percent: int = 90
    # Recordings.
    recordings_dir: Path | None = None  # empty: <data_dir>/recordings
    recording_retention_days: int = 3650  # then deleted, unless the case is on legal hold
    # Scheduling.
    room_lead_minutes: int = 10  # rooms open this long before the planned start
    end_grace_minutes: int = 15  # an empty room ends this long after the planned end
    reminder_minutes: tuple[str, ...] = ("1440", "15")  # reminders this long before the start
    urgent_escalation_minutes: int = 3  # an unanswered urgent alert goes to the next leader
    urgent_timeout_minutes: int = 30  # an urgent room nobody accepted ends by itself
    # Kiosks and endpoint operators' pages say they are there this often; an endpoint not heard
    # of for three heartbeats is shown offline.
    heartbeat_seconds: float = 10.0
    # An endpoint booked within this many minutes that is offline or failed its last readiness
    # check is flagged to the meeting's chair and secretary.
    readiness_lead_minutes: int = 60
    recurrence_horizon_days: int = 35  # recurring reception days are created this far ahead
    join_link_valid_hours: int = 12  # join links work until the planned end plus this
    # E-mail for reminders; off unless smtp_host is set.
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_from: str = "diemcau@localhost"
    smtp_starttls: bool = False
    smtp_username: str = ""
    smtp_password: str = field(default="", repr=False)
    # Loaded from <data_dir>/secrets, never from the config file or the environment.
    session_key: bytes = field(default=b"", repr=False)
    identity_key: bytes = field(default=b"", repr=False)
    signing_key: bytes = field(default=b"", repr=False)
    audit_key: bytes = field(default=b"", repr=False)

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ConfigError(f"port must be between 1 and 65535, not {self.port}")
        if self.default_locale not in ("vi", "en"):
            raise ConfigError(f"default_locale must be 'vi' or 'en', not {self.default_locale!r}")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(f"timezone {self.timezone!r} is not a known time zone") from exc
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError("tls_cert and tls_key must be given together")
        if self.session_hours < 1:
            raise ConfigError("session_hours must be at least 1")
        known_rules = {
            "complaint_accept",
            "complaint_resolve",
            "denunciation_notify",
            "denunciation_resolve",
            "petition_handle",
        }
        for rule in self.working_day_rules:
            if rule not in known_rules:
                raise ConfigError(
                    f"working_day_rules: {rule!r} is not a rule ({', '.join(sorted(known_rules))})"
                )
        if not 0 <= self.due_soon_days <= 60:
            raise ConfigError("due_soon_days must be between 0 and 60")
        if self.crowd_threshold < 2:
            raise ConfigError("crowd_threshold must be at least 2")
        if self.login_max_failures < 1 or self.login_address_max_failures < 1:
            raise ConfigError("login_max_failures and login_address_max_failures must be >= 1")
        if not 1 <= self.login_lockout_minutes <= 24 * 60:
            raise ConfigError("login_lockout_minutes must be between 1 and 1440")
        if self.event_loop not in ("asyncio", "uvloop"):
            raise ConfigError('event_loop must be "asyncio" or "uvloop"')
        if not 0 <= self.busy_loop_lag_ms <= 10_000:
            raise ConfigError("busy_loop_lag_ms must be between 0 (off) and 10000")
        if not 0 <= self.busy_cpu_percent <= 100:
            raise ConfigError("busy_cpu_percent must be between 0 (off) and 100")
        if not 0.2 <= self.heartbeat_seconds <= 300:
            raise ConfigError("heartbeat_seconds must be between 0.2 and 300")
        if not 5 <= self.readiness_lead_minutes <= 24 * 60:
            raise ConfigError("readiness_lead_minutes must be between 5 and 1440 minutes")
        if not 5 <= self.urgent_timeout_minutes <= 24 * 60:
            raise ConfigError("urgent_timeout_minutes must be between 5 and 1440 minutes")
        for name in ("room_lead_minutes", "end_grace_minutes", "urgent_escalation_minutes"):
            if not 0 <= getattr(self, name) <= 24 * 60:
                raise ConfigError(f"{name} must be between 0 and 1440 minutes")
        if self.recording_retention_days < 30:
            raise ConfigError("recording_retention_days must be at least 30")
        if not 1 <= self.recurrence_horizon_days <= 366:
            raise ConfigError("recurrence_horizon_days must be between 1 and 366")
        if not 1 <= self.join_link_valid_hours <= 24 * 30:
            raise ConfigError("join_link_valid_hours must be between 1 and 720")
        for value in self.reminder_minutes:
            minutes = whole_number(value)
            if minutes is None or not 1 <= minutes <= 60 * 24 * 14:
                raise ConfigError(f"reminder_minutes: {value!r} is not a number of minutes")
        if self.reconnect_grace_seconds < 1:
            raise ConfigError("reconnect_grace_seconds must be at least 1")
        if not 4096 <= self.max_message_bytes <= 16 * 1024 * 1024:
            raise ConfigError("max_message_bytes must be between 4096 and 16777216")
        for network in self.ice_allowed_remote:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError as exc:
                raise ConfigError(f"ice_allowed_remote: {network!r} is not a network") from exc
        for address in self.ice_host_addresses:
            try:
                ipaddress.ip_address(address)
            except ValueError as exc:
                raise ConfigError(f"ice_host_addresses: {address!r} is not an IP address") from exc
        if self.database_url and not self.database_url.startswith(("sqlite", "postgresql")):
            raise ConfigError("database_url must start with sqlite:// or postgresql://")

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'diemcau.sqlite3').resolve()}"

    @property
    def recordings_root(self) -> Path:
        return self.recordings_dir or (self.data_dir / "recordings")

    @property
    def effective_public_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        scheme = "https" if self.tls_cert else "http"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def secure_cookies(self) -> bool:
        return self.effective_public_url.startswith("https://")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def public_summary(self) -> dict[str, str]:
        """What `diemcau check` prints: every setting, secrets as present/absent only."""
        out: dict[str, str] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name.endswith("_key") or f.name == "smtp_password":
                out[f.name] = "present" if value else "missing" if f.name.endswith("_key") else ""
            elif f.name == "election_periods":
                out[f.name] = ", ".join(f"{p.name} {p.start}..{p.end}" for p in value)
            elif f.name == "ice_servers":
                out[f.name] = ", ".join(" ".join(s.urls) for s in value) or "(none)"
            elif isinstance(value, tuple):
                out[f.name] = ", ".join(str(v) for v in value)
            else:
                out[f.name] = "" if value is None else str(value)
        out["effective_database_url"] = _hide_password(self.effective_database_url)
        out["effective_public_url"] = self.effective_public_url
        return out


def _hide_password(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        if ":" in creds:
            return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}"
    return url


_CONFIGURABLE = [
    f
    for f in dataclasses.fields(Settings)
    if f.name not in ("session_key", "identity_key", "signing_key", "audit_key")
]
_HINTS = typing.get_type_hints(Settings)


def _is_list(name: str) -> bool:
    hint = _HINTS[name]
    return typing.get_origin(hint) is tuple


def _env_value(name: str, raw: str, source: str) -> object:
    """A list setting in the environment is written exactly as in the configuration file: a
    TOML array, e.g. ``["1440", "15"]`` or ``[{urls = ["turn:turn.lan:3478"]}]``."""
    if not _is_list(name):
        return raw
    try:
        return tomllib.loads(f"value = {raw}")["value"]
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"{source}: setting {name!r} is a list; write it as in the configuration file, "
            f'as a TOML array such as ["a", "b"] ({exc})'
        ) from exc


def _convert(name: str, raw: object, source: str) -> object:
    """Convert a TOML or environment value to the type the field declares."""
    hint = _HINTS[name]
    optional = False
    if isinstance(hint, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        optional = len(args) < len(typing.get_args(hint))
        hint = args[0]
    if optional and raw in ("", None):
        return None
    try:
        if name == "election_periods":
            return _periods(raw)
        if name == "ice_servers":
            return _ice_servers(raw)
        if hint == tuple[str, ...]:
            if isinstance(raw, list) and all(isinstance(v, str) for v in raw):
                return tuple(raw)
            raise ValueError(f"expected a list of text values, got {raw!r}")
        if hint is bool:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError(f"expected true or false, got {raw!r}")
        if hint is int:
            if isinstance(raw, bool):
                raise ValueError(f"expected a whole number, got {raw!r}")
            return int(str(raw))
        if hint is float:
            if isinstance(raw, bool):
                raise ValueError(f"expected a number, got {raw!r}")
            value = float(str(raw))
            if not math.isfinite(value):
                raise ValueError(f"expected a number, got {raw!r}")
            return value
        if hint is Path:
            return Path(str(raw))
        if hint is str:
            if not isinstance(raw, str):
                raise ValueError(f"expected text, got {raw!r}")
            return raw
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: setting {name!r}: {exc}") from exc
    raise ConfigError(f"{source}: setting {name!r} has an unsupported type")


def _periods(raw: object) -> tuple[ElectionPeriod, ...]:
    if not isinstance(raw, list):
        raise ValueError("expected a list of {name, start, end} tables")
    periods = []
    for item in raw:
        if not isinstance(item, Mapping):
            raise ValueError("each election period needs name, start and end")
        start: object = item.get("start")
        end: object = item.get("end")
        periods.append(
            ElectionPeriod(
                name=str(item.get("name", "")),
                start=start if isinstance(start, date) else date.fromisoformat(str(start)),
                end=end if isinstance(end, date) else date.fromisoformat(str(end)),
            )
        )
    return tuple(periods)


def _ice_servers(raw: object) -> tuple[IceServer, ...]:
    if not isinstance(raw, list):
        raise ValueError("expected a list of {urls, username, credential} tables")
    servers = []
    for item in raw:
        if not isinstance(item, Mapping):
            raise ValueError("each ICE server needs urls")
        urls = item.get("urls")
        if isinstance(urls, str):
            urls = [urls]
        if not isinstance(urls, list):
            raise ValueError("urls must be text or a list of text")
        servers.append(
            IceServer(
                urls=tuple(str(u) for u in urls),
                username=str(item.get("username", "")),
                credential=str(item.get("credential", "")),
            )
        )
    return tuple(servers)


def read_config_file(path: Path) -> dict[str, object]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"configuration file {path}: not found") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"configuration file {path}: cannot be read ({exc})") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"configuration file {path}: not valid TOML ({exc})") from exc
    known = {f.name for f in _CONFIGURABLE}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(
            f"configuration file {path}: unknown setting(s) {', '.join(unknown)}; "
            f"known settings are listed in docs/operations.md"
        )
    return {
        name: _convert(name, value, f"configuration file {path}") for name, value in data.items()
    }


def load_settings(
    config_path: Path | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    create_secrets: bool = True,
    overrides: Mapping[str, object] | None = None,
) -> Settings:
    """Build the settings from defaults, the TOML file, the environment and explicit overrides."""
    env = os.environ if environ is None else environ
    values: dict[str, object] = {}
    if config_path is None and env.get(f"{ENV_PREFIX}CONFIG"):
        config_path = Path(env[f"{ENV_PREFIX}CONFIG"])
    if config_path is not None:
        values.update(read_config_file(config_path))
    for f in _CONFIGURABLE:
        key = ENV_PREFIX + f.name.upper()
        if key in env:
            source = f"environment variable {key}"
            values[f.name] = _convert(f.name, _env_value(f.name, env[key], source), source)
    values.update(overrides or {})
    base = Settings(**values)  # type: ignore[arg-type]
    keys = load_secrets(base.data_dir, create=create_secrets)
    return dataclasses.replace(
        base,
        session_key=keys["session_key"],
        identity_key=keys["identity_key"],
        signing_key=keys["signing_key"],
        audit_key=keys["audit_key"],
    )


def load_secrets(data_dir: Path, *, create: bool) -> dict[str, bytes]:
    """Read the secret keys, generating any that are missing (mode 0600, directory 0700)."""
    secrets_dir = data_dir / "secrets"
    out: dict[str, bytes] = {}
    if create:
        try:
            secrets_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise ConfigError(f"data directory {data_dir}: cannot create secrets ({exc})") from exc
    for filename in SECRET_FILES:
        path = secrets_dir / filename
        field_name = filename.replace(".key", "_key")
        if not path.exists():
            if not create:
                out[field_name] = b""
                continue
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # another process won the race; read theirs
                pass
            else:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(secrets.token_bytes(32).hex().encode())
        try:
            text = path.read_bytes().strip()
            out[field_name] = bytes.fromhex(text.decode())
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            raise ConfigError(f"secret file {path}: unreadable or corrupt ({exc})") from exc
        if len(out[field_name]) < 32:
            raise ConfigError(f"secret file {path}: too short, expected 32 bytes")
    return out
