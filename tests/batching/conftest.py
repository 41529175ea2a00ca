"""Shared by the batching tests and the engine tests below them: ``engine_requests`` (the mixed request
batch every engine answers) and ``counting_engine`` (an engine that counts its lifecycle calls) are
imported from this folder, which this file's presence puts on ``sys.path``."""
