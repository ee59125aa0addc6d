"""Password and token hashing.

- People's passwords: scrypt (RFC 7914) through ``hashlib.scrypt`` with a 16-byte random salt per user and
  cost N=2**14, r=8, p=1 (the parameters RFC 7914 §2 and OWASP list for interactive logins), 32-byte key.
  Stored as ``scrypt$N$r$p$<salt base64>$<key base64>`` so the cost can be raised later.
- Bearer tokens: 32 random bytes (``secrets.token_urlsafe``) prefixed ``cdv_``; stored as SHA-256 hex.
- Device MQTT passwords: Mosquitto 2's ``$7$`` format, PBKDF2-HMAC-SHA512 with 101 iterations and a 12-byte
  salt: ``$7$101$<salt base64>$<derived key base64>`` (the format ``mosquitto_passwd`` writes and the broker
  and our embedded-broker plugin verify).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SCRYPT_N, SCRYPT_R, SCRYPT_P, SCRYPT_DKLEN = 2**14, 8, 1, 32
TOKEN_PREFIX = "cdv_"
MOSQUITTO_PBKDF2_ITERATIONS = 101  # mosquitto_passwd's default for $7$
MOSQUITTO_SALT_BYTES = 12


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str, *, salt: bytes | None = None, n: int = SCRYPT_N) -> str:
    """scrypt hash of ``password`` as ``scrypt$N$r$p$salt$key`` (RFC 7914)."""
    if not isinstance(password, str) or not password:
        raise ValueError("password must be a non-empty string")
    salt = secrets.token_bytes(16) if salt is None else salt
    key = hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=n,
        r=SCRYPT_R,
        p=SCRYPT_P,
        dklen=SCRYPT_DKLEN,
        maxmem=256 * 1024 * 1024,
    )
    return f"scrypt${n}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches ``stored`` (constant-time comparison); False for a malformed hash."""
    try:
        scheme, n, r, p, salt_b64, key_b64 = stored.split("$")
        if scheme != "scrypt":
            return False
        salt, key = base64.b64decode(salt_b64), base64.b64decode(key_b64)
        got = hashlib.scrypt(
            password.encode("utf-8"),
            salt=salt,
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(key),
            maxmem=256 * 1024 * 1024,
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, key)


#: a valid hash nobody knows the password of: verified against when a username does not exist, so that a
#: failed login takes the same time whether or not the user exists.
DUMMY_PASSWORD_HASH = hash_password(secrets.token_urlsafe(16))


def new_token() -> str:
    """A fresh bearer token: ``cdv_`` + 43 URL-safe characters (256 random bits)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_sha256(token: str) -> str:
    """SHA-256 hex digest of a clear token: what the tokens table stores and looks up."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def mosquitto_hash(
    password: str, *, salt: bytes | None = None, iterations: int = MOSQUITTO_PBKDF2_ITERATIONS
) -> str:
    """Mosquitto ``$7$`` hash: PBKDF2-HMAC-SHA512(password, salt, iterations), 64-byte key, base64 fields."""
    if not password:
        raise ValueError("password must be a non-empty string")
    salt = secrets.token_bytes(MOSQUITTO_SALT_BYTES) if salt is None else salt
    key = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations, dklen=64)
    return f"$7${iterations}${_b64(salt)}${_b64(key)}"


def verify_mosquitto_hash(password: str, stored: str) -> bool:
    """Verify ``password`` against a Mosquitto ``$7$`` hash (PBKDF2-SHA512) in constant time."""
    try:
        _, scheme, iterations, salt_b64, key_b64 = stored.split("$")
        if scheme != "7":
            return False
        salt, key = base64.b64decode(salt_b64), base64.b64decode(key_b64)
        got = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, int(iterations), dklen=len(key))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, key)
