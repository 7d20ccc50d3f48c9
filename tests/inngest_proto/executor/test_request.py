"""The call request's URL: the runtime URL with ``stepId`` set."""

from __future__ import annotations

import urllib.parse
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from inngest_proto._jcs import canonicalize
from inngest_proto.executor._request import CallBodies, target_url
from inngest_proto.wire import query_from_url


def reencoded(runtime_url: str, step_id: str) -> str:
    """The runtime URL's query parsed, ``stepId`` dropped and set last, and
    encoded again: what the cached split in ``target_url`` must equal."""
    parts = urllib.parse.urlsplit(runtime_url)
    query = [
        (name, value)
        for name, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        if name != "stepId"
    ]
    query.append(("stepId", step_id))
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


_text = st.text(st.characters(codec="utf-8"), max_size=12)
_params = st.lists(
    st.tuples(st.sampled_from(["fnId", "stepId", "x", "a b", "é"]) | _text, _text),
    max_size=4,
)


@given(
    params=_params,
    raw_query=st.sampled_from(["", "&&", "fnId", "=x", "a=1&&b=%zz", "x=%2B+"]),
    path=st.sampled_from(["/api/inngest", "", "/a b/é"]),
    fragment=st.sampled_from(["", "frag", "a?b=c"]),
    step_id=st.sampled_from(["step", "da711ada135f3605d52e620647de79b081a3c858"])
    | _text,
)
def test_the_step_is_set_last_and_the_rest_of_the_url_kept(
    params: list[tuple[str, str]],
    raw_query: str,
    path: str,
    fragment: str,
    step_id: str,
) -> None:
    query = "&".join(q for q in (urllib.parse.urlencode(params), raw_query) if q)
    runtime_url = urllib.parse.urlunsplit(
        ("http", "127.0.0.1:8000", path, query, fragment)
    )

    url = target_url(runtime_url, step_id)

    assert url == reencoded(runtime_url, step_id)
    assert query_from_url(url)["stepId"] == step_id
    # The second call of a function is answered from the cache: the same URL.
    assert target_url(runtime_url, step_id) == url


_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**60), max_value=2**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(codec="utf-8"), max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.text(st.characters(codec="utf-8"), max_size=4),
            inner,
            max_size=3,
        )
    ),
    max_leaves=8,
)
_step_ids = st.sampled_from(["a", "b", "ca", "\U0001f600", "\uffff", "é", "z"])


@given(
    calls=st.lists(
        st.tuples(
            st.sampled_from(["run-1", "run-2"]),
            st.sampled_from(["add", "replace", "new events", "other event", "same"]),
            _step_ids,
            _json_values,
        ),
        min_size=1,
        max_size=12,
    ),
    max_bytes=st.sampled_from([0, 40, 16 * 1024 * 1024]),
    version=st.sampled_from([-1, 2, 2**60]),
)
def test_bodies_written_from_kept_pieces_are_the_canonical_body(
    calls: list[tuple[str, str, str, Any]], max_bytes: int, version: int
) -> None:
    """Memos added, replaced by new objects, events replaced, an event that
    is not the first of the events, two runs taking turns and pieces
    evicted: every body is byte for byte what canonicalizing it whole gives."""
    bodies = CallBodies(max_bytes=max_bytes)
    runs: dict[str, dict[str, Any]] = {}
    for run_id, change, step_id, value in calls:
        run = runs.setdefault(
            run_id, {"events": [{"name": "t/go", "data": {"v": 1.5}}], "steps": {}}
        )
        if change == "add":
            run["steps"].setdefault(step_id, {"data": value})
        elif change == "replace":
            run["steps"][step_id] = {"data": value}
        elif change == "new events":
            run["events"] = [{"name": "t/go", "data": value}, {"name": "t/again"}]
        body = {
            "ctx": {"run_id": run_id, "stack": {"stack": list(run["steps"])}},
            "defers": {},
            "event": {"name": "t/other", "data": value}
            if change == "other event"
            else run["events"][0],
            "events": run["events"],
            "steps": dict(run["steps"]),
            "use_api": False,
            "version": version,
        }

        assert bodies.canonical(run_id, body) == canonicalize(body)
