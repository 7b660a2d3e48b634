"""The ``diemcau`` command: serve, db upgrade, user add, demo, check."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from aiohttp import web
from sqlalchemy import select

from recordings import bundle
from recordings.store import RecordingStore, UnsafePath
from sessions import audit, bootstrap, db, demo, devices, search, sites, users
from sessions.clock import SystemClock
from sessions.enums import RecordingStatus, Role
from sessions.errors import N_, Conflict, InvalidInput
from sessions.identity import IdentityVault
from sessions.models import Recording
from sessions.settings import ConfigError, Settings, load_settings
from web import i18n, kiosk_setup, tls
from web.app import create_app


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, object] = {}
    if getattr(args, "host", None):
        overrides["host"] = args.host
    if getattr(args, "port", None):
        overrides["port"] = args.port
    return load_settings(args.config, overrides=overrides)


def upgrade_database(settings: Settings) -> str:
    engine = db.create_sync(settings.effective_database_url)
    try:
        db.upgrade(engine)
        revision = db.current_revision(engine) or "none"
    finally:
        engine.dispose()
    asyncio.run(_adopt_audit_key(settings))
    return revision


AUDIT_ADOPTED = "audit.adopted"


async def _adopt_audit_key(settings: Settings) -> None:
    """Once per installation: key the audit chain written before the audit key existed. The
    marker lives with the keys, outside the database, so nobody can ask for a second adoption
    by editing the database."""
    marker = settings.data_dir / "secrets" / AUDIT_ADOPTED
    if marker.exists():
        return
    engine = db.create_async(settings.effective_database_url)
    try:
        async with db.session_factory(engine, settings.audit_key)() as session, session.begin():
            report = await audit.adopt_key(session)
    finally:
        await engine.dispose()
    if not report.ok:
        print(
            f"warning: the audit trail does not verify (event {report.broken_at}: "
            f"{report.problem}); it was not re-keyed. Run `diemcau verify`.",
            file=sys.stderr,
        )
        return
    fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)


async def _first_start(settings: Settings) -> bootstrap.FirstStart:
    engine = db.create_async(settings.effective_database_url)
    try:
        async with db.session_factory(engine, settings.audit_key)() as session, session.begin():
            started = await bootstrap.first_start(session, SystemClock().now())
            await search.reindex_if_empty(session, SystemClock().now())
            return started
    finally:
        await engine.dispose()


async def _demo(settings: Settings) -> demo.DemoResult:
    engine = db.create_async(settings.effective_database_url)
    try:
        async with db.session_factory(engine, settings.audit_key)() as session, session.begin():
            return await demo.load_demo(
                session,
                now=SystemClock().now(),
                zone=settings.zone,
                vault=IdentityVault(settings.identity_key),
                crowd_threshold=settings.crowd_threshold,
            )
    finally:
        await engine.dispose()


def _print_demo(result: demo.DemoResult, settings: Settings, say: Say) -> None:
    """Say how to sign in as the demo users. Their shared password is kept in a 0600 file under
    the data directory so a demonstration can be resumed; production never loads demo data."""
    password_file = settings.data_dir / "demo-password.txt"
    if result.created and result.password:
        fd = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(result.password + "\n")
        say(N_("Demo data loaded: sample cases, meetings and one user per role."))
    else:
        say(N_("Demo data is already loaded."))
    say(N_("  Demo users: %(users)s"), users=", ".join(result.usernames))
    if password_file.exists():
        say(
            N_("  Demo password (all of them): %(password)s"),
            password=password_file.read_text(encoding="utf-8").strip(),
        )


Say = Callable[..., None]


def speaker(settings: Settings) -> Say:
    """Prints start-up lines in the configured language (Vietnamese by default)."""
    translations = i18n.load_translations()[settings.default_locale]

    def say(message: str, **params: object) -> None:
        print(i18n.render_message(translations, message, params))

    return say


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _settings(args)
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # APScheduler logs every timer it adds and runs at INFO: dozens of lines that bury the
    # address and passwords printed at start-up. What the timers change is in the audit trail;
    # APScheduler's warnings and errors still show.
    logging.getLogger("apscheduler").setLevel(max(logging.WARNING, logging.getLogger().level))
    revision = upgrade_database(settings)
    started = asyncio.run(_first_start(settings))
    say = speaker(settings)
    say(
        N_("Điểm cầu: database at revision %(revision)s; %(count)s endpoints added."),
        revision=revision,
        count=started.sites_added,
    )
    if started.admin_password:
        say(N_("A first administrator was created. Its one-time password is shown only now:"))
        say(N_("  username: %(name)s"), name=started.admin_username)
        say(N_("  password: %(password)s"), password=started.admin_password)
        say(N_("  (you will be asked to choose a new password at the first sign-in)"))
    if args.demo:
        _print_demo(asyncio.run(_demo(settings)), settings, say)
    say(N_("Open %(url)s/ in a browser and sign in."), url=settings.effective_public_url)
    ssl_context = None
    if settings.tls_cert and settings.tls_key:
        import ssl

        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_context.load_cert_chain(settings.tls_cert, settings.tls_key)
    loop = None
    if settings.event_loop == "uvloop":
        import uvloop

        loop = uvloop.new_event_loop()
    web.run_app(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        ssl_context=ssl_context,
        print=None,
        access_log=None,
        loop=loop,
    )
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    settings = _settings(args)
    revision = upgrade_database(settings)
    print(
        f"Database {settings.public_summary()['effective_database_url']} is at revision {revision}."
    )
    return 0


async def _user_add(settings: Settings, args: argparse.Namespace, password: str) -> str:
    engine = db.create_async(settings.effective_database_url)
    try:
        async with db.session_factory(engine, settings.audit_key)() as session, session.begin():
            user = await users.create_user(
                session,
                username=args.username,
                full_name=args.full_name,
                position=args.position,
                password=password,
                roles=[Role(r) for r in args.role],
                at=SystemClock().now(),
                must_change_password=args.generate_password,
            )
            user.email = args.email
            if args.site:
                site = await sites.by_code(session, args.site)
                if site is None:
                    raise InvalidInput({"site": f"no endpoint with code {args.site}"})
                user.site_id = site.id
            return user.username
    finally:
        await engine.dispose()


def cmd_user_add(args: argparse.Namespace) -> int:
    settings = _settings(args)
    upgrade_database(settings)
    if args.generate_password:
        password = users.generate_password()
    else:
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Repeat password: "):
            print("error: the two passwords are not the same", file=sys.stderr)
            return 2
    try:
        username = asyncio.run(_user_add(settings, args, password))
    except InvalidInput as exc:
        for field, message in exc.field_errors.items():
            print(f"error: {field}: {message}", file=sys.stderr)
        return 2
    except Conflict as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"User {username} created with role(s) {', '.join(args.role)}.")
    if args.generate_password:
        print(f"One-time password (shown only now): {password}")
    return 0


async def _kiosk(settings: Settings, code: str) -> str | None:
    engine = db.create_async(settings.effective_database_url)
    try:
        async with db.session_factory(engine, settings.audit_key)() as session, session.begin():
            site = await sites.by_code(session, code)
            if site is None:
                return None
            return await devices.issue(session, site, SystemClock().now(), actor_id=None)
    finally:
        await engine.dispose()


def cmd_site_kiosk(args: argparse.Namespace) -> int:
    settings = _settings(args)
    upgrade_database(settings)
    token = asyncio.run(_kiosk(settings, args.code))
    if token is None:
        print(f"error: no endpoint with code {args.code} (see /sites)", file=sys.stderr)
        return 2
    url = f"{settings.effective_public_url}/kiosk/{token}"
    if args.setup is not None:
        ca = _local_ca(settings)
        written = kiosk_setup.write(args.setup, url, ca)
        print(f"Kiosk files for endpoint {args.code} in {written.folder} (the previous link stops")
        print("working). Copy the folder to the endpoint's PC and run install.sh there")
        print("(docs/kiosk-setup.md):")
        for path in written.files:
            print(f"  {path.name}")
        if settings.tls_cert is not None and ca is None:
            print("warning: the server is on TLS but no ca.pem was found beside its certificate;")
            print("install the CA on the PC by hand.")
        return 0
    print(f"Kiosk link for endpoint {args.code} (shown once; the previous link stops working):")
    print(f"  {url}")
    return 0


def _local_ca(settings: Settings) -> Path | None:
    """The local CA that signed the server's certificate (``diemcau gen-cert`` puts it beside
    the certificate), when the server is on TLS."""
    if settings.tls_cert is None:
        return None
    found = settings.tls_cert.with_name("ca.pem")
    return found if found.is_file() else None


async def _verify(settings: Settings) -> list[str]:
    store = RecordingStore(settings.recordings_root, settings.signing_key)
    problems: list[str] = []
    engine = db.create_async(settings.effective_database_url)
    try:
        async with db.session_factory(engine, settings.audit_key)() as session:
            rows = list(await session.scalars(select(Recording).order_by(Recording.id)))
            chain = await audit.verify_chain(session)
    finally:
        await engine.dispose()
    checked = 0
    for row in rows:
        if row.status in (
            RecordingStatus.DELETED,
            RecordingStatus.RECORDING,
            RecordingStatus.PROCESSING,
            RecordingStatus.FAILED,
        ):
            continue
        checked += 1
        try:
            digest, _ = await asyncio.to_thread(store.hash, row.relative_path)
        except (FileNotFoundError, UnsafePath):
            problems.append(f"recording #{row.id} {row.relative_path}: missing")
            continue
        if digest != row.sha256:
            problems.append(f"recording #{row.id} {row.relative_path}: altered (hash differs)")
    manifests = 0
    covered: set[tuple[str, str]] = set()
    if store.root.exists():
        for relative in store.manifests():
            manifests += 1
            check = store.check_manifest(relative)
            problems.extend(check.problems)
            covered |= check.covers
    # Every finished file must be vouched for by a signed manifest (one is written as soon as a
    # file closes): a file no manifest covers, or whose manifest is gone, could be anything.
    for row in rows:
        finished = row.status in (RecordingStatus.COMPLETE, RecordingStatus.INTERRUPTED)
        if finished and (row.relative_path, row.sha256 or "") not in covered:
            problems.append(
                f"recording #{row.id} {row.relative_path}: no signed manifest covers it "
                "(a manifest is missing or was changed)"
            )
    if not chain.ok:
        problems.append(f"audit trail: event {chain.broken_at}: {chain.problem}")
    print(f"Checked {checked} recording files, {manifests} manifests, {chain.events} audit events.")
    return problems


def cmd_verify_bundle(args: argparse.Namespace) -> int:
    """Offline: needs neither the server's settings nor its database."""
    expected = args.key.read_bytes() if args.key else None
    problems = bundle.verify(args.file, expected)
    for problem in problems:
        print(f"PROBLEM: {problem}")
    if problems:
        print(f"{args.file}: {len(problems)} problem(s) found.")
        return 1
    print(f"{args.file}: every file matches its SHA-256 and the list's signature verifies.")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    settings = _settings(args)
    problems = asyncio.run(_verify(settings))
    for problem in problems:
        print(f"PROBLEM: {problem}")
    print("Everything verifies." if not problems else f"{len(problems)} problem(s) found.")
    return 1 if problems else 0


