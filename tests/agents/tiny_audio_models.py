"""Tiny random-weight audio models built locally (no download), so the GPU generators' code paths run on
a CPU in tests: MusicGen (T5 text encoder, EnCodec audio codec, decoder), each a few thousand weights."""

from __future__ import annotations

from pathlib import Path

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
