"""The runtime (runtime.md): event loop, supervisor, signals, sd_notify, the status file."""
