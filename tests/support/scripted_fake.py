"""Moved to :mod:`connector.sandbox.scripted` (shipped with the platform servers); kept so tests
import it from here as before."""

from connector.sandbox.scripted import *  # noqa: F403
