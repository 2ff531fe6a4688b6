"""Contracts between layers: the specs services hand to workers and to compute backends. They import
nothing of the platform's own.
"""
