"""The real-sshd fixtures come from ``tests/sshfixtures.py`` (registered in ``tests/conftest.py``)."""
