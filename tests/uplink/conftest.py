"""The Uplink tests run against the checkin tests' local Central Command over TLS."""

from tests.checkin.conftest import env  # noqa: F401 - the fixture, shared
