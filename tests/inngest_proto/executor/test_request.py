"""The call request's URL: the runtime URL with ``stepId`` set."""

from __future__ import annotations

import urllib.parse

from hypothesis import given
from hypothesis import strategies as st

from inngest_proto.executor._request import target_url
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


_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
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
