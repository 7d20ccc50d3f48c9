"""Django, configured once per process for every test that serves through it.

This module is Django's ``ROOT_URLCONF``; a test routes ``urlpatterns`` to the
app it needs with :func:`route`.
"""

from __future__ import annotations

import sys
import types
from typing import Any

import django  # type: ignore[import-untyped,unused-ignore]
from django.conf import settings  # type: ignore[import-untyped,unused-ignore]

#: WSGI environ key naming the URL conf module of the server that got a request.
URLCONF_KEY = "tests.urlconf"


def urlconf_from_environ(get_response: Any) -> Any:
    """Middleware: route with the URL conf the serving host names, if any.

    Django's ``ROOT_URLCONF`` is process-wide; servers that run side by side
    (the adapter suite keeps several) each name their own conf instead.
    """

    def middleware(request: Any) -> Any:
        name = request.META.get(URLCONF_KEY)
        if name:
            request.urlconf = name
        return get_response(request)

    return middleware


if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="tests-only",
        ROOT_URLCONF=__name__,
        # The adapter suite replays recorded requests, Host header included.
        ALLOWED_HOSTS=["127.0.0.1"],
        INSTALLED_APPS=[],
        # CSRF checks on: the view must be exempt for Inngest's POSTs to pass.
        MIDDLEWARE=[
            "tests.django_site.urlconf_from_environ",
            "django.middleware.common.CommonMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
        ],
        USE_TZ=True,
    )
    django.setup()

# Imported once settings are configured.
from django.core.handlers.asgi import ASGIHandler  # type: ignore[import-untyped,unused-ignore]  # noqa: E402
from django.core.handlers.wsgi import WSGIHandler  # type: ignore[import-untyped,unused-ignore]  # noqa: E402
from django.urls import URLPattern, clear_url_caches  # type: ignore[import-untyped,unused-ignore]  # noqa: E402

__all__ = [
    "URLCONF_KEY",
    "ASGIHandler",
    "URLPattern",
    "WSGIHandler",
    "own_urlconf",
    "route",
    "urlpatterns",
]

#: What Django routes; set by :func:`route`.
urlpatterns: list[URLPattern] = []


def route(pattern: URLPattern) -> None:
    urlpatterns[:] = [pattern]
    clear_url_caches()  # Django caches the resolver built from the old list


def own_urlconf(name: str, pattern: URLPattern) -> str:
    """A URL conf module of its own routing to ``pattern``; returns its name."""
    module = types.ModuleType(name)
    module.urlpatterns = [pattern]  # type: ignore[attr-defined]
    sys.modules[name] = module
    return name
