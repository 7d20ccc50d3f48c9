"""The sample app's SDK: ours, under the official SDK's names."""

import inngest_proto as inngest
from inngest_frameworks import fast_api
from inngest_proto.experimental.ai import openai

__all__ = ["fast_api", "inngest", "openai"]
