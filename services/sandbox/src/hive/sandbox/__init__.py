"""OpenHive sandbox service."""
