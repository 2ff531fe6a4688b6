"""Orchestration: compute clusters, resource pools and queues with quotas, scheduling, pipelines and
the controller loop that reconciles jobs, services and workbenches.
"""
