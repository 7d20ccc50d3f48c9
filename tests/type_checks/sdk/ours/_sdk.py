"""The sample app's SDK: ours, under the official SDK's names."""

import inngest_proto as inngest
from inngest_frameworks import fast_api

__all__ = ["fast_api", "inngest"]
