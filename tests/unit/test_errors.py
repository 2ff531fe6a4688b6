import logging

import pytest

from backend.errors import ErrorCode, MedAIError, as_medai_error


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (ErrorCode.DATA_INVALID, 422),
        (ErrorCode.FORBIDDEN, 403),
        (ErrorCode.NOT_FOUND, 404),
        (ErrorCode.RESOURCE_INSUFFICIENT, 503),
        (ErrorCode.UPSTREAM_TIMEOUT, 504),
        (ErrorCode.TASK_FAILED, 500),
        (ErrorCode.RATE_LIMITED, 429),
    ],
)
def test_each_code_has_a_status_and_a_remedy(code, status):
    error = MedAIError(code, "what happened")
    assert error.http_status == status
    assert error.remedy
    assert error.to_payload() == {"error": {"code": code.value, "message": "what happened", "remedy": error.remedy}}


def test_explicit_remedy_and_status_win():
    error = MedAIError(ErrorCode.CONFLICT, "taken", "pick another name", http_status=400)
    assert (error.remedy, error.http_status) == ("pick another name", 400)


def test_unexpected_errors_are_logged_but_hidden(caplog):
    with caplog.at_level(logging.ERROR):
        error = as_medai_error(KeyError("password=hunter2"))
    assert error.code is ErrorCode.INTERNAL
    assert "hunter2" not in error.message and "KeyError" not in error.message
    incident = error.message.split("incident ")[1].rstrip(").")
    assert incident in caplog.text  # the log line carries the same incident id and the trace
    assert "hunter2" in caplog.text


def test_medai_errors_pass_through_unchanged():
    original = MedAIError(ErrorCode.NOT_FOUND, "no such model")
    assert as_medai_error(original) is original
