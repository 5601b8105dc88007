"""An S3 store for the tests: moto's server on a free local port (a thread of the test
process), a fresh bucket per test, and the objects read back as a reader would.

    from tests.logcenter.streams.s3_store import moto_s3, s3_bucket  # noqa: F401 (fixtures)
"""

import gzip
import json
import socket
import uuid

import pytest

ACCESS_KEY_ID = "AKIATESTLOGCENTER01"
SECRET_ACCESS_KEY = "test-secret-access-key-never-shown-0123456789"
CREDENTIALS = {"access_key_id": ACCESS_KEY_ID, "secret_access_key": SECRET_ACCESS_KEY}


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Store:
    def __init__(self, url):
        import boto3

        self.url = url
        self.client = boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                                   aws_access_key_id=ACCESS_KEY_ID,
                                   aws_secret_access_key=SECRET_ACCESS_KEY)

    def new_bucket(self):
        name = f"logcenter-test-{uuid.uuid4().hex[:12]}"
        self.client.create_bucket(Bucket=name)
        return name

    def keys(self, bucket, prefix=""):
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket,
                                                                      Prefix=prefix)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def get(self, bucket, key):
        return self.client.get_object(Bucket=bucket, Key=key)

    def documents(self, bucket, key):
        """The NDJSON object's lines as dicts (gunzipped when it is gzip)."""
        body = self.get(bucket, key)["Body"].read()
        if body[:2] == b"\x1f\x8b":
            body = gzip.decompress(body)
        return [json.loads(line) for line in body.decode("utf-8").splitlines()]


@pytest.fixture(scope="session")
def moto_s3():
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield Store(f"http://127.0.0.1:{port}")
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(moto_s3):
    """A new, empty bucket's name."""
    return moto_s3.new_bucket()
