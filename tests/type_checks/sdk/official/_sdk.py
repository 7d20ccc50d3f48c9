"""The sample app's SDK: the official one (``inngest==0.5.19``)."""

import inngest
from inngest import fast_api
from inngest.experimental.ai import openai

__all__ = ["fast_api", "inngest", "openai"]
