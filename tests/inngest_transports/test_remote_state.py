"""The remote state drivers: in memory, and S3 against a local moto server."""

from __future__ import annotations

import json
import re
import sys
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

import inngest_proto as inngest
from inngest_proto.functions import StepMemos
from inngest_proto.remote_state import (
    RemoteStateError,
    RemoteStateLostError,
    make_reference,
)
from inngest_transports.remote_state import InMemoryDriver, S3Driver

BUCKET = "payloads"
CREDENTIALS = {
    "aws_access_key_id": "testing",
    "aws_secret_access_key": "testing",
    "region_name": "us-east-1",
}
KEY_RE = re.compile(r"inngest/remote_state/run-1/[A-Za-z0-9]{32}")


def _memos(**data: Any) -> StepMemos:
    return StepMemos.from_raw({name: {"data": value} for name, value in data.items()})


# --- InMemoryDriver ---------------------------------------------------------------


def test_in_memory_round_trip_gives_a_fresh_json_copy() -> None:
    driver = InMemoryDriver()
    rows = [1, 2, 3]
    ref = driver.save_step("run-1", {"rows": rows, "name": "é"})
    assert set(ref) == {"__REMOTE_STATE__", "__STRATEGY__", "key"}
    assert ref["__STRATEGY__"] == "inngest/memory"
    assert re.fullmatch(r"[A-Za-z0-9]{32}", str(ref["key"]))
    rows.append(4)  # a later change to the original is not seen

    steps = _memos(a=ref, b="inline")
    driver.load_steps(steps)
    assert dict(steps) == {
        "a": {"data": {"rows": [1, 2, 3], "name": "é"}},
        "b": {"data": "inline"},
    }
    assert len(driver) == 1


def test_in_memory_ignores_other_strategies() -> None:
    s3_ref = make_reference("inngest/s3", bucket="b", key="k")
    steps = _memos(a=s3_ref)
    InMemoryDriver().load_steps(steps)
    assert steps["a"] == {"data": s3_ref}


def test_in_memory_missing_and_damaged_references_are_lost() -> None:
    driver = InMemoryDriver()
    with pytest.raises(RemoteStateLostError, match="not in this InMemoryDriver"):
        driver.load_steps(_memos(a=make_reference("inngest/memory", key="nope")))
    with pytest.raises(RemoteStateLostError, match="no valid 'key' field"):
        driver.load_steps(_memos(a=make_reference("inngest/memory")))


def test_in_memory_delete_run() -> None:
    driver = InMemoryDriver()
    refs = [driver.save_step("run-1", n) for n in range(3)]
    kept = driver.save_step("run-2", "other")
    assert driver.delete_run("run-1") == 3
    assert driver.delete_run("run-1") == 0
    assert len(driver) == 1
    driver.load_steps(_memos(k=kept))
    with pytest.raises(RemoteStateLostError):
        driver.load_steps(_memos(a=refs[0]))


# --- S3Driver: construction -------------------------------------------------------


def test_s3_missing_boto3_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)
    monkeypatch.setitem(sys.modules, "botocore.exceptions", None)
    with pytest.raises(ImportError, match=r"pip install 'inngest-sansio\[s3\]'"):
        S3Driver(bucket=BUCKET)


class _NoClient:
    def get_object(self, **kwargs: Any) -> Any: ...
    def put_object(self, **kwargs: Any) -> Any: ...
    def list_objects_v2(self, **kwargs: Any) -> Any: ...
    def delete_objects(self, **kwargs: Any) -> Any: ...


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"bucket": ""}, "needs a bucket name"),
        ({"bucket": "b", "prefix": "/"}, "prefix must be a non-empty"),
        (
            {"bucket": "b", "client": _NoClient(), "endpoint_url": "http://x"},
            "got a client and client settings",
        ),
    ],
)
def test_s3_bad_arguments(kwargs: dict[str, Any], message: str) -> None:
    pytest.importorskip("botocore", reason="boto3 is not installed")
    with pytest.raises(ValueError, match=message):
        S3Driver(**kwargs)


