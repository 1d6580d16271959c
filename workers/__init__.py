"""Spikeboard workers: RQ jobs, the Redis run store, what the UI and CLI call (connection, submission, transfer, capacity), the local stack."""
