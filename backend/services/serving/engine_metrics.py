"""What an inference engine's Prometheus text says, in the names dashboards and the replica health
check use (vLLM's names; the local engine exports the same ones)."""

from collections import defaultdict

from prometheus_client.parser import text_string_to_metric_families

_ENGINE_FIELDS = {
    "vllm:num_requests_running": "requests_running",
    "vllm:num_requests_waiting": "requests_waiting",
    "vllm:prompt_tokens_total": "prompt_tokens_total",
    "vllm:generation_tokens_total": "generation_tokens_total",
    "vllm:e2e_request_latency_seconds_sum": "latency_seconds_sum",
    "vllm:e2e_request_latency_seconds_count": "requests_total",
    "vllm:kv_cache_usage_perc": "kv_cache_usage",
}
_OLD_ENGINE_NAMES = {"vllm:gpu_cache_usage_perc": "vllm:kv_cache_usage_perc"}  # vLLM before 0.11


def engine_fields(text: str) -> dict[str, float]:
    """The figures dashboards show, from an engine's Prometheus text (vLLM's names; the local engine uses them too)."""
    found: dict[str, float] = defaultdict(float)
    old: dict[str, float] = defaultdict(float)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in _OLD_ENGINE_NAMES:
                old[_ENGINE_FIELDS[_OLD_ENGINE_NAMES[sample.name]]] += float(sample.value)
            elif (name := _ENGINE_FIELDS.get(sample.name)) is not None:
                found[name] += float(sample.value)
    return {**old, **found}  # an engine that exports both names is read by the new one
