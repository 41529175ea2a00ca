"""Tiny random-weight audio models built locally (no download), so the GPU generators' code paths run on
a CPU in tests: MusicGen (T5 text encoder, EnCodec audio codec, decoder) and Bark (three GPT-style stages,
EnCodec; voice presets). Tokenizers are built from a short word list; every model is saved with
``save_pretrained`` to a folder the generators load with ``local_files_only``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

WORDS = [
    "a",
    "the",
    "slow",
    "strings",
    "in",
    "d",
    "minor",
    "music",
    "rain",
    "dog",
    "bark",
    "calm",
    "piano",
    "soft",
]


def build_tiny_musicgen(path: Path) -> Path:
    """A MusicGen with random weights and a small Unigram tokenizer, saved with its processor."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (
        EncodecConfig,
        EncodecFeatureExtractor,
        MusicgenConfig,
        MusicgenDecoderConfig,
        MusicgenForConditionalGeneration,
        MusicgenProcessor,
        T5Config,
        T5TokenizerFast,
    )

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)] + [(f"▁{w}", -1.0) for w in WORDS]
    pieces += [(c, -5.0) for c in "abcdefghijklmnopqrstuvwxyz"]
    spm = Tokenizer(models.Unigram(pieces, unk_id=2))
    spm.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer = T5TokenizerFast(tokenizer_object=spm, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
                                extra_ids=0)  # fmt: skip
    text = T5Config(vocab_size=64, d_model=16, d_kv=8, d_ff=32, num_layers=1, num_heads=2)
    codec = EncodecConfig(target_bandwidths=[10.0], sampling_rate=8000, audio_channels=1, num_filters=4,
                          hidden_size=16, upsampling_ratios=[4, 4], codebook_size=32, codebook_dim=16,
                          num_lstm_layers=1, num_residual_layers=1, compress=2)  # fmt: skip
    decoder = MusicgenDecoderConfig(vocab_size=32, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                    ffn_dim=32, num_codebooks=2, max_position_embeddings=512, pad_token_id=32,
                                    bos_token_id=32)  # fmt: skip
    cfg = MusicgenConfig(
        text_encoder=text.to_dict(), audio_encoder=codec.to_dict(), decoder=decoder.to_dict()
    )
    cfg.decoder_start_token_id = cfg.pad_token_id = 32
    torch.manual_seed(0)
    model = MusicgenForConditionalGeneration(cfg).eval()
    gen = model.generation_config
    gen.decoder_start_token_id = gen.pad_token_id = gen.bos_token_id = 32
    gen.do_sample, gen.max_length = False, 512
    model.save_pretrained(path)
    MusicgenProcessor(feature_extractor=EncodecFeatureExtractor(feature_size=1, sampling_rate=8000),
                      tokenizer=tokenizer).save_pretrained(path)  # fmt: skip
    return path


def _bert_tokenizer() -> object:
    """A WordPiece tokenizer (Bark's tokenizer family) over the word list and single letters."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import BertTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokens = dict.fromkeys([*specials, *WORDS, *"abcdefghijklmnopqrstuvwxyz.,!?"])
    vocab = {t: i for i, t in enumerate(tokens)}
    wordpiece = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    wordpiece.normalizer = normalizers.BertNormalizer(lowercase=True)
    wordpiece.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    return BertTokenizerFast(tokenizer_object=wordpiece, unk_token="[UNK]", pad_token="[PAD]",
                             cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")  # fmt: skip


def build_tiny_bark(path: Path, voices: tuple[str, ...] = ("v2/en_speaker_6",)) -> Path:
    """A Bark with random weights: 16-wide one-layer stages, Bark's own vocabularies and token offsets (so
    the default generation settings apply), a 24 kHz EnCodec with 4 filters; one voice preset per name.

    The generation settings are written as a plain ``GenerationConfig`` holding Bark's nested dicts (what
    a Hub checkpoint's generation_config.json holds): ``BarkGenerationConfig`` cannot be saved in
    transformers 5 (its ``validate`` reads attributes it never sets)."""
    import torch
    from transformers import BarkConfig, BarkModel, BarkProcessor, EncodecConfig, GenerationConfig
    from transformers.models.bark.generation_configuration_bark import (
        BarkCoarseGenerationConfig,
        BarkFineGenerationConfig,
        BarkSemanticGenerationConfig,
    )

    stage = {"hidden_size": 16, "num_layers": 1, "num_heads": 2, "block_size": 1024}
    codec = EncodecConfig(sampling_rate=24000, target_bandwidths=[1.5, 3.0, 6.0, 12.0, 24.0], audio_channels=1,
                          num_filters=4, hidden_size=16, upsampling_ratios=[8, 5, 4, 2], codebook_size=1024,
                          num_lstm_layers=1, num_residual_layers=1, compress=2)  # fmt: skip
    cfg = BarkConfig(
        semantic_config={"input_vocab_size": 129_600, "output_vocab_size": 10_048, **stage},
        coarse_acoustics_config={"input_vocab_size": 12_096, "output_vocab_size": 12_096, **stage},
        fine_acoustics_config={"input_vocab_size": 1056, "output_vocab_size": 1056, "n_codes_total": 8,
                               "n_codes_given": 1, **stage},  # fmt: skip
        codec_config=codec.to_dict(),
    )
    torch.manual_seed(0)
    model = BarkModel(cfg).eval()
    model.generation_config = GenerationConfig(
        sample_rate=24000,
        codebook_size=1024,
        semantic_config=BarkSemanticGenerationConfig().to_dict(),
        coarse_acoustics_config=BarkCoarseGenerationConfig().to_dict(),
        fine_acoustics_config=BarkFineGenerationConfig().to_dict(),
    )
    model.save_pretrained(path)
    BarkProcessor(tokenizer=_bert_tokenizer()).save_pretrained(path)
    # voice presets as a Hub checkpoint lays them out: .npy prompts listed in speaker_embeddings_path.json
    rng = np.random.default_rng(0)
    presets: dict[str, object] = {"repo_or_path": str(path)}
    for voice in voices:
        prompts = {"semantic_prompt": rng.integers(0, 10_000, 40), "coarse_prompt": rng.integers(0, 1024, (2, 60)),
                   "fine_prompt": rng.integers(0, 1024, (8, 60))}  # fmt: skip
        entry = {}
        for key, arr in prompts.items():
            rel = Path("speaker_embeddings") / f"{voice}_{key}.npy"
            (path / rel).parent.mkdir(parents=True, exist_ok=True)
            np.save(path / rel, arr)
            entry[key] = str(rel)
        presets[voice] = entry
    (path / "speaker_embeddings_path.json").write_text(json.dumps(presets))
    return path
