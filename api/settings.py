"""The one `Settings` of the service, its workers and `pogoscope worker`, read from the environment
(prefix ``POGOSCOPE_``); the README has the table of every setting (name, default, example).

Lists take a comma-separated value or a JSON list::

    POGOSCOPE_WEBHOOK_URLS=http://mes-a/hook,http://mes-b/hook
    POGOSCOPE_WEBHOOK_URLS='["http://mes-a/hook"]'

`Settings.service_problems` names what makes a service start unsafe (a webhook without a strong
secret, a weak admin key, a URL that cannot work); `pogoscope serve` refuses to start on the first
one, in one line.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from typing import Annotated
from urllib.parse import urlparse

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

#: what a webhook secret must not be: the old default and obvious placeholders
UNSAFE_SECRETS = frozenset({"change-me", "changeme", "secret", "password", "test", "example"})
MIN_SECRET_CHARS = 16


def _split_list(v):
    """A list setting from the environment: JSON (``["a", "b"]``) or comma-separated (``a,b``)."""
    if isinstance(v, str):
        text = v.strip()
        if text.startswith("["):
            import json

            try:
                v = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"not a JSON list ({exc.msg}); or give the values separated by commas") from None
        else:
            return [x.strip() for x in text.split(",") if x.strip()]
    return v


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
    inspect_func: str = Field(default="vision.inspect:inspect_board", description="module:function that inspects a BoardInput")
    max_in_flight: int = Field(default=0, ge=0, description="inspections handed to the pool at once (0: 2 x workers)")
    broker_url: str | None = Field(default=None, description="distributed job queue, amqp://user:pass@host:5672/ (RabbitMQ; "
                                                            "see api.jobs.broker); unset: in-process pool")
    queue_max_depth: int = Field(default=10000, ge=1, description="inspections waiting before submissions get 503 + Retry-After")
    queue_name: str = Field(default="pogoscope.inspections", description="RabbitMQ queue of inspection jobs")
    job_func: str = Field(default="api.service.worker:run_inspection", description="broker job: module:function(inspection_id)")
    fail_func: str = Field(default="api.service.worker:record_failure",
                           description="broker job: module:function(inspection_id, reason) recording a job that cannot succeed")
    job_max_retries: int = Field(default=2, ge=0, description="broker: retries of a job that raised, before it is recorded failed")
    job_max_infra_retries: int = Field(default=30, ge=0,
                                       description="broker: retries of a job that could not reach the database or image store "
                                                   "(about 25 min with the default back-off): an outage is not the job's fault")
    job_min_backoff_ms: int = Field(default=2000, ge=0, description="broker: first retry delay; doubles per retry")
    job_max_backoff_ms: int = Field(default=60000, ge=0)
    job_time_limit_ms: int = Field(default=600000, gt=0, description="broker: a job running longer is interrupted and retried")

    max_upload_bytes: int = Field(default=64 * 1024 * 1024, gt=0, description="largest accepted image file")
    max_request_bytes: int = Field(default=512 * 1024 * 1024, gt=0, description="largest accepted request body")
    max_image_pixels: int = Field(default=50_000_000, gt=0, description="largest image (width x height, read from its header "
                                                                        "before the 202); larger ones are refused as possible decompression bombs")
    min_image_side_px: int = Field(default=32, ge=1, description="smallest inspectable image side")

    webhook_urls: Annotated[list[str], NoDecode] = Field(default_factory=list, description="webhook receivers, comma-separated")
    webhook_secret: str | None = Field(default=None, description=f"HMAC-SHA256 key of the webhook signature; required with webhooks, "
                                                                 f"at least {MIN_SECRET_CHARS} characters")
    webhook_timeout_s: float = Field(default=5.0, gt=0)
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

    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list, description="origins allowed by CORS, comma-separated")
    admin_key: str | None = Field(default=None, description="bootstrap admin API key (stored hashed at start); create others with POST /v1/keys")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)

    @field_validator("webhook_urls", "cors_origins", mode="before")
    @classmethod
    def _lists(cls, v):
        return _split_list(v)

    def service_problems(self) -> list[str]:
        """Why a service with these settings must not start (empty: fine). One sentence each."""
        out = []
        for url in self.webhook_urls:
            u = urlparse(url)
            if u.scheme not in ("http", "https") or not u.hostname:
                out.append(f"POGOSCOPE_WEBHOOK_URLS: {url!r} is not an http(s) URL")
        if self.webhook_urls:
            sec = self.webhook_secret
            if not sec:
                out.append("POGOSCOPE_WEBHOOK_SECRET is not set: webhooks are signed with it; set a random value of at least "
                           f"{MIN_SECRET_CHARS} characters and give it to the receivers (e.g. `openssl rand -hex 32`)")
            elif sec.strip().lower() in UNSAFE_SECRETS or len(sec) < MIN_SECRET_CHARS:
                out.append(f"POGOSCOPE_WEBHOOK_SECRET is unsafe (a placeholder or shorter than {MIN_SECRET_CHARS} characters); "
                           "set a random value, e.g. `openssl rand -hex 32`")
        if self.admin_key is not None and len(self.admin_key) < MIN_SECRET_CHARS:
            out.append(f"POGOSCOPE_ADMIN_KEY is shorter than {MIN_SECRET_CHARS} characters; use a random value")
        if self.mqtt_url:
            u = urlparse(self.mqtt_url)
            if u.scheme not in ("mqtt", "tcp") or not u.hostname:
                out.append(f"POGOSCOPE_MQTT_URL {self.mqtt_url!r}: use mqtt://HOST:PORT")
        if any(c in self.mqtt_topic_prefix for c in "#+\x00") or not self.mqtt_topic_prefix.strip("/"):
            out.append(f"POGOSCOPE_MQTT_TOPIC_PREFIX {self.mqtt_topic_prefix!r}: a topic prefix has no wildcards (# +) and is not empty")
        if self.broker_url and urlparse(self.broker_url).scheme not in ("amqp", "amqps"):
            out.append("POGOSCOPE_BROKER_URL: use amqp://user:pass@host:5672/ (RabbitMQ)")
        return out

    spc_alarm_interval_s: float = Field(default=10.0, ge=0, description="how often the SPC run rules are checked on new points (0: no drift alarms)")
    spc_baseline_points: int = Field(default=25, ge=2, description="first points of each pin position's chart that set its control limits")

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

    from models.errors import InputError

    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        err = exc.errors()[0]
        name = str(err["loc"][0]) if err.get("loc") else "?"
        msg = str(err["msg"]).removeprefix("Value error, ")
        raise InputError(f"bad setting POGOSCOPE_{name.upper()}: {msg}") from None
