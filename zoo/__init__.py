"""The project's own tiny models: the skill zoo, and the random-weight tiny pool (:mod:`zoo.tiny`).

The skill zoo: tiny Llama experts trained here on CPU, each good at some skills and poor at others.

Seven skills (:data:`SKILLS`), seeded question generators and benchmark files (``data/``), the expert
specs (:data:`ZOO_SPECS`) and the committed weights (``weights/<expert>/``, loaded by any engine; pool
configs name them ``zoo:NAME``). Training lives in :mod:`zoo.train` (imports torch), run by
``scripts/train_zoo.py``; importing this package does not import torch.

Example::

    from zoo import generate_split, resolve_zoo_model

    rows = generate_split(seed=0, n_per_skill=5)              # load_questions-format rows
    path = resolve_zoo_model("zoo:zoo-arith")                 # the committed model folder
"""

from __future__ import annotations

from zoo.spec import (
    ZOO_PREFIX,
    ZOO_SPECS,
    ZOO_WEIGHTS_DIR,
    ExpertSpec,
    resolve_zoo_model,
    zoo_model_dir,
    zoo_spec,
)
from zoo.tasks import (
    SKILLS,
    SPLIT_SEEDS,
    ZOO_DATA_DIR,
    ZooQuestion,
    answer_text,
    generate_question,
    generate_split,
    read_rows,
    write_rows,
    zoo_splits,
)

__all__ = [
    "SKILLS",
    "SPLIT_SEEDS",
    "ZOO_DATA_DIR",
    "ZOO_PREFIX",
    "ZOO_SPECS",
    "ZOO_WEIGHTS_DIR",
    "ExpertSpec",
    "ZooQuestion",
    "answer_text",
    "generate_question",
    "generate_split",
    "read_rows",
    "resolve_zoo_model",
    "write_rows",
    "zoo_model_dir",
    "zoo_spec",
    "zoo_splits",
]
