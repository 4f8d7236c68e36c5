"""Log shipping: journald → PHI scrubber → gzip → ``POST /api/logs/ingest`` (runtime.md §7.3)."""
