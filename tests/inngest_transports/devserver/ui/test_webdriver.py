"""The WebDriver client itself, against a static page on 127.0.0.1."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ._webdriver import Browser, NoSuchElement, WaitTimeout

PAGE = b"""<!doctype html><html><head><title>static</title>
<link rel="icon" href="data:,"></head><body><h1 id="title">Hello</h1>
<form><input name="name" value="old"><textarea name="data">{}</textarea>
<select id="pick"><option value="">any</option><option value="B">Bee</option></select>
<button id="go" type="button" disabled>go</button></form>
<p id="out"></p>
<img id="by-ip" src="/pixel.png"><img id="by-name" src="http://localhost:PORT/pixel.png">
<script>
const out = document.getElementById('out');
document.getElementById('pick').addEventListener('change', e => {
  document.getElementById('go').disabled = e.target.value === '';
});
document.getElementById('go').addEventListener('click', () => {
  const f = document.forms[0];
  out.dataset.done = 'yes';
  const picked = f.querySelector('select').value;
  out.textContent = f.name.value + ' ' + f.data.value + ' ' + picked;
});
</script></body></html>"""
# The smallest valid PNG: one transparent pixel.
PIXEL = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        port = self.server.server_port  # type: ignore[attr-defined]
        body, kind = (
            (PIXEL, "image/png")
            if self.path == "/pixel.png"
            else (PAGE.replace(b"PORT", str(port).encode()), "text/html")
        )
        self.send_response(200)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def static_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_find_type_select_click_script_screenshot(
    browser: Browser, static_url: str, tmp_path: Path
) -> None:
    browser.navigate(f"{static_url}/")
    assert browser.url == f"{static_url}/"
    assert browser.find("#title").text == "Hello"
    assert browser.find("input").attribute("name") == "name"
    assert browser.find("input").attribute("missing") is None
    assert [
        e.prop("tagName") for e in browser.find("form").find_all("input, textarea")
    ] == [
        "INPUT",
        "TEXTAREA",
    ]
    field = browser.find('input[name="name"]')
    field.clear()
    field.send_keys("ev/x")
    data = browser.find("textarea")
    data.clear()
    data.send_keys('{"a": [1, 2]}')
    go = browser.find("#go")
    assert not go.enabled
    browser.find("#pick").select("B")
    assert go.enabled
    with pytest.raises(ValueError, match="no option 'C'"):
        browser.find("#pick").select("C")
    go.click()
    out = browser.wait_until(
        lambda: browser.find('#out[data-done="yes"]'), 2, "the click's result"
    )
    assert out.text == 'ev/x {"a": [1, 2]} B'
    assert browser.execute("return arguments[0] + 1;", 41) == 42

    png = browser.screenshot(tmp_path / "nested" / "static.png")
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_missing_element_and_wait_timeout(browser: Browser, static_url: str) -> None:
    browser.navigate(f"{static_url}/")
    with pytest.raises(NoSuchElement):
        browser.find("#nope")
    assert browser.find_all("#nope") == []
    with pytest.raises(WaitTimeout) as caught:
        browser.wait_until(lambda: browser.find("#nope"), 0.2, "#nope")
    report = str(caught.value)
    assert "waiting for #nope" in report
    assert f"url: {static_url}/" in report
    assert "Hello" in report  # An excerpt of the page's text.
    assert "no such element" in report


def test_host_names_do_not_resolve(browser: Browser, static_url: str) -> None:
    """The same image loads by IP and fails by name: Chromium's resolver
    refuses every name, so nothing can reach beyond 127.0.0.1 by host name."""
    browser.navigate(f"{static_url}/")

    def loaded(css: str) -> Any:
        return browser.execute(
            "const i = document.querySelector(arguments[0]);"
            "return i.complete ? i.naturalWidth : null;",
            css,
        )

    assert browser.wait_until(lambda: loaded("#by-ip") is not None, 5) is True
    assert loaded("#by-ip") == 1
    browser.wait_until(lambda: loaded("#by-name") is not None, 5)
    assert loaded("#by-name") == 0
