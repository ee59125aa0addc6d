"""The application: settings (:mod:`.settings`), the HTTP app (:mod:`.http_app`), what ``serve`` runs
(:mod:`.runtime`: broker, MQTT workers) and the worker pool (:mod:`.worker_pool`)."""
