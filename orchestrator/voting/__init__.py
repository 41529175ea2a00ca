"""The vote layer: what recruitment policies and aggregators both read, below both of them.

- :mod:`~orchestrator.voting.vote`: ballots, plain majority, reliability-weighted vote, consensus check;
- :mod:`~orchestrator.voting.reliability`: an expert's vote weight from its chance of being right;
- :mod:`~orchestrator.voting.calibration`: group-calibrated vote accuracy and its ``beta``;
- :mod:`~orchestrator.voting.slots`: answers as small integers, for votes over many questions;
- :mod:`~orchestrator.voting.vote_features`: features a stacked vote reads beyond who voted what.

Policies (``orchestrator.policies``) and aggregation (``orchestrator.aggregation``) import this package,
never the other way round (see :mod:`orchestrator.layers`).
"""

from __future__ import annotations

from orchestrator.voting.vote import Ballot, consensus, majority_vote, weighted_vote

__all__ = ["Ballot", "consensus", "majority_vote", "weighted_vote"]
