"""Server-rendered pages for browsers without JavaScript (``/ui/plain``).

Plain HTML, no script, a few lines of inline CSS; every value shown goes
through :func:`html.escape`.  They render the same dicts as the JSON API
(:mod:`._ui_api`) returns.
"""

from __future__ import annotations

import datetime
import html
import json
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["event_page", "index_page", "login_page", "message_page", "run_page"]

_STYLE = (
    ":root{color-scheme:light dark}"
    "body{font-family:system-ui,sans-serif;margin:1.5rem;max-width:70rem}"
    # Wide tables scroll in their own box: the page never does (phones).
    "table{border-collapse:collapse;display:block;overflow-x:auto;max-width:100%}"
    "td,th{padding:.2rem .6rem;text-align:left;"
    "border-bottom:1px solid #8884;vertical-align:top}"
    "pre{background:#8881;padding:.4rem;overflow:auto;max-height:20rem;"
    "white-space:pre-wrap;overflow-wrap:anywhere}"
    "input,textarea{max-width:100%;box-sizing:border-box}"
    "h1{overflow-wrap:anywhere}"
    ".failed{color:#c22}.completed{color:#2a2}"
    "@media (max-width:600px){body{margin:.75rem}}"
)


#: Timeline statuses of a step still waiting for its deadline.
_OPEN = ("sleeping", "waiting")


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _time(at: float | None) -> str:
    if at is None:
        return ""
    moment = datetime.datetime.fromtimestamp(at, datetime.timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _json_text(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def _page(title: str, body: Iterable[str]) -> str:
    return "\n".join(
        [
            "<!doctype html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{_e(title)} - Inngest dev server</title>",
            '<link rel="icon" href="/ui/favicon.svg" type="image/svg+xml">',
            f"<style>{_STYLE}</style></head><body>",
            '<p><a href="/ui/plain">Runs and events</a> | <a href="/">Full UI</a></p>',
            f"<h1>{_e(title)}</h1>",
            *body,
            "</body></html>",
        ]
    )


def message_page(title: str, message: str) -> str:
    """A page that only says something (an error, a missing run)."""
    return _page(title, [f"<p>{_e(message)}</p>"])


def login_page(error: str | None = None) -> str:
    """The sign-in form of a server with a signing key."""
    body = [
        "<p>This dev server has a signing key: open the link it printed when"
        " it started, or enter the signing key.</p>",
        '<form method="post" action="/ui/login">',
        '<p><label>Signing key <input name="key" type="password" size="70"'
        ' autocomplete="off" required autofocus></label></p>',
        '<p><button type="submit">Sign in</button></p></form>',
    ]
    if error:
        body.insert(0, f'<p class="failed" role="alert">{_e(error)}</p>')
    return _page("Sign in", body)


def _older_link(
    query: Mapping[str, str], cursor_param: str, cursor: str | None, text: str
) -> str:
    """A link to the next page of one list, keeping the filters."""
    if cursor is None:
        return ""
    params = {k: v for k, v in query.items() if v and k != cursor_param}
    params[cursor_param] = cursor
    href = "/ui/plain?" + urllib.parse.urlencode(params)
    return f'<p><a class="older" href="{_e(href)}">{_e(text)}</a></p>'


def _filter_form(query: Mapping[str, str]) -> list[str]:
    def field(name: str, label: str, size: int = 20) -> str:
        value = _e(query.get(name, ""))
        return (
            f'<label>{_e(label)} <input name="{name}" value="{value}"'
            f' size="{size}"></label> '
        )

    checked = " checked" if query.get("internal") in ("1", "true") else ""
    return [
        '<form method="get" action="/ui/plain"><p>',
        field("status", "Run status"),
        field("function", "Function"),
        field("query", "Query (CEL)", 30),
        field("name", "Event name"),
        f'<label><input type="checkbox" name="internal" value="1"{checked}>'
        " internal events</label> ",
        '<button type="submit">Filter</button> <a href="/ui/plain">clear</a>',
        "</p></form>",
    ]


def index_page(
    runs: Iterable[Mapping[str, Any]],
    events: Iterable[Mapping[str, Any]],
    *,
    query: Mapping[str, str] | None = None,
    runs_cursor: str | None = None,
    events_cursor: str | None = None,
) -> str:
    """A page of runs and one of events (filtered as ``query`` says, each
    with a link to its next page), and a form to send an event."""
    query = query or {}
    body = [
        "<h2>Send an event</h2>",
        '<form method="post" action="/ui/plain/events">',
        '<p><label>Name <input name="name" required></label></p>',
        '<p><label>Data (JSON)<br><textarea name="data" rows="4" cols="60">'
        "{}</textarea></label></p>",
        '<p><button type="submit">Send</button></p></form>',
        "<h2>Filter</h2>",
        *_filter_form(query),
        "<h2>Runs</h2>",
        "<table><tr><th>Function</th><th>Status</th><th>Started</th><th>Run</th></tr>",
    ]
    for run in runs:
        run_id = run["run_id"]
        body.append(
            f"<tr><td>{_e(run['function_name'])}</td>"
            f'<td class="{_e(str(run["status"]).lower())}">{_e(run["status"])}</td>'
            f"<td>{_e(_time(run['started_at']))}</td>"
            f'<td><a href="/ui/plain/runs/{_e(run_id)}">{_e(run_id)}</a></td></tr>'
        )
    body += [
        "</table>",
        _older_link(query, "runs_cursor", runs_cursor, "Older runs"),
        "<h2>Events</h2>",
        "<table><tr><th>Name</th><th>Received</th><th>Data</th><th>Runs</th></tr>",
    ]
    for event in events:
        links = " ".join(
            f'<a href="/ui/plain/runs/{_e(r["run_id"])}">{_e(r["status"])}</a>'
            for r in event["runs"]
        )
        href = f"/ui/plain/events/{urllib.parse.quote(event['internal_id'], safe='')}"
        body.append(
            f'<tr><td><a href="{_e(href)}">{_e(event["name"])}</a></td>'
            f"<td>{_e(_time(event['received_at']))}</td>"
            f"<td><pre>{_e(_json_text(event['data']))}</pre></td>"
            f"<td>{links}</td></tr>"
        )
    body += [
        "</table>",
        _older_link(query, "events_cursor", events_cursor, "Older events"),
    ]
    return _page("Inngest dev server", body)


def event_page(event: Mapping[str, Any]) -> str:
    """One event: its payload, the runs it started and the waits it resumed."""
    body = [
        f"<p>Event <b>{_e(event['name'])}</b>, id {_e(event['id'])};"
        f" received {_e(_time(event['received_at']))}</p>",
        f"<h2>Payload</h2><pre>{_e(_json_text(event['event']))}</pre>",
        "<h2>Runs it started</h2><ul>",
    ]
    for run in event["runs"]:
        body.append(
            f'<li><a href="/ui/plain/runs/{_e(run["run_id"])}">{_e(run["run_id"])}'
            f"</a> {_e(run['function_id'])}: {_e(run['status'])}</li>"
        )
    body.append("</ul><h2>Waits it resumed</h2><ul>")
    for wait in event["resumed"]:
        body.append(
            f'<li><a href="/ui/plain/runs/{_e(wait["run_id"])}">'
            f"{_e(wait['run_id'])}</a> step {_e(wait['step_name'])}</li>"
        )
    body.append("</ul>")
    return _page(f"Event {event['name']}", body)


def _error_html(error: Mapping[str, Any] | None) -> str:
    if not error:
        return ""
    stack = error.get("stack")
    name, message = _e(error.get("name")), _e(error.get("message"))
    out = f'<p class="failed"><b>{name}</b>: {message}</p>'
    return out + (f"<pre>{_e(stack)}</pre>" if stack else "")


def _item_html(item: Mapping[str, Any]) -> str:
    parts = [
        f"<li><b>{_e(item['name'])}</b> ({_e(item['kind'])}): "
        f'<span class="{_e(item["status"])}">{_e(item["status"])}</span>'
    ]
    if item.get("duration_ms") is not None:
        parts.append(f" in {item['duration_ms']:.0f} ms")
    if item.get("deadline") is not None and item["status"] in _OPEN:
        parts.append(f", until {_e(_time(item['deadline']))}")
    if item.get("child_run_id"):
        parts.append(f", child run {_run_link(item['child_run_id'])}")
    if item.get("wait"):
        parts.append(f", waiting for {_e(item['wait'].get('event'))}")
    attempts = item.get("attempts") or []
    if len(attempts) > 1 or any(a["status"] != "completed" for a in attempts):
        parts.append("<ol>")
        for attempt in attempts:
            parts.append(
                f"<li>attempt {_e(attempt['attempt'])}: {_e(attempt['status'])}"
                f"{_error_html(attempt.get('error'))}</li>"
            )
        parts.append("</ol>")
    if item.get("output") is not None:
        parts.append(f"<pre>{_e(_json_text(item['output']))}</pre>")
    parts.append(_error_html(item.get("error")))
    parts.append("</li>")
    return "".join(parts)


def _run_link(run_id: Any) -> str:
    return f'<a href="/ui/plain/runs/{_e(run_id)}">{_e(run_id)}</a>'


#: Why a run waited, by ``delays[].reason`` (as the JS page words it).
_DELAY_TEXT = {
    "throttle": "Throttled",
    "concurrency": "Waited for a concurrency slot",
    "debounce": "Debounced",
}


def _relations_html(run: Mapping[str, Any]) -> list[str]:
    """The runs a run is linked to, and why it waited."""
    out = []
    if run.get("rerun_of"):
        out.append(f"<p>Rerun of {_run_link(run['rerun_of'])}</p>")
    if run.get("reruns"):
        links = ", ".join(_run_link(r) for r in run["reruns"])
        out.append(f"<p>Rerun as {links}</p>")
    invoked_by = run.get("invoked_by")
    if invoked_by:
        caller = invoked_by.get("run_id")
        by = _run_link(caller) if caller else "the UI or the API"
        out.append(f"<p>Invoked by {by}</p>")
    for delay in run.get("delays") or []:
        reason = _DELAY_TEXT.get(delay["reason"], _e(delay["reason"]))
        if delay.get("seconds") is None:
            out.append(f"<p>{reason} since {_e(_time(delay['since']))}</p>")
        else:
            seconds = delay["seconds"]
            out.append(f"<p>{reason} for {seconds:.1f} s</p>")
    return out


def run_page(run: Mapping[str, Any]) -> str:
    """One run: status, output or error, trigger events and timeline."""
    body = [
        f"<p>Function <b>{_e(run['function_name'])}</b>, run {_e(run['run_id'])}</p>",
        f'<p>Status: <b class="{_e(str(run["status"]).lower())}">'
        f"{_e(run['status'])}</b>; started {_e(_time(run['started_at']))}"
        + (f", ended {_e(_time(run['ended_at']))}" if run["ended_at"] else "")
        + "</p>",
        *_relations_html(run),
    ]
    if run.get("output") is not None:
        body.append(f"<h2>Output</h2><pre>{_e(_json_text(run['output']))}</pre>")
    if run.get("error"):
        body.append("<h2>Error</h2>" + _error_html(run["error"]))
    body.append("<h2>Timeline</h2><ol>")
    body.extend(_item_html(item) for item in run["timeline"])
    body.append("</ol><h2>Events</h2>")
    body.append(f"<pre>{_e(_json_text(run['events']))}</pre>")
    return _page(f"Run {run['run_id']}", body)
