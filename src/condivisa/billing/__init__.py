"""Billing: final settlement runs, credit notes, the GSE ledger and payouts (issue #16)."""
