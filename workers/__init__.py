"""Spikeboard workers: RQ jobs, the Redis run store, the service layer, the local stack."""
