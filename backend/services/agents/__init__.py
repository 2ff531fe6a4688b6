"""Agents: definitions and versions, the node catalogue, the graph runtime and its executors, tools,
templates, the market, chat and runs.
"""
