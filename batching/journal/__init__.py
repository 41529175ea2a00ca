"""The durable run store and the journal that wraps engines: every generation and pipeline step is
recorded as it completes, so an interrupted run resumes without redoing finished work."""
