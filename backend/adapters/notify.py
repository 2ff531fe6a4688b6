"""Where alerts go besides the in-app list: e-mail over SMTP and webhooks (JSON over HTTP
POST). Each send says how it went in a short text that the alert history keeps; a failing
channel never stops the others."""

from __future__ import annotations

import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import httpx

from backend.settings import Settings


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    sender: str
    user: str = ""
    password: str = ""
    starttls: bool = False


class Notifier:
    def __init__(self, smtp: SmtpConfig | None, timeout_s: float = 5.0) -> None:
        self._smtp = smtp
        self._timeout = timeout_s

    @property
    def email_configured(self) -> bool:
        return self._smtp is not None

    def email(self, to: list[str], subject: str, body: str) -> str:
        if self._smtp is None:
            return "not sent: no SMTP server is configured (MEDAI_SMTP_HOST)"
        if not to:
            return "not sent: the rule has no recipients"
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = self._smtp.sender, ", ".join(to), subject
        message.set_content(body)
        try:
            with smtplib.SMTP(self._smtp.host, self._smtp.port, timeout=self._timeout) as server:
                if self._smtp.starttls:
                    server.starttls()
                if self._smtp.user:
                    server.login(self._smtp.user, self._smtp.password)
                server.send_message(message)
        except (OSError, smtplib.SMTPException) as error:
            return f"failed: {type(error).__name__}: {error}"[:300]
        return f"sent to {len(to)} recipient(s)"

    def webhook(self, url: str, payload: dict[str, Any]) -> str:
        if not url:
            return "not sent: the rule has no webhook URL"
        try:
            response = httpx.post(url, json=payload, timeout=self._timeout)
        except httpx.HTTPError as error:
            return f"failed: {type(error).__name__}: {error}"[:300]
        if response.status_code >= 400:
            return f"failed: HTTP {response.status_code}"
        return f"delivered: HTTP {response.status_code}"


def build_notifier(settings: Settings) -> Notifier:
    if not settings.smtp_host:
        return Notifier(None)
    return Notifier(
        SmtpConfig(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_from,
            settings.smtp_user,
            settings.smtp_password.get_secret_value(),
            settings.smtp_starttls,
        )
    )
