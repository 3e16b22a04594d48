"""Tests of several dualrec nodes: real processes, nginx in front, PostgreSQL and Redis."""
