"""Station configuration (YAML), validated with pydantic; bad config gets one line naming the field.

Relative paths are taken relative to the config file's folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

from calibration.errors import InputError, read_yaml, validated


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GenICamCamera(_Strict):
    kind: Literal["genicam"]
    cti: Path = Field(description="GenTL producer (.cti); 'virtual' = the one in the genicam wheel")
    serial: str | None = None
    user_id: str | None = None
    index: int | None = Field(default=None, ge=0)
    width: int | None = Field(default=None, gt=0)
    height: int | None = Field(default=None, gt=0)
    pixel_format: str | None = None
    frame_rate_hz: float | None = Field(default=None, gt=0)
    exposure_us: float | None = Field(default=None, gt=0)
    gain_db: float | None = None
    fetch_timeout_s: float = Field(default=2.0, gt=0)
    watchdog_margin_s: float = Field(default=1.0, gt=0)


class ReplayCamera(_Strict):
    kind: Literal["replay"]
    root: Path
    rate_hz: float | None = Field(default=None, gt=0)
    loop: bool = False
    cache: bool = False


class FilesCamera(_Strict):
    kind: Literal["files"]
    paths: str
    loop: bool = False


Camera = Annotated[Union[GenICamCamera, ReplayCamera, FilesCamera], Field(discriminator="kind")]


class ViewConfig(_Strict):
    camera: str
    calibration: Path | None = Field(default=None, description="calibration record JSON; a replay board's calibration_<view>.json otherwise")


class ApiTrigger(_Strict):
    kind: Literal["api"]


class MqttTrigger(_Strict):
    kind: Literal["mqtt"]
    host: str = "127.0.0.1"
    port: int = 1883
    topic: str


class FolderTrigger(_Strict):
    kind: Literal["folder"]
    path: Path
    poll_s: float = Field(default=0.05, gt=0)


class TimerTrigger(_Strict):
    kind: Literal["timer"]
    period_s: float = Field(gt=0)
    count: int | None = Field(default=None, ge=1)


Trigger = Annotated[Union[ApiTrigger, MqttTrigger, FolderTrigger, TimerTrigger], Field(discriminator="kind")]


class ServiceSink(_Strict):
    kind: Literal["service"]
    url: str = Field(pattern=r"^https?://")
    api_key: str | None = None
    api_key_env: str | None = Field(default=None, description="read the key from this environment variable")
    timeout_s: float = Field(default=5.0, gt=0)
    retry_base_s: float = Field(default=0.5, gt=0)
    retry_max_s: float = Field(default=60.0, gt=0)
    held_retry_s: float = Field(default=30.0, gt=0, description="boards the service refused for a fixable cause (401/403/422) are re-sent this often")


class LocalSink(_Strict):
    kind: Literal["local"]


Sink = Annotated[Union[ServiceSink, LocalSink], Field(discriminator="kind")]


class Publish(_Strict):
    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = 1883
    mqtt_topic: str | None = Field(default=None, description="publish each board's summary here")


class Health(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=8089, ge=0, le=65535, description="0 = any free port")


class Retention(_Strict):
    delivered_h: float | None = Field(default=168.0, gt=0, description="delete rows the service accepted this many hours after the board was seen; null keeps them")
    local_h: float | None = Field(default=None, gt=0, description="delete 'local' sink rows after this many hours; null (default) keeps them")
    prune_every_s: float = Field(default=60.0, gt=0, description="how often the running station prunes")


class StationConfig(_Strict):
    station_id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    cameras: dict[str, Camera]
    views: dict[Literal["top", "side_front", "side_back"], ViewConfig]
    recipe: Path | None = Field(default=None, description="recipe YAML; a replay board's recipe.yaml otherwise")
    trigger: Trigger
    sink: Sink = LocalSink(kind="local")
    database: Path = Field(default=Path("station.sqlite"), description="local results + outbox (SQLite)")
    retention: Retention = Retention()
    publish: Publish = Publish()
    health: Health = Health()
    record_dir: Path | None = Field(default=None, description="also save every captured board here (replay layout)")
    grab_timeout_s: float = Field(default=3.0, gt=0)
    reconnect_every_s: float = Field(default=1.0, gt=0)

    @model_validator(mode="after")
    def _refs(self) -> "StationConfig":
        for v, vc in self.views.items():
            if vc.camera not in self.cameras:
                raise ValueError(f"view {v!r} uses camera {vc.camera!r} which is not under 'cameras' ({', '.join(self.cameras)})")
        if not self.views:
            raise ValueError("no views: give at least 'top'")
        return self

    def resolve(self, base: Path) -> "StationConfig":
        """Make every relative path relative to `base` (the config file's folder)."""

        def fix(p: Path | None) -> Path | None:
            if p is None or p.is_absolute() or str(p) == "virtual":
                return p
            return (base / p).resolve()

        for c in self.cameras.values():
            if isinstance(c, GenICamCamera):
                c.cti = fix(c.cti)
            elif isinstance(c, ReplayCamera):
                c.root = fix(c.root)
            elif isinstance(c, FilesCamera) and not Path(c.paths).is_absolute():
                c.paths = str(base / c.paths)
        for vc in self.views.values():
            vc.calibration = fix(vc.calibration)
        self.recipe = fix(self.recipe)
        self.database = fix(self.database)
        self.record_dir = fix(self.record_dir)
        if isinstance(self.trigger, FolderTrigger):
            self.trigger.path = fix(self.trigger.path)
        return self


def load_config(path: str | Path) -> StationConfig:
    """Read and validate a station YAML; raises InputError with one line on any problem."""
    p = Path(path)
    return parse_config(read_yaml(p, what="station config"), base=p.resolve().parent, source=str(p))


def parse_config(raw: object, *, base: Path, source: str = "station config") -> StationConfig:
    if not isinstance(raw, dict):
        raise InputError(f"{source}: expected a mapping with station_id, cameras, views, trigger")
    return validated(StationConfig, raw, source=source).resolve(base)
