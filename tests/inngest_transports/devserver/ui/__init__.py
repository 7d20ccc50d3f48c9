"""End-to-end tests of the dev server's web UI in headless Chromium."""
