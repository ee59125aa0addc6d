"""Case studies: read a case file, simulate the base case, batteries and optimal dispatch, and work out
the economics (``condivisa case run``)."""
