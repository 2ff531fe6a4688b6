"""Serving: model services on the local engine or vLLM, the OpenAI-compatible gateway (routing,
failover, limits, metering), embeddings and the starter model.
"""
