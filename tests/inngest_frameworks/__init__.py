"""Tests of the framework modules, over real HTTP on 127.0.0.1."""
