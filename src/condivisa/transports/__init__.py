"""Transports: MQTT (:mod:`.mqtt`) and HTTP (:mod:`.http`). They take plain arguments and an ingest callable;
they never read settings, and never import the store's callers above them."""
