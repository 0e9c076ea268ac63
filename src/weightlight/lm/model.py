"""The embedded language model: a small Llama (transformers' `LlamaConfig`), built seeded.

Llama-style as the LMs people compress today are: RMSNorm, rotary positions, SwiGLU MLP and
grouped-query attention (4 query heads share 2 key/value heads, so the key/value cache is half
of multi-head attention's). 4 layers of width 128 and a 1,024-token vocabulary (with its own LM
head, as Llama has) make 988,288 parameters, 87 % of them in Linear layers (what int8 / int4 /
pruning act on). Why not wider: at width 192 (1.97 M) a step costs 1.7x as much, and in the
same time the narrower model, taking twice the steps, ends far ahead (held-out perplexity 41
after 800 steps against 94 after 400, measured under load).
"""

from __future__ import annotations

import torch
from torch import nn

SHAPE = {
    "hidden_size": 128,
    "intermediate_size": 344,  # ~2.7 x hidden, as Llama's SwiGLU sizes go
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 512,
}


def tiny_llama(vocab_size: int, *, seed: int = 0, bos_id: int = 0, eos_id: int = 0) -> nn.Module:
    """A freshly initialised `LlamaForCausalLM` of the embedded shape (`SHAPE`).

    Example:
        >>> sum(p.numel() for p in tiny_llama(1024).parameters())
        988288
    """
    import transformers

    config = transformers.LlamaConfig(
        vocab_size=vocab_size, bos_token_id=bos_id, eos_token_id=eos_id, pad_token_id=eos_id,
        tie_word_embeddings=False, **SHAPE,
    )  # fmt: skip
    torch.manual_seed(seed)
    return transformers.LlamaForCausalLM(config).eval()
