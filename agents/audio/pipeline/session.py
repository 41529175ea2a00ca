"""An audio session: what lives as long as a team is in use (generators, profiles, recruiter, LLM engines).

Every job a team renders (one brief, or each line of a batch) runs on the same session, so a generator
loaded for one job stays loaded for the next and the profiles learned from one job's verdicts recruit
for the next. :meth:`AudioSession.close` unloads everything.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from agents.audio.clap import ClapCritic
from agents.audio.config import AudioJobConfig
from agents.audio.generators import AudioGenerator, build_generators
from agents.audio.generators import generator_registry as default_registry
from agents.audio.timeline import AudioEvent
from agents.profiles import GeneratorProfiles
from agents.recruit import Candidate, Recruiter
from batching.config import ExpertConfig
from batching.engines.base import Engine
from batching.engines.registry import build_engine
from batching.journal.store import DEFAULT_STORE_PATH, RunStore
from common.errors import ConfigError
from common.registry import Registry

ProgressHook = Callable[[str, int, int], None]
"""``(stage, done, total)``; the CLI draws a bar per stage."""


def _event_kind(event: AudioEvent) -> str:
    return event.kind


class AudioSession:
    """Generators, profiles, recruiter and the LLM roles' engines of one team, reused by every job.

    Args:
        config: the team's config.
        store: the run store (a path or an open store); defaults to the shared one ``symoe runs`` reads.
        llm_experts: pool experts the LLM roles may use (``config.planner`` / ``config.critic.expert``).
        registry: the generator registry (tests add generators to a copy).
        on_progress: progress hook.
        update_profiles: also write learned profiles back to ``config.profiles``.
        on_start: called with the run id as soon as a job has one (before any work).

    Raises:
        ConfigError: the planner or critic names an expert that is not in ``llm_experts``.
    """

    def __init__(
        self,
        config: AudioJobConfig,
        *,
        store: RunStore | str | Path = DEFAULT_STORE_PATH,
        llm_experts: Sequence[ExpertConfig] = (),
        registry: Registry[type[AudioGenerator]] | None = None,
        on_progress: ProgressHook | None = None,
        update_profiles: bool = False,
        on_start: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config
        self.store = store if isinstance(store, RunStore) else RunStore(store)
        self.llm_experts = {e.name: e for e in llm_experts}
        self.generators = {
            g.name: g for g in build_generators(config.generators, registry or default_registry)
        }
        self.profiles = GeneratorProfiles.load(config.profiles)
        self.on_progress = on_progress
        self.update_profiles = update_profiles
        self.on_start = on_start
        self._engines: dict[str, Engine] = {}
        self._clap: ClapCritic | None = None
        for role, name in (("planner", config.planner), ("critic", config.critic.expert)):
            if name and name != "rule_based" and name not in self.llm_experts:
                raise ConfigError(
                    f"audio config: {role} {name!r} is not an expert of the pool "
                    f"({', '.join(self.llm_experts) or 'no --pool given'}); pass --pool"
                )
        self.recruiter: Recruiter[AudioEvent] = Recruiter(
            [Candidate(g.name, tuple(g.config.priors.items()), g.accepts) for g in self.generators.values()],
            self.profiles,
            kind_of=_event_kind,
        )

    def progress(self, stage: str, done: int, total: int) -> None:
        """Report a stage's progress to the hook (nothing without one)."""
        if self.on_progress is not None:
            self.on_progress(stage, done, total)

    def engine(self, expert: str) -> Engine:
        """The (lazily built) engine of a pool expert, shared by the roles."""
        if expert not in self._engines:
            self._engines[expert] = build_engine(self.llm_experts[expert])
        return self._engines[expert]

    def clap(self) -> ClapCritic:
        """The (lazily built) CLAP critic of ``config.critic.clap_model``."""
        if self._clap is None:
            cfg = self.config.critic
            self._clap = ClapCritic(cfg.clap_model or "", cfg.clap_device)
        return self._clap

    def close(self) -> None:
        """Unload every generator, LLM engine and the CLAP critic."""
        for g in self.generators.values():
            g.unload()
        for e in self._engines.values():
            e.close()
        self._engines.clear()
        if self._clap is not None:
            self._clap.close()
            self._clap = None
