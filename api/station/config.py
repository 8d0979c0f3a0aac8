"""Station configuration (YAML), validated with pydantic; bad config gets one line naming the field.

Relative paths are taken relative to the config file's folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

from models.errors import InputError, read_yaml, validated


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GenICamCamera(_Strict):
    """A GenICam camera through harvesters (GigE Vision, USB3 Vision: the vendor's GenTL producer)."""

    kind: Literal["genicam"]
    cti: Path = Field(description="GenTL producer (.cti) of the camera's SDK; `virtual` = the test producer in the genicam wheel "
                                  "(three devices, serials 0, 1, 2; Mono8 or RGBa8; 100-800 px; no trigger node: fetched on demand)")
    serial: str | None = Field(default=None, description="choose the device by serial number (first of serial, user_id, index)")
    user_id: str | None = Field(default=None, description="... or by its user-defined name")
    index: int | None = Field(default=None, ge=0, description="... or by position in the producer's list (0 when none is given)")
    width: int | None = Field(default=None, gt=0, description="image width in px, set on the device")
    height: int | None = Field(default=None, gt=0, description="image height in px, set on the device")
    pixel_format: str | None = Field(default=None, description="PFNC name: Mono8, Mono10, Mono12, Mono16, RGB8, BGR8, RGBa8, BayerRG8, ...")
    frame_rate_hz: float | None = Field(default=None, gt=0, description="AcquisitionFrameRate (free-running devices)")
    exposure_us: float | None = Field(default=None, gt=0, description="ExposureTime; ignored with a note when the device has no such node")
    gain_db: float | None = Field(default=None, description="Gain; ignored with a note when the device has no such node")
    fetch_timeout_s: float = Field(default=2.0, gt=0, description="wait this long for a frame (then the board is not_inspected: fetch timeout)")
    watchdog_margin_s: float = Field(default=1.0, gt=0, description="a fetch that has not returned after fetch_timeout_s + this means the camera is lost")


class ReplayCamera(_Strict):
    """Recorded board folders (`station record`, `pogoscope generate`) played in name order."""

    kind: Literal["replay"]
    root: Path = Field(description="folder of board folders (or one board folder)")
    rate_hz: float | None = Field(default=None, gt=0, description="boards per second at most; none: as fast as triggered")
    loop: bool = Field(default=False, description="start again after the last board (soak runs); otherwise the station stops there")
    cache: bool = Field(default=False, description="keep decoded images in memory (benchmarks)")


class FilesCamera(_Strict):
    """Image files, one per grab, in name order."""

    kind: Literal["files"]
    paths: str = Field(description="a folder (PNG/TIFF/JPEG/BMP in it) or a glob such as `run1/*.png`")
    loop: bool = Field(default=False, description="start again after the last file")


Camera = Annotated[Union[GenICamCamera, ReplayCamera, FilesCamera], Field(discriminator="kind")]


class ViewConfig(_Strict):
    camera: str = Field(description="name of a camera under `cameras`")
    calibration: Path | None = Field(default=None, description="calibration record JSON of this view; a replayed board's own otherwise")


class ApiTrigger(_Strict):
    """`POST /trigger` on the health port; the body is the serial (plain text or JSON {"serial": ...}), may be empty."""

    kind: Literal["api"]


class MqttTrigger(_Strict):
    """Every message on `topic` is a trigger; the payload is the serial (plain text or JSON {"serial": ...}), may be empty."""

    kind: Literal["mqtt"]
    host: str = Field(default="127.0.0.1", description="MQTT broker host")
    port: int = Field(default=1883, ge=1, le=65535, description="MQTT broker port")
    topic: str = Field(description="topic to subscribe to (QoS 1)")


class FolderTrigger(_Strict):
    """A file dropped into `path` (`*.trigger`, `*.txt`, `*.json`) is one trigger; its first line (or JSON {"serial": ...})
    is the serial; it is then moved to `path/done/`."""

    kind: Literal["folder"]
    path: Path = Field(description="folder to watch (made if missing)")
    poll_s: float = Field(default=0.05, gt=0, description="how often the folder is looked at")


class TimerTrigger(_Strict):
    """A trigger every `period_s` (replays, soak runs); serials come from the replayed boards or are made up."""

    kind: Literal["timer"]
    period_s: float = Field(gt=0, description="seconds between triggers")
    count: int | None = Field(default=None, ge=1, description="stop after this many; none: until stopped")


Trigger = Annotated[Union[ApiTrigger, MqttTrigger, FolderTrigger, TimerTrigger], Field(discriminator="kind")]


class ServiceSink(_Strict):
    """Deliver every board to `pogoscope serve` (POST /v1/inspections) from the outbox."""

    kind: Literal["service"]
    url: str = Field(pattern=r"^https?://", description="the service's base URL")
    api_key: str | None = Field(default=None, description="API key (role station); prefer api_key_env")
    api_key_env: str | None = Field(default=None, description="read the key from this environment variable")
    timeout_s: float = Field(default=5.0, gt=0, description="HTTP timeout per delivery")
    retry_base_s: float = Field(default=0.5, gt=0, description="first back-off while the service is unreachable or answers 5xx/429")
    retry_max_s: float = Field(default=60.0, gt=0, description="longest back-off")
    held_retry_s: float = Field(default=30.0, gt=0, description="boards the service refused for a fixable cause (401/403/422) are re-sent this often")


class LocalSink(_Strict):
    """Keep the results in the local database only."""

    kind: Literal["local"]


Sink = Annotated[Union[ServiceSink, LocalSink], Field(discriminator="kind")]


class Publish(_Strict):
    mqtt_host: str = Field(default="127.0.0.1", description="MQTT broker for the per-board summaries")
    mqtt_port: int = Field(default=1883, ge=1, le=65535, description="its port")
    mqtt_topic: str | None = Field(default=None, description="publish each board's summary here (QoS 1); none: no publishing")


class Health(_Strict):
    host: str = Field(default="127.0.0.1", description="address of GET /healthz and POST /trigger (0.0.0.0: every interface)")
    port: int = Field(default=8089, ge=0, le=65535, description="their port; 0 = any free port; each station on a host needs its own")


class Retention(_Strict):
    delivered_h: float | None = Field(default=168.0, gt=0, description="delete rows the service accepted this many hours after the board was seen; null keeps them")
    local_h: float | None = Field(default=None, gt=0, description="delete 'local' sink rows after this many hours; null (default) keeps them")
    prune_every_s: float = Field(default=60.0, gt=0, description="how often the running station prunes")


class StationConfig(_Strict):
    """A station: cameras, which camera serves which view, the recipe, the trigger, where results go."""

    station_id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$", description="this station's name (letters, digits, _ . -); sent with every board")
    cameras: dict[str, Camera] = Field(description="camera name -> camera (kind genicam, replay or files)")
    views: dict[Literal["top", "side_front", "side_back"], ViewConfig] = Field(description="view -> camera and calibration record")
    recipe: Path | None = Field(default=None, description="recipe YAML; a replayed board's own recipe otherwise")
    trigger: Trigger = Field(description="what starts a board: api, mqtt, folder or timer")
    sink: Sink = Field(default=LocalSink(kind="local"), description="where results go: service or local")
    database: Path = Field(default=Path("station.sqlite"), description="local results + outbox (SQLite); one per station")
    retention: Retention = Field(default=Retention(), description="how long rows stay in the database")
    publish: Publish = Field(default=Publish(), description="MQTT summaries")
    health: Health = Field(default=Health(), description="the station's HTTP endpoint")
    record_dir: Path | None = Field(default=None, description="also save every captured board here (board folders, replay layout)")
    grab_timeout_s: float = Field(default=3.0, gt=0, description="longest wait for one view's frame")
    reconnect_every_s: float = Field(default=1.0, gt=0, description="how often a lost camera is looked for")

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


def station_json_schema() -> dict:
    """JSON Schema of station.yaml (`pogoscope schema station`)."""
    doc = StationConfig.model_json_schema()
    doc["title"] = "pogoscope station configuration (station.yaml)"
    return doc
