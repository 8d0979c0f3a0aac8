"""The service's side of the image store: which store (`service_store`, from Settings), checking an
upload is an image (`sniff_image`), and serving a blob over HTTP (`blob_response`).

The store itself is `api.jobs.store` (a directory or an S3-compatible bucket, content-addressed by
sha256): one abstraction for the service, its workers and `pogoscope worker` on other machines."""

from __future__ import annotations

from fastapi.responses import FileResponse, Response

from api.jobs.store import BlobNotFound, DirectoryStore, ImageStore, S3Store, open_store, sha256_hex
from api.problems import ProblemError
from models.errors import InputError

__all__ = ["sniff_image", "service_store", "blob_response", "sha256_hex", "ImageStore", "DirectoryStore", "S3Store"]

IMMUTABLE = {"Cache-Control": "max-age=31536000, immutable"}  # a blob named by its hash never changes

# Leading bytes of the image formats the pipeline decodes (vision.io).
_MAGIC = [
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"BM", "image/bmp"),
    (b"P5", "image/x-portable-graymap"),
    (b"P6", "image/x-portable-pixmap"),
]


def sniff_image(data: bytes, *, name: str) -> str:
    """Media type of an encoded image, checked cheaply (no decode: that happens in the worker).

    Raises InputError for an empty file, an unknown format or a PNG/JPEG without its end marker.
    """
    if not data:
        raise InputError(f"{name}: the file is empty")
    for magic, media in _MAGIC:
        if data.startswith(magic):
            if media == "image/png" and b"IEND" not in data[-16:]:
                raise InputError(f"{name}: the PNG file is truncated (no IEND chunk); send the whole file")
            if media == "image/jpeg" and b"\xff\xd9" not in data[-4:]:
                raise InputError(f"{name}: the JPEG file is truncated (no end-of-image marker); send the whole file")
            return media
    raise InputError(f"{name}: not a decodable image (expected PNG, JPEG, TIFF, BMP or PGM/PPM)")


def service_store(settings, *, at_start: bool = True) -> ImageStore:
    """The image store of `settings` (``store_url``, else the directory ``<data_dir>/images``).

    At the service's start (`at_start`) the default directory is created, and a store named by
    ``POGOSCOPE_STORE_URL`` must exist already: a shared directory that is not mounted, a bucket
    that is not there or refuses these credentials is an InputError naming it, not an empty new
    store. A worker opening it for a job checks nothing: a blob it cannot read is `BlobNotFound`,
    which its queue retries (the share may come back).
    """
    store = open_store(settings.image_store_url)
    if at_start:
        if settings.store_url is None and isinstance(store, DirectoryStore):
            store.root.mkdir(parents=True, exist_ok=True)
        else:
            store.check()
    return store


def blob_response(store: ImageStore, key: str, media_type: str) -> Response:
    """HTTP response with blob `key`: streamed from the file of a directory store, read from a bucket
    otherwise. A blob the database knows and the store lacks is an outage (503), not the client's fault."""
    try:
        if isinstance(store, DirectoryStore):
            path = store.path(key)
            if not path.is_file():
                raise BlobNotFound(f"image {key} is not in the store {store.url}; is the shared directory mounted?")
            return FileResponse(path, media_type=media_type, headers=IMMUTABLE)
        return Response(store.get(key), media_type=media_type, headers=IMMUTABLE)
    except BlobNotFound as exc:
        raise ProblemError(503, "image-store-unavailable", str(exc), headers={"Retry-After": "30"}) from None
