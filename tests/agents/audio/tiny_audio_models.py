"""Tiny random-weight audio models built locally (no download), so the GPU generators' code paths run on
a CPU in tests: MusicGen (T5 text encoder, EnCodec audio codec, decoder), Bark (three GPT-style stages,
EnCodec, voice presets), the diffusers AudioLDM2 and Stable Audio Open pipelines, and CLAP. Tokenizers are
built from a short word list; every model is saved with ``save_pretrained`` to a folder the generators
load with ``local_files_only``. Widths are 16 or less, so each builds in about a second."""

# The model classes of transformers and diffusers are untyped, or typed more narrowly than they accept:
# mypy: disable-error-code="no-untyped-call,attr-defined,call-arg"

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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


def _t5_tokenizer(max_length: int = 512) -> Any:
    """A small Unigram tokenizer in T5's format (pad 0, eos 1, unk 2) over the word list and letters."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import T5TokenizerFast

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)] + [(f"▁{w}", -1.0) for w in WORDS]
    pieces += [(c, -5.0) for c in "abcdefghijklmnopqrstuvwxyz"]
    spm = Tokenizer(models.Unigram(pieces, unk_id=2))
    spm.pre_tokenizer = pre_tokenizers.Metaspace()
    return T5TokenizerFast(tokenizer_object=spm, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
                           extra_ids=0, model_max_length=max_length)  # fmt: skip


def _roberta_tokenizer() -> Any:
    """A byte-level BPE tokenizer in RoBERTa's format (bos 0, pad 1, eos 2), the CLAP text tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import RobertaTokenizerFast

    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    vocab = {t: i for i, t in enumerate([*specials, *pre_tokenizers.ByteLevel.alphabet()])}
    bpe = Tokenizer(models.BPE(vocab, [], unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    return RobertaTokenizerFast(tokenizer_object=bpe, bos_token="<s>", eos_token="</s>", sep_token="</s>",
                                cls_token="<s>", unk_token="<unk>", pad_token="<pad>", mask_token="<mask>",
                                model_max_length=77)  # fmt: skip


def build_tiny_musicgen(path: Path) -> Path:
    """A MusicGen with random weights and a small Unigram tokenizer, saved with its processor."""
    import torch
    from transformers import (
        EncodecConfig,
        EncodecFeatureExtractor,
        MusicgenConfig,
        MusicgenDecoderConfig,
        MusicgenForConditionalGeneration,
        MusicgenProcessor,
        T5Config,
    )

    tokenizer = _t5_tokenizer()
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


def _bert_tokenizer() -> Any:
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
    codec = EncodecConfig(sampling_rate=24000, target_bandwidths=[1.5, 3.0, 6.0, 12.0, 24.0],
                          audio_channels=1, num_filters=4, hidden_size=16, upsampling_ratios=[8, 5, 4, 2],
                          codebook_size=1024, num_lstm_layers=1, num_residual_layers=1,
                          compress=2)  # fmt: skip
    cfg = BarkConfig(
        semantic_config={"input_vocab_size": 129_600, "output_vocab_size": 10_048, **stage},
        coarse_acoustics_config={"input_vocab_size": 12_096, "output_vocab_size": 12_096, **stage},
        fine_acoustics_config={
            "input_vocab_size": 1056,
            "output_vocab_size": 1056,
            "n_codes_total": 8,
            "n_codes_given": 1,
            **stage,
        },  # fmt: skip
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
        prompts = {"semantic_prompt": rng.integers(0, 10_000, 40),
                   "coarse_prompt": rng.integers(0, 1024, (2, 60)),
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


def tiny_clap(vocab_size: int) -> Any:
    """A random-weight CLAP (text and audio towers, 16-wide projections)."""
    import torch
    from transformers import ClapAudioConfig, ClapConfig, ClapModel, ClapTextConfig

    text = ClapTextConfig(vocab_size=vocab_size, hidden_size=16, intermediate_size=32, num_attention_heads=2,
                          num_hidden_layers=1, projection_dim=16, bos_token_id=0, pad_token_id=1,
                          eos_token_id=2)  # fmt: skip
    # spec_size 256 over 64 mel bins takes the feature extractor's default 10 s window (1001 frames)
    audio = ClapAudioConfig(spec_size=256, window_size=8, num_mel_bins=64, intermediate_size=32,
                            depths=[1, 1], num_attention_heads=[2, 2], num_hidden_layers=2,
                            patch_embeds_hidden_size=16, hidden_size=32, projection_dim=16, patch_size=4,
                            patch_stride=4, patch_embed_input_channels=4)  # fmt: skip
    torch.manual_seed(0)
    return ClapModel(
        ClapConfig(text_config=text.to_dict(), audio_config=audio.to_dict(), projection_dim=16)
    ).eval()


def build_tiny_audioldm2(path: Path) -> Path:
    """An AudioLDM2 pipeline with random weights: CLAP and T5 text encoders, a GPT-2 of 16 wide, a 2-level
    UNet and VAE, and a HiFi-GAN vocoder at 16 kHz (160 samples a mel frame, as the real one)."""
    import torch
    from diffusers import (
        AudioLDM2Pipeline,
        AudioLDM2ProjectionModel,
        AudioLDM2UNet2DConditionModel,
        AutoencoderKL,
        DDIMScheduler,
    )
    from transformers import (
        ClapFeatureExtractor,
        GPT2Config,
        GPT2Model,
        SpeechT5HifiGan,
        SpeechT5HifiGanConfig,
        T5Config,
        T5EncoderModel,
    )

    tokenizer = _roberta_tokenizer()
    clap = tiny_clap(len(tokenizer))
    torch.manual_seed(0)
    unet = AudioLDM2UNet2DConditionModel(block_out_channels=(8, 16), layers_per_block=1, sample_size=32,
                                         in_channels=4, out_channels=4, norm_num_groups=4,
                                         down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                         up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
                                         cross_attention_dim=([None, 16, 16], [None, 16, 16]),
                                         attention_head_dim=4)  # fmt: skip
    vae = AutoencoderKL(block_out_channels=[8, 16], in_channels=1, out_channels=1, latent_channels=4,
                        norm_num_groups=4, down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
                        up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"])  # fmt: skip
    tokenizer_2 = _t5_tokenizer(max_length=32)
    t5 = T5EncoderModel(T5Config(vocab_size=len(tokenizer_2), d_model=16, d_ff=32, d_kv=8, num_heads=2,
                                 num_layers=1))  # fmt: skip
    gpt2 = GPT2Model(
        GPT2Config(
            n_embd=16, n_head=2, n_layer=1, vocab_size=64, n_positions=128, bos_token_id=0, eos_token_id=0
        )
    )
    gpt2.config.max_new_tokens = 8
    projection = AudioLDM2ProjectionModel(text_encoder_dim=16, text_encoder_1_dim=16, langauge_model_dim=16)
    # weights wider than the default 0.01 initialiser, else the random vocoder's output is ~1e-7
    vocoder_cfg = SpeechT5HifiGanConfig(model_in_dim=8, sampling_rate=16000, upsample_initial_channel=16,
                                        upsample_rates=[8, 5, 4], upsample_kernel_sizes=[16, 10, 8],
                                        resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1, 3]],
                                        normalize_before=False, initializer_range=0.3)  # fmt: skip
    vocoder = SpeechT5HifiGan(vocoder_cfg)
    pipe = AudioLDM2Pipeline(
        vae=vae,
        text_encoder=clap,
        text_encoder_2=t5,
        projection_model=projection,
        language_model=gpt2,
        tokenizer=tokenizer,
        tokenizer_2=tokenizer_2,
        feature_extractor=ClapFeatureExtractor(),
        unet=unet,
        scheduler=DDIMScheduler(
            beta_schedule="scaled_linear",
            beta_start=0.00085,
            beta_end=0.012,
            clip_sample=False,
            set_alpha_to_one=False,
        ),  # fmt: skip
        vocoder=vocoder,
    )
    pipe.save_pretrained(path)
    return path


def build_tiny_stable_audio(path: Path) -> Path:
    """A Stable Audio Open pipeline with random weights: T5 text encoder, a 2-layer DiT, a stereo Oobleck
    VAE at 16 kHz with 128 samples a latent frame, room for 512 frames (4.1 s)."""
    import torch
    from diffusers import (
        AutoencoderOobleck,
        CosineDPMSolverMultistepScheduler,
        StableAudioDiTModel,
        StableAudioPipeline,
        StableAudioProjectionModel,
    )
    from transformers import T5Config, T5EncoderModel

    tokenizer = _t5_tokenizer(max_length=32)
    torch.manual_seed(0)
    t5 = T5EncoderModel(T5Config(vocab_size=len(tokenizer), d_model=16, d_ff=32, d_kv=8, num_heads=2,
                                 num_layers=1))  # fmt: skip
    dit = StableAudioDiTModel(sample_size=512, in_channels=3, num_layers=2, attention_head_dim=4,
                              num_attention_heads=2, num_key_value_attention_heads=2, out_channels=3,
                              cross_attention_dim=8, time_proj_dim=8, global_states_input_dim=8,
                              cross_attention_input_dim=4)  # fmt: skip
    vae = AutoencoderOobleck(encoder_hidden_size=6, downsampling_ratios=[8, 16], decoder_channels=3,
                             decoder_input_channels=3, audio_channels=2, channel_multiples=[2, 4],
                             sampling_rate=16000)  # fmt: skip
    projection = StableAudioProjectionModel(
        text_encoder_dim=16, conditioning_dim=4, min_value=0, max_value=32
    )
    scheduler = CosineDPMSolverMultistepScheduler(solver_order=2, prediction_type="v_prediction",
                                                  sigma_data=1.0, sigma_schedule="exponential")  # fmt: skip
    pipe = StableAudioPipeline(vae=vae, text_encoder=t5, projection_model=projection, tokenizer=tokenizer,
                               transformer=dit, scheduler=scheduler)  # fmt: skip
    pipe.save_pretrained(path)
    return path


def build_tiny_clap(path: Path) -> Path:
    """A random-weight CLAP with its processor (feature extractor at 48 kHz, byte-level tokenizer)."""
    from transformers import ClapFeatureExtractor, ClapProcessor

    tokenizer = _roberta_tokenizer()
    tiny_clap(len(tokenizer)).save_pretrained(path)
    ClapProcessor(feature_extractor=ClapFeatureExtractor(), tokenizer=tokenizer).save_pretrained(path)
    return path
