"""Image store reachable from every worker: content-addressed (sha256) blobs.

Two backends behind one small interface, chosen by a URL:

* a directory (default; a local path or ``file:///shared/images``): every machine mounts the same
  shared directory (NFS/SMB). Blobs live at ``<root>/<sha[:2]>/<sha[2:]>``; writes go to a temporary
  file in the same directory and are renamed into place, so a reader never sees half a file and
  two writers of the same content cannot corrupt each other.
* an S3-compatible object store (``s3://bucket/prefix?endpoint_url=http://minio:9000&region=…``):
  for workers on machines that share no file system. Credentials come from the usual AWS
  chain (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` environment, config files, instance roles).

Keys are the sha256 of the content, so storing the same image twice stores it once, and a blob
fetched by key can be verified against its key (`get` does).

The service, its workers (`api.service.worker`, `pogoscope worker`) and the image routes all open
the store with `open_store` from ``POGOSCOPE_STORE_URL`` (default ``<data_dir>/images``).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, urlparse

from models.errors import InputError

__all__ = ["ImageStore", "BlobNotFound", "DirectoryStore", "S3Store", "open_store", "sha256_hex"]


class BlobNotFound(InputError, LookupError):
    """A key the store does not hold. To an API client that is bad input; to a worker it more often
    means a share not mounted or an object store not yet consistent, so workers retry it."""


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _check_key(key: str) -> str:
    if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
        raise InputError(f"image key {key[:80]!r} is not a sha256 hex digest; keys are what put() returned")
    return key


class ImageStore(Protocol):
    url: str

    def put(self, data: bytes) -> str:
        """Store `data`; return its sha256 hex key (idempotent)."""

    def get(self, key: str) -> bytes:
        """The bytes stored under `key`; InputError when absent or corrupt."""

    def exists(self, key: str) -> bool: ...


class DirectoryStore:
    """Content-addressed blobs in a (shared) directory."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.url = self.root.resolve().as_uri()

    def path(self, key: str) -> Path:
        """The file of blob `key` (InputError unless `key` is a sha256 hex digest)."""
        key = _check_key(key)
        return self.root / key[:2] / key[2:]

    def put(self, data: bytes) -> str:
        key = sha256_hex(data)
        path = self.path(key)
        if path.is_file() and path.stat().st_size == len(data):
            return key
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{key[:8]}.")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())  # a worker on another machine must never see a partial blob
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return key

    def get(self, key: str) -> bytes:
        path = self.path(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise BlobNotFound(f"image {key} is not in the store {self.url}; is the shared directory mounted on this machine?") from None
        if sha256_hex(data) != key:
            raise InputError(f"image {key} in {self.url} is corrupt (its content does not match its sha256)")
        return data

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def check(self) -> None:
        """InputError unless the store's directory is there (a worker calls this at start)."""
        if not self.root.is_dir():
            raise InputError(f"image store directory {self.root} does not exist on this machine; mount the shared "
                             "directory there or set POGOSCOPE_STORE_URL")


class S3Store:
    """Content-addressed blobs in an S3-compatible bucket (AWS S3, MinIO, Ceph RGW, ...)."""

    def __init__(self, bucket: str, *, prefix: str = "", endpoint_url: str | None = None, region: str | None = None,
                 client=None):
        if not bucket:
            raise InputError("S3 store URL has no bucket; use s3://BUCKET/PREFIX?endpoint_url=http://HOST:PORT")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        q = f"?endpoint_url={endpoint_url}" if endpoint_url else ""
        self.url = f"s3://{bucket}/{self.prefix}{q}"
        if client is None:
            try:
                import boto3
                from botocore.config import Config
            except ImportError:  # pragma: no cover - boto3 is a dependency
                raise InputError("the S3 image store needs boto3; pip install boto3") from None
            client = boto3.client("s3", endpoint_url=endpoint_url, region_name=region,
                                  config=Config(retries={"max_attempts": 5, "mode": "standard"}))
        self.client = client

    def _name(self, key: str) -> str:
        key = _check_key(key)
        return f"{self.prefix}/{key[:2]}/{key[2:]}" if self.prefix else f"{key[:2]}/{key[2:]}"

    def put(self, data: bytes) -> str:
        key = sha256_hex(data)
        from botocore.exceptions import ClientError

        if not self.exists(key):  # a PUT is atomic in S3: readers see all of the object or none of it
            try:
                self.client.put_object(Bucket=self.bucket, Key=self._name(key), Body=data,
                                       ContentType="application/octet-stream", Metadata={"sha256": key})
            except ClientError as exc:
                raise self._error(exc, key) from None
        return key

    def _error(self, exc, key: str) -> Exception:
        """InputError for the errors an operator can fix; the ClientError itself otherwise."""
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("NoSuchKey", "404", "NotFound"):
            return BlobNotFound(f"image {key} is not in the store {self.url}")
        if code == "NoSuchBucket":
            return InputError(f"bucket {self.bucket!r} does not exist at {self.url}; create it first")
        if code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403"):
            return InputError(f"access to {self.url} denied ({code}); check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY")
        return exc

    def get(self, key: str) -> bytes:
        from botocore.exceptions import ClientError

        try:
            data = self.client.get_object(Bucket=self.bucket, Key=self._name(key))["Body"].read()
        except ClientError as exc:
            raise self._error(exc, key) from None
        if sha256_hex(data) != key:
            raise InputError(f"image {key} in {self.url} is corrupt (its content does not match its sha256)")
        return data

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._name(key))
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("404", "NoSuchKey", "NotFound"):
                return False
            raise self._error(exc, key) from None
        return True

    def check(self) -> None:
        """InputError unless the bucket answers with these credentials (a worker calls this at start)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            raise (self._error(exc, "") if code not in ("404", "NotFound") else
                   InputError(f"bucket {self.bucket!r} does not exist at {self.url}; create it first")) from None
        except BotoCoreError as exc:
            raise InputError(f"cannot reach the image store {self.url}: {exc}") from None


def open_store(url: str | Path) -> DirectoryStore | S3Store:
    """Open the image store named by `url`.

    Parameters
    ----------
    url : str or Path
        A directory path, ``file:///path``, or ``s3://bucket/prefix[?endpoint_url=URL&region=NAME]``.
    """
    text = str(url)
    if not text:
        raise InputError("empty image store URL; give a directory or s3://bucket/prefix")
    parts = urlparse(text)
    if parts.scheme in ("", "file") or (len(parts.scheme) == 1 and os.name == "nt"):
        return DirectoryStore(parts.path if parts.scheme == "file" else text)
    if parts.scheme == "s3":
        q = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        unknown = set(q) - {"endpoint_url", "region"}
        if unknown:
            raise InputError(f"image store URL {text!r}: unknown option(s) {sorted(unknown)}; allowed: endpoint_url, region")
        return S3Store(parts.netloc, prefix=parts.path, endpoint_url=q.get("endpoint_url"), region=q.get("region"))
    raise InputError(f"image store URL {text!r}: unsupported scheme {parts.scheme!r}; use a directory, file:// or s3://")
