"""Reading and writing WAV files (soundfile) as mono float arrays at the job's sample rate."""

from __future__ import annotations

import hashlib
import os
import tempfile
from math import gcd
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

from common.errors import DataError


def to_mono(x: np.ndarray) -> np.ndarray:
    return x.mean(axis=1) if x.ndim == 2 else x


def resample(x: np.ndarray, from_hz: int, to_hz: int) -> np.ndarray:
    """Polyphase resampling (exact for rational ratios)."""
    if from_hz == to_hz or x.size == 0:
        return np.asarray(x, dtype=np.float64)
    g = gcd(int(from_hz), int(to_hz))
    return np.asarray(resample_poly(x, to_hz // g, from_hz // g), dtype=np.float64)


def read_wav(path: str | Path, sample_rate: int | None = None) -> tuple[np.ndarray, int]:
    """A WAV file as a mono float64 array, resampled to ``sample_rate`` when given.

    Raises:
        DataError: unreadable or not audio.
    """
    import soundfile

    try:
        data, sr = soundfile.read(str(path), dtype="float64", always_2d=False)
    except (RuntimeError, soundfile.LibsndfileError) as exc:
        raise DataError(f"cannot read audio ({exc}); is it a WAV file?", path=str(path)) from exc
    x = to_mono(np.asarray(data))
    if sample_rate is not None and sr != sample_rate:
        return resample(x, sr, sample_rate), sample_rate
    return x, int(sr)


SFC_SET_ADD_PEAK_CHUNK = 0x1050
"""libsndfile command: a float WAV's PEAK chunk carries a timestamp, so two identical mixes would differ."""


def write_wav(path: str | Path, x: np.ndarray, sample_rate: int, subtype: str = "FLOAT") -> str:
    """Write atomically (temp file, then rename) and return the file's sha256.

    The bytes depend only on the samples: no PEAK chunk (its timestamp), nothing else time-dependent.
    """
    import soundfile

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".wav")
    os.close(fd)
    data = np.asarray(x, dtype=np.float32 if subtype == "FLOAT" else np.float64)
    with soundfile.SoundFile(tmp, "w", sample_rate, 1, subtype, format="WAV") as f:
        soundfile._snd.sf_command(f._file, SFC_SET_ADD_PEAK_CHUNK, soundfile._ffi.NULL, 0)
        f.write(data)
    os.replace(tmp, target)
    return file_sha256(target)


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
