"""People and device identity: the access service (users with roles, hashed expiring tokens, device
credentials, audit log), FastAPI dependencies, Mosquitto/amqtt access control, TLS, the allocation-rules
audit and GDPR exports. See ``docs/security.md``."""
