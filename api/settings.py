"""Service settings: one `Settings`, read from the environment (prefix ``POGOSCOPE_``).

Examples::

    POGOSCOPE_DATABASE_URL=postgresql+psycopg://root@127.0.0.1:5432/test
    POGOSCOPE_DATA_DIR=/var/lib/pogoscope          # SQLite file and image store live here by default
    POGOSCOPE_WORKERS=2                            # inspection worker processes
    POGOSCOPE_WEBHOOK_URLS='["https://mes.example/hooks/pogoscope"]'
    POGOSCOPE_WEBHOOK_SECRET=...                   # HMAC-SHA256 key for the signature header
    POGOSCOPE_MQTT_URL=mqtt://127.0.0.1:1883
    POGOSCOPE_ADMIN_KEY=...                        # bootstrap admin API key; create the others with POST /v1/keys
    POGOSCOPE_BROKER_URL=...                       # distributed job queue (api.jobs.broker); unset: in-process pool
    POGOSCOPE_STORE_URL=s3://bucket/prefix?endpoint_url=http://minio:9000   # image store (api.jobs.store); or a directory
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="POGOSCOPE_", extra="ignore")

    data_dir: Path = Field(default=Path("var"), description="SQLite database and image store live here unless overridden")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default: SQLite file <data_dir>/pogoscope.sqlite (WAL)")
    db_schema: str | None = Field(default=None, description="PostgreSQL schema to use (created if absent); tests isolate with it")
    store_dir: Path | None = Field(default=None, description="content-addressed image store directory; default <data_dir>/images")
    store_url: str | None = Field(
        default=None, description="image store by URL (api.jobs.store.open_store): a shared directory, file:///path or "
                                  "s3://bucket/prefix?endpoint_url=...&region=...; overrides store_dir; must exist already")

    workers: int = Field(default=2, ge=0, description="inspection worker processes (0: inspect in a thread of the service; tests only)")
    worker_mode: Literal["process", "thread"] = "process"
    keep_overlays: Literal["all", "not_pass", "none"] = Field(
        default="all", description="which inspections store overlay PNGs; encoding one costs about a third of a top-view board's CPU")
    max_attempts: int = Field(default=3, ge=1, description="starts of one inspection before it is failed (its worker kept dying)")
    outage_retries: int = Field(default=30, ge=0, description="in-process queue: retries of an inspection whose stored image "
                                                             "the worker could not find (share not mounted) before it is failed")
    outage_retry_base_s: float = Field(default=2.0, gt=0, description="first such retry delay; doubles per retry up to outage_retry_max_s")
    outage_retry_max_s: float = Field(default=60.0, gt=0)
    worker_nice: int = Field(default=10, ge=0, le=19, description="niceness of worker processes, so API requests win the CPU")
    inspect_func: str = Field(default="api.pipeline:inspect_board", description="module:function that inspects a BoardInput")
    max_in_flight: int = Field(default=0, ge=0, description="inspections handed to the pool at once (0: 2 x workers)")
    broker_url: str | None = Field(default=None, description="distributed job queue (see api.jobs.broker); unset: in-process pool")
    queue_max_depth: int = Field(default=10000, ge=1, description="inspections waiting before submissions get 503 + Retry-After")

    max_upload_bytes: int = Field(default=64 * 1024 * 1024, gt=0, description="largest accepted image file")
    max_request_bytes: int = Field(default=512 * 1024 * 1024, gt=0, description="largest accepted request body")
    max_image_pixels: int = Field(default=50_000_000, gt=0, description="largest image (width x height, read from its header "
                                                                        "before the 202); larger ones are refused as possible decompression bombs")
    min_image_side_px: int = Field(default=32, ge=1, description="smallest inspectable image side")

    webhook_urls: list[str] = Field(default_factory=list)
    webhook_secret: str = "change-me"
    webhook_timeout_s: float = 5.0
    retry_base_s: float = Field(default=1.0, gt=0, description="first retry delay of the outbox; doubles per attempt")
    retry_max_s: float = Field(default=300.0, gt=0)
    retry_max_attempts: int = Field(default=25, ge=1, description="transient failures (5xx, timeouts, sink down) of one event before it is parked dead")
    delivery_refused_attempts: int = Field(default=3, ge=1, description="tries of an event a sink refuses (HTTP 4xx, an MQTT topic "
                                                                        "it rejects) before it is parked dead; the next events never wait for it")
    delivery_stuck_after_s: float = Field(default=300.0, gt=0, description="/readyz reports 'degraded' when a sink's oldest pending "
                                                                           "event is older than this")
    outbox_poll_s: float = Field(default=0.5, gt=0)

    mqtt_url: str | None = Field(default=None, description="e.g. mqtt://127.0.0.1:1883; unset: no MQTT publication")
    mqtt_topic_prefix: str = "pogoscope/stations"

    cors_origins: list[str] = Field(default_factory=list)
    admin_key: str | None = Field(default=None, description="bootstrap admin API key (stored hashed at start); create others with POST /v1/keys")
    host: str = "127.0.0.1"
    port: int = 8000

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'pogoscope.sqlite').resolve()}"

    @property
    def images_dir(self) -> Path:
        return self.store_dir or (self.data_dir / "images")

    @property
    def image_store_url(self) -> str:
        """What the service and every worker open (`api.jobs.store.open_store`)."""
        return self.store_url or str(self.images_dir)


@lru_cache
def get_settings() -> Settings:
    return Settings()


def load_settings(**overrides) -> Settings:
    """`Settings` from the environment with `overrides` (None values ignored); a bad value is one
    InputError line naming the environment variable, never a pydantic dump."""
    from pydantic import ValidationError

    from calibration.errors import InputError

    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        err = exc.errors()[0]
        name = str(err["loc"][0]) if err.get("loc") else "?"
        raise InputError(f"bad setting POGOSCOPE_{name.upper()}: {err['msg']}") from None
