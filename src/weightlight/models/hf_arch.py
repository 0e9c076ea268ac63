"""Where the heads, FFN neurons and blocks of each Hugging Face transformer family live.

Structured pruning of a transformer slices Linear weights; what differs between families is
only *where* things are (which modules are q/k/v/o, up/gate/down, the list of blocks), which
attributes the attention code reads its head count from, and which config keys describe the
shapes. That is data, one `Family` per architecture, so supporting a new family is one entry
here, and the `hf:` loader reads the same table to rebuild a pruned model.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from torch import nn


@dataclass(frozen=True)
class Family:
    """One architecture's layout. Module paths are relative to a block (one entry of `layers`).

    Attributes:
        layers: name (suffix) of the nn.ModuleList of blocks, e.g. "encoder.layer".
        attention: the module holding the head-count attributes.
        qkv: the (query, key, value) projections, or one fused projection (GPT-2's c_attn).
        out: the attention output projection (its input columns are the heads).
        ffn_in: the FFN input projections (gated MLPs: gate and up), outputs = neurons.
        ffn_out: the FFN output projection (its input columns are the neurons).
        head_size_attr: attention attribute holding the per-head size.
        head_attrs: attention attribute -> "heads" (query heads), "width" (heads * head size)
            or "groups" (query heads per key/value head): what the forward code reads.
        config_heads / config_kv_heads / config_ffn / config_layers: config keys.
        config_head_dim: the config key the head size is written to ("head_dim" when None).
        reads_head_dim: whether transformers builds the attention from that key. When not
            (it computes hidden_size / heads), only weightlight's `hf:` loader rebuilds a model
            with fewer heads: transformers 5 dropped `pruned_heads`.
        extra_head_outputs: other projections whose outputs are per head (DeBERTa's pos_*).
        ffn_attr: (module path, attribute) storing the FFN width, if the forward reads one.
        heads_divide_hidden: the config refuses a head count that does not divide
            hidden_size, even with `head_dim` given (transformers' LlamaConfig checks it in
            save_pretrained and from_pretrained). Such a count is then saved under
            `PRUNED_HEADS_KEY`, the config keeping the one it was built with, and only
            weightlight's `hf:` loader rebuilds the model.
    """

    layers: str
    attention: str
    qkv: tuple[str, ...]
    out: str
    ffn_in: tuple[str, ...]
    ffn_out: str
    head_size_attr: str
    head_attrs: tuple[tuple[str, str], ...]
    config_heads: str
    config_ffn: str
    config_layers: str
    config_kv_heads: str | None = None
    config_head_dim: str | None = None
    reads_head_dim: bool = False
    extra_head_outputs: tuple[str, ...] = ()
    ffn_attr: tuple[str, str] | None = None
    heads_divide_hidden: bool = False

    @property
    def fused_qkv(self) -> bool:
        return len(self.qkv) == 1


_BERT = Family(
    layers="encoder.layer",
    attention="attention.self",
    qkv=("attention.self.query", "attention.self.key", "attention.self.value"),
    out="attention.output.dense",
    ffn_in=("intermediate.dense",),
    ffn_out="output.dense",
    head_size_attr="attention_head_size",
    head_attrs=(("num_attention_heads", "heads"), ("all_head_size", "width")),
    config_heads="num_attention_heads",
    config_ffn="intermediate_size",
    config_layers="num_hidden_layers",
)
_LLAMA = Family(
    layers="layers",
    attention="self_attn",
    qkv=("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"),
    out="self_attn.o_proj",
    ffn_in=("mlp.gate_proj", "mlp.up_proj"),
    ffn_out="mlp.down_proj",
    head_size_attr="head_dim",
    head_attrs=(("num_key_value_groups", "groups"),),
    config_heads="num_attention_heads",
    config_kv_heads="num_key_value_heads",
    config_ffn="intermediate_size",
    config_layers="num_hidden_layers",
    config_head_dim="head_dim",
    reads_head_dim=True,
    ffn_attr=("mlp", "intermediate_size"),
)

# config.model_type -> layout. Only families the tests build are listed (tests/prune).
FAMILIES: dict[str, Family] = {
    "bert": _BERT,
    "roberta": _BERT,
    "deberta-v2": Family(
        layers="encoder.layer",
        attention="attention.self",
        qkv=("attention.self.query_proj", "attention.self.key_proj", "attention.self.value_proj"),
        out="attention.output.dense",
        ffn_in=("intermediate.dense",),
        ffn_out="output.dense",
        head_size_attr="attention_head_size",
        head_attrs=(("num_attention_heads", "heads"), ("all_head_size", "width")),
        config_heads="num_attention_heads",
        config_ffn="intermediate_size",
        config_layers="num_hidden_layers",
        # read, but only after a check that hidden_size is a multiple of the heads
        config_head_dim="attention_head_size",
        extra_head_outputs=("attention.self.pos_key_proj", "attention.self.pos_query_proj"),
    ),
    "distilbert": Family(
        layers="transformer.layer",
        attention="attention",
        qkv=("attention.q_lin", "attention.k_lin", "attention.v_lin"),
        out="attention.out_lin",
        ffn_in=("ffn.lin1",),
        ffn_out="ffn.lin2",
        head_size_attr="attention_head_size",
        head_attrs=(("n_heads", "heads"),),
        config_heads="n_heads",
        config_ffn="hidden_dim",
        config_layers="n_layers",
    ),
    "gpt2": Family(
        layers="h",
        attention="attn",
        qkv=("attn.c_attn",),
        out="attn.c_proj",
        ffn_in=("mlp.c_fc",),
        ffn_out="mlp.c_proj",
        head_size_attr="head_dim",
        head_attrs=(("num_heads", "heads"), ("split_size", "width")),
        config_heads="n_head",
        config_ffn="n_inner",
        config_layers="n_layer",
    ),
    "llama": replace(_LLAMA, heads_divide_hidden=True),
    "qwen2": _LLAMA,
    "mistral": _LLAMA,
    "vit": Family(
        layers="layers",
        attention="attention",
        qkv=("attention.q_proj", "attention.k_proj", "attention.v_proj"),
        out="attention.o_proj",
        ffn_in=("mlp.fc1",),
        ffn_out="mlp.fc2",
        head_size_attr="head_dim",
        head_attrs=(("num_attention_heads", "heads"),),
        config_heads="num_attention_heads",
        config_ffn="intermediate_size",
        config_layers="num_hidden_layers",
        config_head_dim="head_dim",
        reads_head_dim=True,
    ),
}
# The config key holding the pruned query-head count of a `heads_divide_hidden` family.
PRUNED_HEADS_KEY = "weightlight_attention_heads"

# Families recognised only to refuse them in one line (model_type -> why).
REFUSED: dict[str, str] = {
    "albert": "ALBERT shares one layer's weights across all its blocks, so heads, FFN neurons "
    "and blocks cannot be pruned per block",
}


def find_family(model: nn.Module) -> tuple[nn.Module, Family] | None:
    """(the outermost Hugging Face model inside `model`, its layout), or None if not listed.

    `model` may be the HF model itself or a wrapper holding one (a SentenceEncoder).
    """
    for module in model.modules():
        config = getattr(module, "config", None)
        kind = getattr(config, "model_type", None)
        if isinstance(kind, str) and hasattr(config, "to_dict"):
            family = FAMILIES.get(kind)
            return (module, family) if family is not None else None
    return None


def needs_rebuild(config) -> Family | None:
    """The family of a pruned model whose config transformers cannot build from (the head
    size is not hidden_size / heads and the family does not read it, or the head count is
    saved under `PRUNED_HEADS_KEY`), else None."""
    family = FAMILIES.get(getattr(config, "model_type", ""))
    if family is not None and type(getattr(config, PRUNED_HEADS_KEY, None)) is int:
        return family
    if family is None or family.reads_head_dim:
        return None
    heads = getattr(config, family.config_heads, None)
    size = getattr(config, family.config_head_dim or "head_dim", None)
    hidden = getattr(config, "hidden_size", None)
    if not all(type(v) is int and v > 0 for v in (heads, size, hidden)):
        return None
    return family if heads * size != hidden else None


def model_type(model: nn.Module) -> str | None:
    for module in model.modules():
        kind = getattr(getattr(module, "config", None), "model_type", None)
        if isinstance(kind, str):
            return kind
    return None


def blocks(hf_model: nn.Module, family: Family) -> tuple[str, nn.ModuleList]:
    """(name, ModuleList) of the transformer blocks."""
    for name, module in hf_model.named_modules():
        if isinstance(module, nn.ModuleList) and (
            name == family.layers or name.endswith("." + family.layers)
        ):
            return name, module
    raise LookupError(f"no block list '{family.layers}'")


def out_dim(layer: nn.Module) -> int:
    """Output width of a Linear or a GPT-2 Conv1D (weight stored as (in, out))."""
    return layer.weight.shape[0] if isinstance(layer, nn.Linear) else layer.weight.shape[1]


def head_size(block: nn.Module, family: Family) -> int:
    return int(getattr(block.get_submodule(family.attention), family.head_size_attr))


def head_counts(block: nn.Module, family: Family) -> tuple[int, int]:
    """(query heads, key/value heads) of a block, read from the weight shapes."""
    d = head_size(block, family)
    if family.fused_qkv:
        n = out_dim(block.get_submodule(family.qkv[0])) // (3 * d)
        return n, n
    q, k, _ = (block.get_submodule(p) for p in family.qkv)
    return out_dim(q) // d, out_dim(k) // d


def sync_attributes(block: nn.Module, family: Family) -> None:
    """Set the attributes the forward code reads (head counts, FFN width) from the weights."""
    attention = block.get_submodule(family.attention)
    heads, kv = head_counts(block, family)
    values = {"heads": heads, "width": heads * head_size(block, family), "groups": heads // kv}
    for attr, what in family.head_attrs:
        setattr(attention, attr, values[what])
    if family.ffn_attr is not None:
        path, attr = family.ffn_attr
        setattr(block.get_submodule(path), attr, out_dim(block.get_submodule(family.ffn_in[0])))


def n_params(model: nn.Module) -> int:
    """Parameters counted once each (tied embeddings are one tensor)."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
