"""A tiny W3C WebDriver client over httpx, for headless Chromium on 127.0.0.1.

Only what the UI tests need: open a page, find elements by CSS, read their
text and attributes, click, type, pick an ``<option>``, run a script, save a
screenshot, and wait for a condition with an error that says where the page
was.  :func:`chromium` starts ``chromedriver`` (listening on the loopback
interface only) and one browser session, and always ends both.

Chromium's own background traffic (updates, safe browsing, metrics, sync)
is turned off by flags, and its host resolver fails every name, so a page
that referenced a CDN would break visibly instead of reaching the network.
"""

from __future__ import annotations

import base64
import contextlib
import re
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx

#: The key W3C WebDriver uses for an element reference in JSON.
ELEMENT_KEY = "element-6066-11e4-a52e-4f735466cecf"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
DEFAULT_CHROMEDRIVER = "/usr/bin/chromedriver"
#: Seconds chromedriver may take to say which port it listens on.
DRIVER_START_TIMEOUT = 15.0
#: Characters of the page's text a timeout error quotes.
EXCERPT_CHARS = 600

T = TypeVar("T")

_STARTED = re.compile(r"started successfully on port (\d+)")


class WebDriverError(Exception):
    """An error answer from chromedriver (``error`` is the W3C error code)."""

    def __init__(self, error: str, message: str) -> None:
        super().__init__(f"{error}: {message}")
        self.error = error
        self.message = message


class NoSuchElement(WebDriverError):
    """No element matched the selector."""


class StaleElement(WebDriverError):
    """The element left the document (the page re-rendered it)."""


class WaitTimeout(AssertionError):
    """:meth:`Browser.wait_until` gave up; says where the page was."""


def chromium_args(user_data_dir: str, window: tuple[int, int]) -> list[str]:
    """Command-line flags for a quiet, headless, loopback-only Chromium."""
    return [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--disable-domain-reliability",
        "--disable-client-side-phishing-detection",
        "--metrics-recording-only",
        # Direct connections only (ignore any *_proxy variable), and every
        # host name but the loopback address fails to resolve.
        "--no-proxy-server",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        f"--window-size={window[0]},{window[1]}",
        f"--user-data-dir={user_data_dir}",
    ]


class Element:
    """A reference to one element of the current page."""

    def __init__(self, browser: Browser, element_id: str, selector: str) -> None:
        self.browser = browser
        self.id = element_id
        self.selector = selector

    def __repr__(self) -> str:
        return f"<Element {self.selector!r}>"

    def _path(self, tail: str = "") -> str:
        return f"/element/{self.id}{tail}"

    def find(self, css: str) -> Element:
        """The first descendant matching ``css``; :class:`NoSuchElement` if none."""
        value = self.browser._call("POST", self._path("/element"), _by_css(css))
        return Element(self.browser, _element_id(value), f"{self.selector} {css}")

    def find_all(self, css: str) -> list[Element]:
        """Every descendant matching ``css``, in document order."""
        values = self.browser._call("POST", self._path("/elements"), _by_css(css))
        return [
            Element(self.browser, _element_id(v), f"{self.selector} {css}")
            for v in values
        ]

    @property
    def text(self) -> str:
        """The rendered text (what a user sees, whitespace collapsed)."""
        return str(self.browser._call("GET", self._path("/text")))

    def attribute(self, name: str) -> str | None:
        """The attribute ``name``, or None when the element has none."""
        value = self.browser._call("GET", self._path(f"/attribute/{name}"))
        return None if value is None else str(value)

    def prop(self, name: str) -> Any:
        """The DOM property ``name`` (e.g. ``value`` of an input)."""
        return self.browser._call("GET", self._path(f"/property/{name}"))

    @property
    def enabled(self) -> bool:
        return bool(self.browser._call("GET", self._path("/enabled")))

    def click(self) -> None:
        self.browser._call("POST", self._path("/click"), {})

    def clear(self) -> None:
        self.browser._call("POST", self._path("/clear"), {})

    def send_keys(self, text: str) -> None:
        """Type ``text`` into the element (appends to what it holds)."""
        self.browser._call("POST", self._path("/value"), {"text": text})

    def select(self, value: str) -> None:
        """Pick the ``<option>`` of this ``<select>`` whose value is ``value``."""
        for option in self.find_all("option"):
            if option.prop("value") == value:
                option.click()
                return
        values = [o.prop("value") for o in self.find_all("option")]
        raise ValueError(f"{self!r} has no option {value!r}; it has {values!r}")


