"""Entry points that run as separate processes, supervised by the controller:
``train`` (TRL trainers), ``serve`` (the local OpenAI-compatible engine) and ``ingest``
(knowledge-base import). Each arrives with its issue."""
