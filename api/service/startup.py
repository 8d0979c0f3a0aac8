"""What `pogoscope serve` checks before it binds its port, so that every start-up failure is one
line and a non-zero exit instead of a traceback from inside the server:

settings (`Settings.service_problems`: webhook secret, URLs, admin key), the port, the database
(reachable, migrated), the image store, the broker; and the bootstrap admin key: without
``POGOSCOPE_ADMIN_KEY`` and with no admin key in the database one is created and printed once.
"""

from __future__ import annotations

import socket
import sys

from sqlalchemy import select, text

from api.settings import Settings
from models.errors import InputError


def _short(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    lines = [ln.strip() for ln in str(orig).splitlines() if ln.strip()]
    return (lines[0] if lines else type(orig).__name__)[:300]


def safe_url(url: str) -> str:
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(unparsable URL)"


def check_port(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise InputError(f"cannot listen on {host}:{port}: {exc.strerror or exc} (another service there? use --port)") from None


def check_database(settings: Settings):
    """Open, reach and migrate the database; returns the engine. InputError (one line) otherwise."""
    from api.service.db import make_engine
    from api.service.migrate import upgrade

    url = settings.sqlalchemy_url
    try:
        engine = make_engine(settings)
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"POGOSCOPE_DATABASE_URL {safe_url(url)!r} is not usable: {_short(exc)}") from None
    try:
        with engine.connect() as c:
            c.execute(text("SELECT 1"))
    except Exception as exc:
        engine.dispose()
        raise InputError(f"cannot reach the database {safe_url(url)}: {_short(exc)}") from None
    try:
        upgrade(engine)
    except Exception as exc:
        engine.dispose()
        raise InputError(f"cannot migrate the database {safe_url(url)}: {_short(exc)}") from None
    return engine


def bootstrap_admin(settings: Settings, engine, *, out=sys.stderr) -> str | None:
    """Without POGOSCOPE_ADMIN_KEY and without any usable admin key in the database, create one and
    print it once (it is stored hashed only). Returns the new key, or None."""
    from api.service.app import ensure_key
    from api.service.deps import new_key
    from api.service.db import ApiKey, session_factory

    if settings.admin_key:
        return None
    Session = session_factory(engine)
    with Session() as s:
        if s.scalar(select(ApiKey.id).where(ApiKey.role == "admin", ApiKey.revoked_at.is_(None)).limit(1)) is not None:
            return None
    key = new_key()
    ensure_key(Session, key, name="bootstrap-admin", role="admin")
    print(f"pogoscope serve: no POGOSCOPE_ADMIN_KEY and no admin key in the database: created admin key {key} "
          "(shown once, stored hashed: keep it; create the other keys with POST /v1/keys)", file=out, flush=True)
    return key


def preflight(settings: Settings) -> None:
    """Everything that would stop the service, checked in order; the first problem is an InputError."""
    problems = settings.service_problems()
    if problems:
        raise InputError(problems[0])
    check_port(settings.host, settings.port)
    engine = check_database(settings)
    try:
        from api.service.store import service_store

        service_store(settings)
        bootstrap_admin(settings, engine)
    finally:
        engine.dispose()
    if settings.broker_url:
        from api.jobs import get_queue

        get_queue(settings).close()  # BrokerQueue: InputError naming the broker when it cannot be reached
