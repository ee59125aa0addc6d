"""condivisa: an open, self-hostable platform for Italian energy-sharing configurations.

Data flows one way: edges (mqtt, rest, csv, db) -> domain (pure dataclasses) ->
engines (pure numpy) -> outputs (statements, API, dashboard, reports).
"""

__version__ = "0.1.0"
