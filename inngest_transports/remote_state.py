"""Stores for :class:`inngest_proto.remote_state.RemoteStateMiddleware`.

The middleware and the driver protocol are re-exported here, so that
``from inngest.experimental.remote_state_middleware import ...`` becomes one
import of this module, whatever it names.

* :class:`InMemoryDriver`: a dict in this process; for tests and local
  experiments (payloads vanish when the process exits, and a second worker
  process cannot see them).
* :class:`S3Driver`: AWS S3 or any S3-compatible store (MinIO, R2, Ceph...)
  through boto3 (``pip install 'inngest-sansio[s3]'``).

Both are synchronous (boto3 is); see the middleware's notes on async
functions.  Their references match the official SDK's drivers of the same
strategy, so either SDK can load what the other stored.
"""

from __future__ import annotations

import importlib
import json
import secrets
import string
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, Protocol, cast

from inngest_proto.remote_state import (
    RemoteStateError,
    RemoteStateLostError,
    RemoteStateMiddleware,
    StateDriver,
    make_reference,
    reference_field,
    references,
)

if TYPE_CHECKING:
    from inngest_proto.functions import StepMemos

__all__ = [
    "DEFAULT_PREFIX",
    "InMemoryDriver",
    "RemoteStateMiddleware",
    "S3Client",
    "S3Driver",
    "StateDriver",
]

#: Where the official SDK's S3 driver puts objects: ``<prefix>/<run id>/<key>``.
DEFAULT_PREFIX: Final = "inngest/remote_state"

_KEY_ALPHABET: Final = string.ascii_letters + string.digits
#: S3 answers these codes for a key that does not exist.
_MISSING_CODES: Final = frozenset({"NoSuchKey", "404", "NotFound"})
#: Keys per DeleteObjects call (the S3 API's maximum).
_DELETE_BATCH: Final = 1000


def _random_key() -> str:
    # 32 letters and digits, as the official drivers make: ~190 bits, so keys
    # never collide and cannot be guessed from the run id.
    return "".join(secrets.choice(_KEY_ALPHABET) for _ in range(32))


def _encode(value: object) -> bytes:
    # json.dumps' defaults: what the official driver writes and reads.
    return json.dumps(value, allow_nan=False).encode()


class InMemoryDriver:
    """Keeps payloads in a dict of this process (strategy ``inngest/memory``).

    Values are stored as JSON text, so the function gets a fresh copy on each
    replay, exactly as if it had come through Inngest.  Thread-safe: sync
    functions may run in worker threads.
    """

    STRATEGY: Final = "inngest/memory"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._payloads: dict[str, bytes] = {}
        self._runs: dict[str, list[str]] = {}

    def __len__(self) -> int:
        """How many payloads are stored."""
        with self._lock:
            return len(self._payloads)

    def load_steps(self, steps: StepMemos) -> None:
        """Replace each ``inngest/memory`` reference with its stored value."""
        for memo, reference in references(steps, self.STRATEGY):
            key = reference_field(reference, "key")
            with self._lock:
                payload = self._payloads.get(key)
            if payload is None:
                msg = (
                    f"remote state payload {key!r} is not in this InMemoryDriver: "
                    "it was deleted, or stored by another process or before a restart"
                )
                raise RemoteStateLostError(msg)
            memo.data = json.loads(payload)

    def save_step(self, run_id: str, value: object) -> dict[str, object]:
        """Store ``value`` and return its reference."""
        payload = _encode(value)
        key = _random_key()
        with self._lock:
            self._payloads[key] = payload
            self._runs.setdefault(run_id, []).append(key)
        return make_reference(self.STRATEGY, key=key)

    def delete_run(self, run_id: str) -> int:
        """Forget every payload of a run; returns how many there were."""
        with self._lock:
            keys = self._runs.pop(run_id, [])
            for key in keys:
                del self._payloads[key]
        return len(keys)


class S3Client(Protocol):
    """The part of a boto3 S3 client the driver uses."""

    def get_object(self, **kwargs: Any) -> Any: ...

    def put_object(self, **kwargs: Any) -> Any: ...

    def list_objects_v2(self, **kwargs: Any) -> Any: ...

    def delete_objects(self, **kwargs: Any) -> Any: ...


