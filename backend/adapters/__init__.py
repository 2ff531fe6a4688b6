"""Adapters: one interface per external system, one module per implementation.

An embedded implementation needs nothing but ``pip install``; the production one talks to
the real system. Which one runs is decided by ``backend.settings`` only.
"""