# --- S3Driver against a local S3-compatible server ---------------------------------


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server_mod = pytest.importorskip(
        "moto.server",
        reason="moto[server] is not installed (pip install 'moto[server]')",
    )
    server = server_mod.ThreadedMotoServer(
        ip_address="127.0.0.1", port=0, verbose=False
    )
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3(s3_endpoint: str) -> Iterator[Any]:
    boto3 = pytest.importorskip("boto3")
    client = boto3.client("s3", endpoint_url=s3_endpoint, **CREDENTIALS)
    client.create_bucket(Bucket=BUCKET)
    try:
        yield client
    finally:
        listed = client.list_objects_v2(Bucket=BUCKET).get("Contents", [])
        for item in listed:
            client.delete_object(Bucket=BUCKET, Key=item["Key"])
        client.delete_bucket(Bucket=BUCKET)


def test_s3_round_trip_matches_the_official_layout(s3: Any) -> None:
    driver = S3Driver(bucket=BUCKET, client=s3)
    value = {"text": "x" * 100_000, "n": [1.5, None, True]}
    ref = driver.save_step("run-1", value)
    assert set(ref) == {"__REMOTE_STATE__", "__STRATEGY__", "bucket", "key"}
    assert ref["__REMOTE_STATE__"] is True
    assert (ref["__STRATEGY__"], ref["bucket"]) == ("inngest/s3", BUCKET)
    assert KEY_RE.fullmatch(str(ref["key"]))

    obj = s3.get_object(Bucket=BUCKET, Key=ref["key"])
    assert json.loads(obj["Body"].read().decode()) == value  # how the official reads

    steps = _memos(big=ref, small="inline")
    driver.load_steps(steps)
    assert dict(steps) == {"big": {"data": value}, "small": {"data": "inline"}}


def test_s3_loads_what_the_official_driver_wrote(s3: Any) -> None:
    key = "inngest/remote_state/run-9/" + "a" * 32
    s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(["from", "official"]))
    steps = _memos(a=make_reference("inngest/s3", bucket=BUCKET, key=key))
    S3Driver(bucket=BUCKET, client=s3).load_steps(steps)
    assert steps["a"] == {"data": ["from", "official"]}


def test_s3_client_built_from_endpoint(s3: Any, s3_endpoint: str) -> None:
    driver = S3Driver(
        bucket=BUCKET,
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        client_options={
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
        },
        prefix="/team-a/payloads/",
    )
    assert driver.prefix == "team-a/payloads"
    ref = driver.save_step("run-1", "v")
    assert str(ref["key"]).startswith("team-a/payloads/run-1/")
    steps = _memos(a=ref)
    driver.load_steps(steps)
    assert steps["a"] == {"data": "v"}


def test_s3_deleted_object_is_lost_and_non_retriable(s3: Any) -> None:
    driver = S3Driver(bucket=BUCKET, client=s3)
    ref = driver.save_step("run-1", "v")
    s3.delete_object(Bucket=BUCKET, Key=ref["key"])
    with pytest.raises(RemoteStateLostError, match="does not exist") as info:
        driver.load_steps(_memos(a=ref))
    assert isinstance(info.value, inngest.NonRetriableError)


def test_s3_corrupt_object_is_lost(s3: Any) -> None:
    driver = S3Driver(bucket=BUCKET, client=s3)
    ref = driver.save_step("run-1", "v")
    s3.put_object(Bucket=BUCKET, Key=ref["key"], Body=b"\xff not json")
    with pytest.raises(RemoteStateLostError, match="is not JSON"):
        driver.load_steps(_memos(a=ref))


@pytest.mark.parametrize(
    ("bucket", "key"),
    [
        ("elsewhere", "inngest/remote_state/run-1/k"),
        (BUCKET, "private/secrets.json"),
        (BUCKET, "inngest/remote_state_other/k"),
    ],
)
def test_s3_refuses_references_outside_its_bucket_and_prefix(
    s3: Any, bucket: str, key: str
) -> None:
    s3.put_object(Bucket=BUCKET, Key=key, Body=b'"secret"')
    ref = make_reference("inngest/s3", bucket=bucket, key=key)
    with pytest.raises(RemoteStateError, match="is outside this S3Driver") as info:
        S3Driver(bucket=BUCKET, client=s3).load_steps(_memos(a=ref))
    assert not isinstance(info.value, inngest.NonRetriableError)


