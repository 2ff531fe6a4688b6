"""MedAI Studio backend: plain Python services, adapters and APIs (never imports reflex)."""
