"""Twilio request signatures: validate ``X-Twilio-Signature`` and sign requests exactly as Twilio does."""

from __future__ import annotations

from collections.abc import Mapping

from twilio.request_validator import RequestValidator


class SignatureChecker:
    """Checks webhooks against the public URL Twilio called (``PUBLIC_BASE_URL`` + path and query)."""

    def __init__(self, auth_token: str, public_base_url: str) -> None:
        self._validator = RequestValidator(auth_token)
        self._base = public_base_url.rstrip("/")

    def url_for(self, path_qs: str) -> str:
        return self._base + path_qs

    def valid(self, path_qs: str, params: Mapping[str, str], signature: str | None) -> bool:
        if not signature:
            return False
        return bool(self._validator.validate(self.url_for(path_qs), dict(params), signature))


def sign(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """The ``X-Twilio-Signature`` Twilio would send for this POST (used by the local texter and the tests)."""
    return RequestValidator(auth_token).compute_signature(url, dict(params))