def test_s3_store_failures_are_retriable(s3: Any, s3_endpoint: str) -> None:
    driver = S3Driver(bucket="no-such-bucket", client=s3)
    with pytest.raises(RemoteStateError, match=r"could not write .*NoSuchBucket") as w:
        driver.save_step("run-1", "v")
    assert not isinstance(w.value, inngest.NonRetriableError)

    botocore_config = pytest.importorskip("botocore.config")
    unreachable = S3Driver(
        bucket=BUCKET,
        endpoint_url="http://127.0.0.1:9",  # discard port: nothing listens
        client_options={
            **CREDENTIALS,
            "config": botocore_config.Config(
                retries={"total_max_attempts": 1}, connect_timeout=0.5
            ),
        },
    )
    ref = make_reference("inngest/s3", bucket=BUCKET, key="inngest/remote_state/r/k")
    with pytest.raises(RemoteStateError, match="could not read") as r:
        unreachable.load_steps(_memos(a=ref))
    assert not isinstance(r.value, inngest.NonRetriableError)


def test_s3_delete_run(s3: Any) -> None:
    driver = S3Driver(bucket=BUCKET, client=s3)
    refs = [driver.save_step("run-1", n) for n in range(3)]
    kept = driver.save_step("run-10", "other")  # a run id sharing a prefix
    assert driver.delete_run("run-1") == 3
    assert driver.delete_run("run-1") == 0
    steps = _memos(k=kept)
    driver.load_steps(steps)
    assert steps["k"] == {"data": "other"}
    with pytest.raises(RemoteStateLostError):
        driver.load_steps(_memos(a=refs[0]))


def test_s3_delete_run_pages_and_batches() -> None:
    # 2,500 objects over three pages: deletes go in batches of at most 1,000.
    class Paged(_NoClient):
        def __init__(self) -> None:
            self.deleted: list[int] = []

        def list_objects_v2(self, **kwargs: Any) -> Any:
            page = int(kwargs.get("ContinuationToken", "0"))
            count = 1000 if page < 2 else 500
            return {
                "Contents": [{"Key": f"k{page}-{i}"} for i in range(count)],
                "IsTruncated": page < 2,
                "NextContinuationToken": str(page + 1),
            }

        def delete_objects(self, **kwargs: Any) -> Any:
            self.deleted.append(len(kwargs["Delete"]["Objects"]))

    pytest.importorskip("botocore", reason="boto3 is not installed")
    client = Paged()
    assert S3Driver(bucket=BUCKET, client=client).delete_run("r") == 2500
    assert client.deleted == [1000, 1000, 500]


def _official() -> Any:
    """The official SDK's remote state package, or a skip where it is absent."""
    with warnings.catch_warnings():
        # Its pydantic models warn at import; filterwarnings=error would fail.
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        pytest.importorskip("pydantic", reason="the official SDK is not installed")
        return pytest.importorskip(
            "inngest.experimental.remote_state_middleware",
            reason="the official SDK (inngest==0.5.19) is not installed",
        )


def test_s3_payloads_move_between_sdks(s3: Any) -> None:
    official = _official()
    steps_cls = sys.modules["inngest"].StepMemos
    theirs = official.S3Driver(bucket=BUCKET, client=s3)
    ours = S3Driver(bucket=BUCKET, client=s3)
    value = {"rows": ["é", 1.5, None], "big": "z" * 70_000}

    their_memos = steps_cls.from_raw({"a": {"data": ours.save_step("run-1", value)}})
    theirs.load_steps(their_memos)
    assert [memo.data for memo in their_memos.values()] == [value]

    their_ref = theirs.save_step("run-1", value)
    assert set(their_ref) == {"__REMOTE_STATE__", "__STRATEGY__", "bucket", "key"}
    assert KEY_RE.fullmatch(their_ref["key"])
    our_memos = _memos(a=their_ref)
    ours.load_steps(our_memos)
    assert our_memos["a"] == {"data": value}
