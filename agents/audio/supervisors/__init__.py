"""Every supervisor of the audio pipeline, one module each, and the checks they run.

- :mod:`~agents.audio.supervisors.event`: the event supervisor, which judges each attempt of each event
  inside the generate stage's supervisor loop (model-free checks, then CLAP, then the LLM critic);
- :mod:`~agents.audio.supervisors.mix`: the mix supervisor, which runs the mixer
  (:mod:`agents.audio.mixer`), checks the mix and every event in it, and remixes with its fixes;
- :mod:`~agents.audio.supervisors.checks`: the model-free checks both run.

Both return verdicts with instructions (:mod:`agents.messages`); the generic generate-check-retry loop
that carries out the event supervisor's instructions is :mod:`agents.supervisor`.
"""
