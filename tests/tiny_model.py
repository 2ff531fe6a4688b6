"""A tiny causal language model made here, never downloaded: a byte-level BPE tokenizer
trained on a few medical sentences and a two-layer Llama built from a config."""

from __future__ import annotations

from pathlib import Path

CORPUS = [
    "患者主诉头痛三天，伴恶心。建议测量血压并完善头颅CT检查。",
    "高血压患者应低盐低脂饮食，规律服药，定期复诊。",
    "糖尿病患者需监测空腹血糖与糖化血红蛋白。",
    "The patient reports chest pain radiating to the left arm; order an ECG and troponin.",
    "Normal adult resting heart rate is 60 to 100 beats per minute.",
    "Follow up in two weeks, or sooner if symptoms worsen.",
]


def build_tokenizer(folder: Path, vocab_size: int = 400):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<unk>", "<s>", "</s>", "<pad>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(CORPUS * 20, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, unk_token="<unk>", bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    )
    folder.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(folder)
    return fast


def build_model(folder: Path, hidden: int = 32, layers: int = 2, seed: int | None = None) -> Path:
    """Tokenizer + a randomly initialised Llama saved as safetensors in ``folder``; with ``seed``,
    the same weights every time (so its greedy answers are known)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = build_tokenizer(folder)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=4096,  # what a service may ask for; the weights do not grow with it
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng():
        if seed is not None:
            torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.save_pretrained(folder, safe_serialization=True)
    return folder
