"""Puts tools/ on ``sys.path`` before any test module is imported (see testkit.py), so the tests of the
maintainer scripts can ``import synth``, ``import benchmark`` and ``import experiments``."""

import testkit  # noqa: F401
