"""MQTT device-to-cloud transport: topics, the ingest worker, its answers, the embedded broker."""
