"""The HTTP rerank provider against a real local server (tests/rerank_server.py)."""

import math
import socket

import pytest

from backend.adapters.rerank import HttpReranker, build_reranker
from backend.errors import ErrorCode, MedAIError
from backend.runtime import build_runtime
from backend.settings import Settings
from tests.rerank_server import overlap_score, rerank_server

QUERY = "二甲双胍 metformin dose"
# input order deliberately not best-first: the server answers best-first, so it reorders
TEXTS = [
    "Aspirin for headache",
    "二甲双胍的常用剂量 metformin dose and timing",
    "胍类药物",
    "Metformin dose for type 2 diabetes",
    "",
]


def expected(texts: list[str] = TEXTS, query: str = QUERY) -> list[float]:
    return [overlap_score(query, text) for text in texts]


def test_scores_come_back_in_input_order_when_the_server_answers_best_first():
    log: list[dict] = []
    with rerank_server(requests=log) as url:
        scores = HttpReranker(url).rerank(QUERY, TEXTS)
    assert scores == pytest.approx(expected())
    assert scores[1] == max(scores) and scores[0] == scores[4] == 0.0
    assert 0 < scores[2] < scores[3] < scores[1]
    body = log[0]["body"]
    assert body == {"query": QUERY, "texts": TEXTS, "truncate": True}  # TEI's request, no model when unnamed


def test_the_cohere_jina_shape_is_read_too():
    with rerank_server(shape="cohere") as url:
        scores = HttpReranker(url, model="bge-reranker-v2-m3").rerank(QUERY, TEXTS)
    assert scores == pytest.approx(expected())


def test_raw_logits_are_squashed_into_0_1_keeping_the_order():
    with rerank_server(logits=True) as url:
        scores = HttpReranker(url).rerank(QUERY, TEXTS)
    assert all(0.0 < score < 1.0 for score in scores)
    # sigmoid(logit(p)) == p, up to the stand-in's clipping of 0 and 1
    assert scores == pytest.approx([min(max(p, 1e-4), 1 - 1e-4) for p in expected()], abs=1e-9)
    assert sorted(range(5), key=lambda i: -scores[i])[:3] == [1, 3, 2]


def test_logits_are_squashed_over_the_whole_query_not_per_batch():
    # a batch whose logits all happen to lie in 0..1 must still be squashed like the others
    texts = ["metformin dose", "unrelated words", "metformin"]
    with rerank_server(logits=True) as url:
        batched = HttpReranker(url, max_batch=1).rerank("metformin dose", texts)
        whole = HttpReranker(url).rerank("metformin dose", texts)
    assert batched == pytest.approx(whole)
    assert batched[2] == pytest.approx(0.5)  # logit 0 (half the terms) -> 0.5, not left as 0.0


def test_more_texts_than_the_batch_go_in_several_requests():
    log: list[dict] = []
    texts = [f"metformin passage {i}" if i % 3 == 0 else f"other passage {i}" for i in range(10)]
    with rerank_server(max_batch=4, requests=log) as url:
        scores = HttpReranker(url, max_batch=4).rerank("metformin", texts)
        assert [len(entry["body"]["texts"]) for entry in log] == [4, 4, 2]
        assert scores == [1.0 if i % 3 == 0 else 0.0 for i in range(10)]
        with pytest.raises(MedAIError) as caught:  # a batch the server refuses (TEI: 413)
            HttpReranker(url, max_batch=10).rerank("metformin", texts)
    assert caught.value.code == ErrorCode.UPSTREAM_FAILED
    assert "413" in caught.value.message and "MEDAI_RERANK_MAX_BATCH" in caught.value.remedy


def test_a_key_is_sent_as_bearer_and_a_model_by_name():
    log: list[dict] = []
    with rerank_server(requests=log) as url:
        HttpReranker(url, api_key="rk-secret", model="bge-reranker-v2-m3").rerank("q", ["a"])
        HttpReranker(url).rerank("q", ["a"])
    assert log[0]["headers"]["Authorization"] == "Bearer rk-secret"
    assert log[0]["body"]["model"] == "bge-reranker-v2-m3"
    assert "Authorization" not in log[1]["headers"] and "model" not in log[1]["body"]


def test_no_texts_sends_nothing():
    log: list[dict] = []
    with rerank_server(requests=log) as url:
        assert HttpReranker(url).rerank("q", []) == []
    assert log == []


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _assert_upstream_failed(caught: pytest.ExceptionInfo[MedAIError]) -> None:
    assert caught.value.code == ErrorCode.UPSTREAM_FAILED
    assert caught.value.http_status == 503
    assert "MEDAI_RERANK_URL" in caught.value.remedy


