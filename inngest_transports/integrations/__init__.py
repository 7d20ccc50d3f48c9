"""Middleware that connects runs to observability tools.

Each module imports its tool's package, so import the one you use:

* ``inngest_transports.integrations.opentelemetry``: spans for call requests
  and steps (extra ``inngest-sansio[opentelemetry]``);
* ``inngest_transports.integrations.sentry``: Sentry tags and error capture
  (extra ``inngest-sansio[sentry]``).
"""
