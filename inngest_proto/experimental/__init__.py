"""Experimental APIs, named as in the official SDK's ``inngest.experimental``."""
