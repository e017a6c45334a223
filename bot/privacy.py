"""Phone-number privacy: encryption at rest and keyed hashes, both derived from one secret.

The number itself is stored only encrypted, where a reply must be sent. Everything else (Rasa's tracker, logs,
exports, metrics) sees a keyed hash or the conversation id.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken


class Privacy:
    """Encrypts, decrypts and hashes phone numbers with keys derived from one secret."""

    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError("a privacy secret is required")
        self._hash_key = hashlib.sha256(b"crisis-intake/hash\0" + secret.encode()).digest()
        enc_key = hashlib.sha256(b"crisis-intake/encrypt\0" + secret.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(enc_key))

    def hash_phone(self, phone: str) -> str:
        """A stable keyed hash (hex) of the normalised number: recognises a returning texter, reveals nothing."""
        return hmac.new(self._hash_key, normalize_phone(phone).encode(), hashlib.sha256).hexdigest()

    def short_ref(self, phone: str) -> str:
        """A short, log-safe reference to a number (first 10 hex digits of its keyed hash)."""
        return self.hash_phone(phone)[:10]

    def encrypt(self, phone: str) -> str:
        return self._fernet.encrypt(normalize_phone(phone).encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:  # wrong key: refuse loudly rather than text the wrong person
            raise ValueError("cannot decrypt phone number with the configured PRIVACY_KEY") from exc


def normalize_phone(phone: str) -> str:
    """Canonical form for hashing: keep a leading + and digits only (E.164 as Twilio sends it)."""
    phone = phone.strip()
    digits = "".join(ch for ch in phone if ch.isdigit())
    return ("+" if phone.startswith("+") else "") + digits if digits else phone
