"""OpenHive agent service."""
