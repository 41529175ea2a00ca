"""Runs of a pool: start, resume and report a durable run over the run store."""
