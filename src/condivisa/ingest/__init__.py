"""The one path a reading takes into the store, whatever carried it: prepare (decode, parse, validate) →
scope (who may write what) → group commit (one transaction for what is waiting) → store.
:mod:`.pipeline` (and :mod:`.tables` for a measurements table), :mod:`.scope`, :mod:`.group_commit`."""
