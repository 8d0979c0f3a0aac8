"""The service with its image store in an S3-compatible bucket (``POGOSCOPE_STORE_URL=s3://...``):
uploads, the worker's reads and overlay writes, and the image routes all go through the bucket.

The bucket is served by moto's S3 server on loopback (`s3_endpoint`): an S3-compatible test server
that speaks the S3 HTTP API, not AWS itself; what it cannot show is AWS's latency, limits and
consistency across regions."""

from __future__ import annotations

import boto3
import pytest
from fastapi.testclient import TestClient

from api.jobs.store import S3Store, sha256_hex
from api.service.app import create_app
from api.settings import Settings
from tests.api.service import support


def test_service_stores_and_serves_images_from_s3(s3_endpoint, synth_board, tmp_path):
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(Bucket="pogo-svc")
    url = f"s3://pogo-svc/line-1?endpoint_url={s3_endpoint}&region=us-east-1"
    settings = Settings(data_dir=tmp_path / "data", store_url=url, workers=1, worker_mode="thread", admin_key=support.ADMIN_KEY)
    board = synth_board(seed=5, rows=1, cols=4)
    top = support.png(board.image)
    with TestClient(create_app(settings), headers={"X-API-Key": support.ADMIN_KEY}) as c:
        store = c.app.state.svc.store
        assert isinstance(store, S3Store) and store.url.startswith("s3://pogo-svc/line-1")
        support.setup_board(c, board)
        r = c.post("/v1/inspections", data={"serial": "S3-1", "recipe_id": board.recipe["recipe_id"]},
                   files={"top": ("top.png", top, "image/png")}, headers={"Idempotency-Key": "s3-1"})
        assert r.status_code == 202, r.text
        doc = support.wait_done(c, r.json()["id"], timeout_s=60)
        assert doc["status"] == "done", doc.get("error")

        # the original comes back byte for byte, from the bucket
        img = c.get(f"/v1/inspections/{doc['id']}/images/top")
        assert img.status_code == 200 and img.content == top and img.headers["content-type"] == "image/png"
        assert c.get(f"/v1/images/{sha256_hex(top)}").content == top
        ov = c.get(f"/v1/inspections/{doc['id']}/overlay.png")
        assert ov.status_code == 200 and ov.content.startswith(b"\x89PNG")
        ov_sha = sha256_hex(ov.content)  # the worker wrote it to the bucket under its hash

        keys = {o["Key"] for o in store.client.list_objects_v2(Bucket="pogo-svc", Prefix="line-1/")["Contents"]}
        want = {sha256_hex(top), ov_sha}
        assert {f"line-1/{k[:2]}/{k[2:]}" for k in want} <= keys
        assert not (tmp_path / "data" / "images").exists()  # nothing went to the local directory

        # an object lost from the bucket is the store's outage (503 + Retry-After), not a 500 or a 404
        store.client.delete_object(Bucket="pogo-svc", Key=f"line-1/{ov_sha[:2]}/{ov_sha[2:]}")
        gone = c.get(f"/v1/inspections/{doc['id']}/overlay.png")
        assert gone.status_code == 503 and gone.headers["retry-after"] == "30"
        assert gone.headers["content-type"] == "application/problem+json" and "not in the store" in gone.json()["detail"]


def test_a_missing_bucket_stops_the_service_at_start_with_one_line(s3_endpoint, tmp_path):
    from models.errors import InputError

    settings = Settings(data_dir=tmp_path, store_url=f"s3://no-bucket-here?endpoint_url={s3_endpoint}", workers=1,
                        worker_mode="thread")
    with pytest.raises(InputError, match="bucket 'no-bucket-here' does not exist"):
        with TestClient(create_app(settings)):
            pass
