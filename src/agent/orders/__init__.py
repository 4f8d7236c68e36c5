"""Signed orders: verification, nonce store, execution, completion outbox (orders.md)."""