class Browser:
    """One WebDriver session: the page the tests drive."""

    def __init__(self, http: httpx.Client, session_id: str) -> None:
        self.http = http
        self.session_id = session_id

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        url = f"/session/{self.session_id}{path}"
        resp = self.http.request(method, url, json=body)
        return _value(resp)

    def navigate(self, url: str) -> None:
        """Load ``url`` and wait for the document to finish loading."""
        self._call("POST", "/url", {"url": url})

    @property
    def url(self) -> str:
        return str(self._call("GET", "/url"))

    def find(self, css: str) -> Element:
        """The first element matching ``css``; :class:`NoSuchElement` if none."""
        return Element(
            self, _element_id(self._call("POST", "/element", _by_css(css))), css
        )

    def find_all(self, css: str) -> list[Element]:
        """Every element matching ``css``, in document order."""
        values = self._call("POST", "/elements", _by_css(css))
        return [Element(self, _element_id(v), css) for v in values]

    def execute(self, script: str, *args: Any) -> Any:
        """Run ``script`` (a function body: use ``return``) with ``arguments``."""
        return self._call(
            "POST", "/execute/sync", {"script": script, "args": list(args)}
        )

    def screenshot(self, path: Path) -> Path:
        """Save a PNG of the viewport to ``path`` (parents created)."""
        png = base64.b64decode(self._call("GET", "/screenshot"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png)
        return path

    def set_viewport(self, width: int, height: int) -> None:
        """Size the window so the page itself gets ``width`` x ``height``
        (``--window-size`` counts the window's frame too)."""
        inner = self.execute("return [window.innerWidth, window.innerHeight];")
        rect = self._call("GET", "/window/rect")
        self._call(
            "POST",
            "/window/rect",
            {
                "width": rect["width"] + width - inner[0],
                "height": rect["height"] + height - inner[1],
            },
        )

    def color_scheme(self, scheme: str) -> None:
        """Make the page see ``prefers-color-scheme: scheme`` (``"light"``,
        ``"dark"``; ``""`` for the system's), through Chromium's DevTools."""
        features = [{"name": "prefers-color-scheme", "value": scheme}]
        self._call(
            "POST",
            "/goog/cdp/execute",
            {"cmd": "Emulation.setEmulatedMedia", "params": {"features": features}},
        )

    def page_text(self) -> str:
        """The visible text of the whole page ('' before a body exists)."""
        text = self.execute("return document.body ? document.body.innerText : '';")
        return str(text or "")

    def wait_until(
        self,
        predicate: Callable[[], T],
        timeout: float = 5.0,
        message: str = "",
        poll: float = 0.05,
    ) -> T:
        """Call ``predicate`` every ``poll`` s until it returns something truthy.

        Returns what it returned.

        A missing or re-rendered element while waiting counts as "not yet".
        After ``timeout`` s, raises :class:`WaitTimeout` naming the current
        URL, an excerpt of the page's text and the last element error.
        """
        deadline = time.monotonic() + timeout
        last_error: WebDriverError | None = None
        while True:
            try:
                result = predicate()
            except (NoSuchElement, StaleElement) as exc:
                last_error = exc
            else:
                if result:
                    return result
                last_error = None
            if time.monotonic() >= deadline:
                raise WaitTimeout(self._timeout_report(message, timeout, last_error))
            time.sleep(poll)

    def retrying(self, read: Callable[[], T], timeout: float = 5.0) -> T:
        """``read()``, again while it meets a re-rendered (stale) element.

        The UI re-renders a page when the server's data changes; a test
        reading several elements of it wraps the reading in one function.
        Any other error (a failed assertion included) propagates at once.
        """
        deadline = time.monotonic() + timeout
        while True:
            try:
                return read()
            except StaleElement:
                if time.monotonic() >= deadline:
                    raise
            time.sleep(0.05)

    def _timeout_report(
        self, message: str, timeout: float, last_error: WebDriverError | None
    ) -> str:
        try:
            where, text = self.url, self.page_text()
        except WebDriverError as exc:  # The page itself is broken: say so.
            where, text = "?", f"(page unreadable: {exc})"
        excerpt = " ".join(text.split())[:EXCERPT_CHARS]
        lines = [
            f"timed out after {timeout:g} s waiting for {message or 'a condition'}",
            f"  url: {where}",
            f"  page text: {excerpt!r}",
        ]
        if last_error is not None:
            lines.append(f"  last error: {last_error}")
        return "\n".join(lines)

    def wait_for(self, css: str, timeout: float = 5.0) -> Element:
        """The first element matching ``css``, once there is one."""
        return self.wait_until(lambda: self.find(css), timeout, f"element {css!r}")


def _by_css(css: str) -> dict[str, str]:
    return {"using": "css selector", "value": css}


def _element_id(value: Any) -> str:
    if not isinstance(value, dict) or ELEMENT_KEY not in value:
        raise WebDriverError(
            "unexpected answer", f"not an element reference: {value!r}"
        )
    return str(value[ELEMENT_KEY])


def _value(resp: httpx.Response) -> Any:
    """The ``value`` of a WebDriver answer; its error as an exception."""
    try:
        body = resp.json()
    except ValueError:
        raise WebDriverError(
            "unexpected answer", f"HTTP {resp.status_code}: {resp.text[:200]!r}"
        ) from None
    value = body.get("value") if isinstance(body, dict) else None
    if resp.status_code >= 400 or (isinstance(value, dict) and "error" in value):
        error = value.get("error", "unknown error") if isinstance(value, dict) else "?"
        message = value.get("message", "") if isinstance(value, dict) else str(body)
        kind = {
            "no such element": NoSuchElement,
            "stale element reference": StaleElement,
        }
        raise kind.get(error, WebDriverError)(error, message.split("\n")[0])
    return value


def _wait_for_port(proc: subprocess.Popen[bytes], log: Path) -> int:
    """The port chromedriver reports it listens on (it picks a free one)."""
    deadline = time.monotonic() + DRIVER_START_TIMEOUT
    while time.monotonic() < deadline:
        found = _STARTED.search(log.read_text(errors="replace"))
        if found:
            return int(found.group(1))
        if proc.poll() is not None:
            break
        time.sleep(0.02)
    raise RuntimeError(f"chromedriver did not start; its log:\n{log.read_text()}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@contextmanager
def chromium(
    *,
    binary: str = DEFAULT_CHROMIUM,
    chromedriver: str = DEFAULT_CHROMEDRIVER,
    window: tuple[int, int] = (1280, 800),
) -> Iterator[Browser]:
    """A headless Chromium session, driven through a private chromedriver.

    Pages get a ``window`` (width, height) viewport.  chromedriver gets
    ``--port=0`` (it picks a free port and logs it) and no
    ``--allowed-ips``: with an allowlist it would listen on every
    interface, without one it binds the loopback interface only.  The
    session is deleted and the driver stopped on the way out, failure or not.
    """
    with ExitStack() as stack:
        tmp = Path(
            stack.enter_context(tempfile.TemporaryDirectory(ignore_cleanup_errors=True))
        )
        log_path = tmp / "chromedriver.log"
        log = stack.enter_context(log_path.open("wb"))
        proc = subprocess.Popen(
            [chromedriver, "--port=0"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        stack.callback(_stop, proc)
        port = _wait_for_port(proc, log_path)
        http = stack.enter_context(
            # trust_env=False: no proxy variable may route loopback calls elsewhere.
            httpx.Client(
                base_url=f"http://127.0.0.1:{port}", timeout=30, trust_env=False
            )
        )
        profile = tmp / "profile"
        profile.mkdir()
        capabilities = {
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "timeouts": {"implicit": 0, "pageLoad": 15_000, "script": 5_000},
            "goog:chromeOptions": {
                "binary": binary,
                "args": chromium_args(str(profile), window),
            },
        }
        created = _value(
            http.post("/session", json={"capabilities": {"alwaysMatch": capabilities}})
        )
        browser = Browser(http, str(created["sessionId"]))
        stack.callback(_delete_session, browser)
        browser.set_viewport(*window)
        yield browser


def _delete_session(browser: Browser) -> None:
    # If the driver died already, there is no session to delete.
    with contextlib.suppress(httpx.HTTPError):
        browser.http.delete(f"/session/{browser.session_id}")
