"""Image store: the shared-directory backend, and the S3 backend against a real HTTP S3 endpoint
(moto's server on loopback; no MinIO or AWS here, see the module docstring of api.jobs.store)."""

from __future__ import annotations

import numpy as np
import pytest

from api.jobs.store import DirectoryStore, S3Store, open_store, sha256_hex
from models.errors import InputError


def _blobs(seed: int, n: int = 3) -> list[bytes]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, size=int(rng.integers(1, 200_000)), dtype=np.uint8).tobytes() for _ in range(n)]


def test_directory_store_round_trip_dedup_and_layout(tmp_path):
    store = open_store(tmp_path / "img")
    assert isinstance(store, DirectoryStore)
    blobs = _blobs(1)
    keys = [store.put(b) for b in blobs]
    assert keys == [sha256_hex(b) for b in blobs]
    assert [store.get(k) for k in keys] == blobs
    assert store.put(blobs[0]) == keys[0]  # same content, same key, stored once
    files = sorted(p for p in (tmp_path / "img").rglob("*") if p.is_file())
    assert [f.relative_to(tmp_path / "img").as_posix() for f in files] == sorted(f"{k[:2]}/{k[2:]}" for k in keys)
    assert all(store.exists(k) for k in keys) and not store.exists("0" * 64)


def test_directory_store_errors_are_one_line(tmp_path):
    store = open_store(tmp_path)
    with pytest.raises(InputError, match="not in the store .* mounted"):
        store.get("a" * 64)
    with pytest.raises(InputError, match="not a sha256"):
        store.get("../../etc/passwd")
    key = store.put(b"original bytes")
    (tmp_path / key[:2] / key[2:]).write_bytes(b"changed bytes")
    with pytest.raises(InputError, match="corrupt"):
        store.get(key)


def test_check_refuses_a_store_this_machine_cannot_see(tmp_path):
    open_store(tmp_path).check()
    with pytest.raises(InputError, match="does not exist on this machine; mount the shared directory"):
        open_store(tmp_path / "not-mounted").check()


@pytest.mark.parametrize("url, match", [
    ("", "empty"),
    ("ftp://host/x", "unsupported scheme 'ftp'"),
    ("s3:///prefix", "no bucket"),
    ("s3://b/p?endpoint=http://x", r"unknown option\(s\) \['endpoint'\]"),
])
def test_bad_store_urls(url, match):
    with pytest.raises(InputError, match=match):
        open_store(url)


def test_s3_store_round_trip_over_http(s3_endpoint):
    store = open_store(f"s3://pogo-images/line-1?endpoint_url={s3_endpoint}&region=us-east-1")
    assert isinstance(store, S3Store)
    store.client.create_bucket(Bucket="pogo-images")
    store.check()
    blobs = _blobs(3)
    keys = [store.put(b) for b in blobs]
    assert keys == [sha256_hex(b) for b in blobs]
    assert store.put(blobs[1]) == keys[1]
    assert [store.get(k) for k in keys] == blobs
    listed = store.client.list_objects_v2(Bucket="pogo-images", Prefix="line-1/")["Contents"]
    assert sorted(o["Key"] for o in listed) == sorted(f"line-1/{k[:2]}/{k[2:]}" for k in keys)  # stored once each
    assert not store.exists("f" * 64)
    with pytest.raises(InputError, match="not in the store"):
        store.get("f" * 64)
    # an object altered behind the store's back is caught by its key
    store.client.put_object(Bucket="pogo-images", Key=f"line-1/{keys[0][:2]}/{keys[0][2:]}", Body=b"tampered")
    with pytest.raises(InputError, match="corrupt"):
        store.get(keys[0])


def test_s3_store_missing_bucket_is_one_line(s3_endpoint):
    store = open_store(f"s3://no-such-bucket?endpoint_url={s3_endpoint}")
    with pytest.raises(InputError, match="bucket 'no-such-bucket' does not exist"):
        store.check()
    with pytest.raises(InputError, match="bucket 'no-such-bucket' does not exist"):
        store.put(b"x")
    with pytest.raises(InputError, match="bucket 'no-such-bucket' does not exist"):
        store.get(sha256_hex(b"x"))
