"""Signed, hash-chained evidence (evidence.md): bundles, the durable spool, delivery, export."""