def cmd_demo(args: argparse.Namespace) -> int:
    settings = _settings(args)
    upgrade_database(settings)
    asyncio.run(_first_start(settings))
    _print_demo(asyncio.run(_demo(settings)), settings, speaker(settings))
    return 0


def cmd_gen_cert(args: argparse.Namespace) -> int:
    settings = _settings(args)
    folder = args.out or settings.data_dir / "tls"
    try:
        issued = tls.issue(folder, tuple(args.name))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(tls.install_guide(issued))
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    settings = _settings(args)
    print("Configuration is valid. Settings in effect:")
    for key, value in settings.public_summary().items():
        print(f"  {key} = {value}")
    engine = db.create_sync(settings.effective_database_url)
    try:
        revision = db.current_revision(engine)
    except Exception as exc:  # report any database problem as a finding, not a crash
        print(f"Database: cannot connect ({exc})")
        return 1
    finally:
        engine.dispose()
    head = db.head_revision()
    state = "up to date" if revision == head else f"needs `diemcau db upgrade` (head is {head})"
    print(f"Database: revision {revision or 'none'}, {state}.")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="diemcau", description="Điểm cầu reception server")
    parser.add_argument("--config", type=Path, help="TOML settings file (or DIEMCAU_CONFIG)")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="upgrade the database and run the server")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--demo", action="store_true", help="load demo data on the first run")
    serve.set_defaults(func=cmd_serve)

    cert = sub.add_parser(
        "gen-cert", help="make a local CA (once) and a server certificate for HTTPS"
    )
    cert.add_argument(
        "--name",
        action="append",
        required=True,
        help="a host name or IP address kiosks use to reach the server (repeat for more)",
    )
    cert.add_argument("--out", type=Path, help="folder for the files (default: <data_dir>/tls)")
    cert.set_defaults(func=cmd_gen_cert)

    database = sub.add_parser("db", help="database tasks")
    db_sub = database.add_subparsers(dest="db_command", required=True)
    up = db_sub.add_parser("upgrade", help="apply migrations up to the newest")
    up.set_defaults(func=cmd_db_upgrade)

    user = sub.add_parser("user", help="accounts")
    user_sub = user.add_subparsers(dest="user_command", required=True)
    add = user_sub.add_parser("add", help="create an account")
    add.add_argument("username")
    add.add_argument("--full-name", required=True)
    add.add_argument("--position")
    add.add_argument("--email", help="for reminders by e-mail (when SMTP is configured)")
    add.add_argument("--site", help="endpoint code, for site operators and the central liaison")
    add.add_argument(
        "--role",
        action="append",
        required=True,
        choices=[r.value for r in Role],
        help="repeat for several roles",
    )
    add.add_argument(
        "--generate-password",
        action="store_true",
        help="print a one-time password instead of asking for one",
    )
    add.set_defaults(func=cmd_user_add)

    site = sub.add_parser("site", help="endpoints")
    site_sub = site.add_subparsers(dest="site_command", required=True)
    kiosk = site_sub.add_parser("kiosk", help="issue a new kiosk link for an endpoint")
    kiosk.add_argument("code", help="endpoint code, e.g. 05977 or TCD-LS")
    kiosk.add_argument(
        "--setup",
        type=Path,
        metavar="DIR",
        help="also write what the endpoint's PC needs to boot into its kiosk (Chromium policy, "
        "autostart entry, local CA, install.sh) into DIR",
    )
    kiosk.set_defaults(func=cmd_site_kiosk)

    demo_cmd = sub.add_parser("demo", help="add sample cases, meetings and users")
    demo_cmd.set_defaults(func=cmd_demo)

    verify = sub.add_parser(
        "verify", help="re-hash every recording, check manifests' signatures and the audit trail"
    )
    verify.set_defaults(func=cmd_verify)

    bundle_cmd = sub.add_parser(
        "verify-bundle",
        help="check a case file (hồ sơ vụ việc) offline: every file and the signature",
    )
    bundle_cmd.add_argument("file", type=Path)
    bundle_cmd.add_argument(
        "--key",
        type=Path,
        help="the office's published public key (PEM) the file must be signed with",
    )
    bundle_cmd.set_defaults(func=cmd_verify_bundle)

    check = sub.add_parser("check", help="validate the configuration and print it")
    check.set_defaults(func=cmd_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result: int = args.func(args)
    except ConfigError as exc:
        print(f"diemcau: configuration error: {exc}", file=sys.stderr)
        return 2
    return result


if __name__ == "__main__":
    sys.exit(main())
