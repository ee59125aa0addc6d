"""File and message formats, as pure parsers and writers: no database, no network.

:mod:`.urbandataset` (the SCPS messages of user devices), :mod:`.csv_io` (measurement and price tables),
:mod:`.pvgis` (PVGIS weather files).
"""
