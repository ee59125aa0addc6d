"""The dashboard: routes (:mod:`.routes`), sessions and CSRF."""
