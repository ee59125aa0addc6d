"""People and device identity: users with roles, hashed expiring tokens, device credentials, audit log,
Mosquitto/amqtt access control and TLS. See ``docs/security.md``."""

from condivisa.auth.models import AuditAction, Role, TokenKind
from condivisa.auth.service import PLATFORM_ROLE, AuthError, AuthService, Principal

__all__ = ["AuditAction", "AuthError", "AuthService", "PLATFORM_ROLE", "Principal", "Role", "TokenKind"]