def test_a_down_server_is_upstream_failed_naming_the_setting():
    with pytest.raises(MedAIError) as caught:
        HttpReranker(f"http://127.0.0.1:{_free_port()}", timeout_s=2).rerank("q", ["a"])
    _assert_upstream_failed(caught)
    assert "could not be reached" in caught.value.message


def test_an_http_error_is_upstream_failed():
    with rerank_server(fail=True) as url, pytest.raises(MedAIError) as caught:
        HttpReranker(url).rerank("q", ["a", "b"])
    _assert_upstream_failed(caught)
    assert "500" in caught.value.message and "stand-in told to fail" in caught.value.message


def test_an_answer_that_is_not_json_is_upstream_failed():
    with rerank_server(shape="broken") as url, pytest.raises(MedAIError) as caught:
        HttpReranker(url).rerank("q", ["a"])
    _assert_upstream_failed(caught)


def test_a_slow_server_times_out_as_upstream_failed():
    with rerank_server(delay_s=1.0) as url, pytest.raises(MedAIError) as caught:
        HttpReranker(url, timeout_s=0.2).rerank("q", ["a"])
    _assert_upstream_failed(caught)
    assert "0.2 s" in caught.value.message and "MEDAI_RERANK_TIMEOUT_S" in caught.value.remedy


@pytest.mark.parametrize(
    "payload",
    [
        {"data": []},  # neither shape
        [{"index": 0, "score": 0.5}],  # a text without a score
        [{"index": 0, "score": 0.5}, {"index": 0, "score": 0.4}],  # one text scored twice
        [{"index": 0, "score": 0.5}, {"index": 2, "score": 0.4}],  # an index out of range
        [{"index": 0, "score": "high"}, {"index": 1, "score": 0.4}],  # a score that is not a number
        [{"index": 0, "score": True}, {"index": 1, "score": 0.4}],
        [{"index": 0, "score": float("nan")}, {"index": 1, "score": 0.4}],
        {"results": [{"index": "0", "relevance_score": 0.5}, {"index": 1, "relevance_score": 0.4}]},
    ],
)
def test_malformed_answers_are_refused(payload):
    from backend.adapters.rerank import _scores_in_order

    with pytest.raises(ValueError):
        _scores_in_order(payload, 2)


def test_name_is_the_model_or_the_host():
    assert HttpReranker("http://user:pw@rerank.internal:8080/").name == "rerank.internal:8080"
    assert HttpReranker("http://rerank.internal:8080", model="bge-reranker-v2-m3").name == "bge-reranker-v2-m3"
    assert HttpReranker("https://api.example/v1").endpoint == "https://api.example/v1/rerank"
    assert HttpReranker("https://api.example/v1/rerank/").endpoint == "https://api.example/v1/rerank"


def test_build_reranker_is_none_when_unset(settings):
    assert settings.rerank_url == ""
    assert build_reranker(settings) is None


def test_build_reranker_uses_the_settings_and_hides_the_key(tmp_path, clean_env):
    clean_env.setenv("MEDAI_RERANK_URL", "http://127.0.0.1:9/")
    clean_env.setenv("MEDAI_RERANK_KEY", "rk-very-secret")
    clean_env.setenv("MEDAI_RERANK_MODEL", "bge-reranker-v2-m3")
    clean_env.setenv("MEDAI_RERANK_TIMEOUT_S", "3.5")
    clean_env.setenv("MEDAI_RERANK_MAX_BATCH", "8")
    settings = Settings(data_dir=tmp_path / "data", _env_file=None)
    reranker = build_reranker(settings)
    assert isinstance(reranker, HttpReranker)
    assert (reranker.endpoint, reranker.name, reranker.timeout_s, reranker.max_batch) == (
        "http://127.0.0.1:9/rerank",
        "bge-reranker-v2-m3",
        3.5,
        8,
    )
    assert "rk-very-secret" not in repr(settings) and "rk-very-secret" not in repr(reranker)


def test_the_runtime_wires_the_reranker(tmp_path, clean_env):
    with rerank_server() as url:
        runtime = build_runtime(Settings(data_dir=tmp_path / "on", rerank_url=url, _env_file=None))
        try:
            reranker = runtime.knowledge.reranker
            assert reranker is not None
            assert reranker.rerank("metformin", ["metformin dose", "aspirin"]) == [1.0, 0.0]
        finally:
            runtime.engine.dispose()
    off = build_runtime(Settings(data_dir=tmp_path / "off", _env_file=None))
    try:
        assert off.knowledge.reranker is None
    finally:
        off.engine.dispose()


def test_the_stand_in_scores_han_characters_and_words():
    assert math.isclose(overlap_score("心梗 MI", "急性心肌梗死"), 2 / 3)  # 心, 梗 found; "mi" is not
    assert overlap_score("Metformin, dose!", "METFORMIN dose") == 1.0
    assert overlap_score("？！", "anything") == 0.0