def _import(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as err:
        msg = (
            f"S3Driver needs boto3, which is not installed (no module {name}): "
            "pip install 'inngest-sansio[s3]'"
        )
        raise ImportError(msg) from err


class S3Driver:
    """Keeps payloads in an S3 bucket (strategy ``inngest/s3``).

    Objects are written to ``<prefix>/<run id>/<32 random characters>`` as
    JSON, and the reference holds the bucket and key, as the official SDK's
    ``S3Driver`` does.

    ``client``: a boto3 S3 client you configured.  Without it, one is built
    with ``boto3.client("s3", endpoint_url=..., region_name=...,
    **client_options)``, which takes credentials from the usual places
    (environment, ``~/.aws``, instance role).  ``endpoint_url`` points it at
    an S3-compatible server.

    ``prefix``: where objects go; a reference to another bucket or outside
    the prefix is refused (:class:`RemoteStateError`), so a step output that
    imitates a reference cannot make the app read arbitrary objects.

    Errors: a missing object raises :class:`RemoteStateLostError`
    (non-retriable); any other S3 failure :class:`RemoteStateError`, which is
    retried.  Without ``s3:ListBucket``, S3 reports a missing object as
    ``AccessDenied``, and it is then retried like any denied access.
    """

    STRATEGY: Final = "inngest/s3"

    def __init__(
        self,
        *,
        bucket: str,
        client: S3Client | None = None,
        endpoint_url: str | None = None,
        region_name: str | None = None,
        prefix: str = DEFAULT_PREFIX,
        client_options: Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(bucket, str) or not bucket:
            msg = f"S3Driver needs a bucket name, got {bucket!r}"
            raise ValueError(msg)
        if not isinstance(prefix, str) or not prefix.strip("/"):
            msg = f"S3Driver prefix must be a non-empty key prefix, got {prefix!r}"
            raise ValueError(msg)
        # botocore's exceptions tell a missing object from a failing store.
        exceptions = _import("botocore.exceptions")
        self._client_error: type[Exception] = exceptions.ClientError
        self._store_errors: tuple[type[Exception], ...] = (
            exceptions.ClientError,
            exceptions.BotoCoreError,
        )
        if client is None:
            options = dict(client_options or {})
            if endpoint_url is not None:
                options["endpoint_url"] = endpoint_url
            if region_name is not None:
                options["region_name"] = region_name
            client = cast("S3Client", _import("boto3").client("s3", **options))
        elif endpoint_url is not None or region_name is not None or client_options:
            msg = (
                "S3Driver got a client and client settings; configure the "
                "client you pass, or pass no client"
            )
            raise ValueError(msg)
        self._bucket = bucket
        self._prefix = prefix.strip("/")
        self._client: S3Client = client

    @property
    def bucket(self) -> str:
        return self._bucket

    @property
    def prefix(self) -> str:
        return self._prefix

    def load_steps(self, steps: StepMemos) -> None:
        """Replace each ``inngest/s3`` reference with the object it names."""
        for memo, reference in references(steps, self.STRATEGY):
            bucket = reference_field(reference, "bucket")
            key = reference_field(reference, "key")
            if bucket != self._bucket or not key.startswith(self._prefix + "/"):
                msg = (
                    f"remote state reference s3://{bucket}/{key} is outside "
                    f"this S3Driver's s3://{self._bucket}/{self._prefix}/; "
                    "configure the bucket and prefix that stored it"
                )
                raise RemoteStateError(msg)
            memo.data = self._get(key)

    def save_step(self, run_id: str, value: object) -> dict[str, object]:
        """Write ``value`` as a JSON object and return its reference."""
        key = f"{self._prefix}/{run_id}/{_random_key()}"
        body = _encode(value)
        try:
            self._client.put_object(
                Bucket=self._bucket,
                Key=key,
                Body=body,
                ContentType="application/json",
            )
        except self._store_errors as err:
            raise self._failed("write", key, err) from err
        return make_reference(self.STRATEGY, bucket=self._bucket, key=key)

    def delete_run(self, run_id: str) -> int:
        """Delete every payload of a finished run; returns how many.

        Call it from a function triggered by ``inngest/function.finished``
        (``event.data.run_id``) if you clean up per run rather than with a
        bucket lifecycle rule.  Never for a run that is still going.
        """
        run_prefix = f"{self._prefix}/{run_id}/"
        deleted = 0
        try:
            token: str | None = None
            while True:
                page = self._client.list_objects_v2(
                    Bucket=self._bucket,
                    Prefix=run_prefix,
                    **({"ContinuationToken": token} if token else {}),
                )
                keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
                for start in range(0, len(keys), _DELETE_BATCH):
                    batch = keys[start : start + _DELETE_BATCH]
                    self._client.delete_objects(
                        Bucket=self._bucket,
                        Delete={"Objects": batch, "Quiet": True},
                    )
                    deleted += len(batch)
                token = page.get("NextContinuationToken")
                if not page.get("IsTruncated") or not token:
                    return deleted
        except self._store_errors as err:
            raise self._failed("delete", run_prefix, err) from err

    def _get(self, key: str) -> Any:
        try:
            response = self._client.get_object(Bucket=self._bucket, Key=key)
            body = response["Body"]
            try:
                payload = body.read()
            finally:
                body.close()
        except self._client_error as err:
            if _error_code(err) in _MISSING_CODES:
                msg = (
                    f"remote state payload s3://{self._bucket}/{key} does not "
                    "exist: it was deleted (a lifecycle rule shorter than the "
                    "run?) or never written"
                )
                raise RemoteStateLostError(msg) from err
            raise self._failed("read", key, err) from err
        except self._store_errors as err:
            raise self._failed("read", key, err) from err
        try:
            return json.loads(payload)
        except (ValueError, UnicodeDecodeError) as err:
            msg = f"remote state payload s3://{self._bucket}/{key} is not JSON: {err}"
            raise RemoteStateLostError(msg) from err

    def _failed(self, action: str, key: str, err: Exception) -> RemoteStateError:
        code = _error_code(err)
        detail = f"{code}: {err}" if code else str(err)
        msg = f"could not {action} remote state s3://{self._bucket}/{key}: {detail}"
        return RemoteStateError(msg)


def _error_code(err: Exception) -> str:
    response = getattr(err, "response", None)
    if isinstance(response, Mapping):
        error = response.get("Error")
        if isinstance(error, Mapping):
            return str(error.get("Code", ""))
    return ""
