"""The model families of the support matrix: tiny random-weight models and their data.

Each family is what a user brings: a Hugging Face model built from a small config
(`transformers` ships them all; 2 layers, hidden 32-64, random weights, nothing downloaded)
or a plain torch module, fed through `wl.data.from_loaders` the way its users batch it (dict
token batches, image tensors, a tuple of two tensors).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch
from torch import nn
from torch.utils.data import DataLoader

import weightlight as wl
from weightlight.batch import call, split

VOCAB = 100
CLASSES = 10
N_TRAIN, N_EVAL, BATCH = 32, 32, 8  # 4 training (and calibration) batches, 4 eval batches


@dataclasses.dataclass(frozen=True)
class Family:
    """One row of the matrix: how to build the model and its data."""

    name: str
    group: str  # encoder, decoder, vision, torch
    task: str  # classification, embedding, causal_lm
    build: Callable[[], nn.Module]
    data: Callable[[], wl.data.Data]
    attention: bool = False  # has attention heads (structured pruning may remove some)
    # Classifiers are trained briefly on patterned data: a random classifier's logits are
    # nearly flat (one class for every input), which would make top-1 agreement meaningless.
    train_epochs: float = 0.0

    def base(self, data: wl.data.Data) -> nn.Module:
        """The model every technique starts from (trained a few steps for classifiers)."""
        model = self.build()
        if self.train_epochs:
            model = wl.train(model, data, epochs=self.train_epochs, lr=1e-2, progress=False)
        return _settle_batchnorm(model, data)


def _settle_batchnorm(model: nn.Module, data: wl.data.Data) -> nn.Module:
    """BatchNorm statistics averaged over the training batches: a few training steps (or
    none) leave the running statistics far from the activations, and the model near-constant."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return model.eval()
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a cumulative average over the batches seen
    model.train()
    with torch.no_grad():
        for batch in data.train:
            call(model, split(batch)[0])
    for norm in norms:
        norm.momentum = 0.1
    return model.eval()


def _seeded(fn: Callable[[], nn.Module], seed: int = 0) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        torch.manual_seed(seed)  # the same weights in every process: figures are reproducible
        return fn().eval()

    return build


# ---- data --------------------------------------------------------------------------------------


def _token_batches(n: int, seed: int, types: bool) -> list[dict]:
    """Padded dict batches of random token sequences, 4 to 16 tokens (0 is padding)."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for start in range(0, n, BATCH):
        lengths = torch.randint(4, 17, (min(BATCH, n - start),), generator=g)
        ids = torch.zeros(len(lengths), int(lengths.max()), dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, length in enumerate(lengths.tolist()):
            ids[i, :length] = torch.randint(1, VOCAB, (length,), generator=g)
            mask[i, :length] = 1
        batch = {"input_ids": ids, "attention_mask": mask}
        if types:
            batch["token_type_ids"] = torch.zeros_like(ids)
        out.append(batch)
    return out


def _loader(batches: list) -> DataLoader:
    # batch_size=None: the list already holds whole batches (as a user's collate_fn made them)
    return DataLoader(batches, batch_size=None)


def token_data(task: str, types: bool = False) -> Callable[[], wl.data.Data]:
    def make() -> wl.data.Data:
        train = _loader(_token_batches(N_TRAIN, 1, types))
        held_out = _loader(_token_batches(N_EVAL, 2, types))
        return wl.data.from_loaders(train, held_out, task=task, name=f"tokens-{task}")

    return make


def tensor_data(*shapes: tuple[int, ...], ints: int | None = None) -> Callable[[], wl.data.Data]:
    """Labelled batches of one input tensor per shape (a tuple when several) that a classifier
    can learn: each class has its own pattern, under noise (floats), or its own band of token
    ids half the time (`ints`: token ids below that value instead of floats)."""

    def sample(shape: tuple[int, ...], y: torch.Tensor, g: torch.Generator, i: int):
        if ints and i == 0:
            band = (
                1
                + y[:, None] * (ints // CLASSES)
                + torch.randint(0, ints // CLASSES - 1, (len(y), *shape), generator=g)
            )
            noise = torch.randint(1, ints, (len(y), *shape), generator=g)
            return torch.where(torch.rand(len(y), *shape, generator=g) < 0.5, band, noise)
        patterns = torch.randn(CLASSES, *shape, generator=torch.Generator().manual_seed(99 + i))
        if len(shape) == 3:  # images: smooth patterns (4x4 blobs) survive global pooling
            coarse = patterns[:, :, :4, :4]
            patterns = nn.functional.interpolate(coarse, size=shape[1:], mode="bilinear")
        return 2 * patterns[y] + torch.randn(len(y), *shape, generator=g)

    def batches(n: int, seed: int) -> list:
        g = torch.Generator().manual_seed(seed)
        out = []
        for _ in range(n // BATCH):
            y = torch.randint(0, CLASSES, (BATCH,), generator=g)
            xs = [sample(s, y, g, i) for i, s in enumerate(shapes)]
            out.append((xs[0] if len(xs) == 1 else tuple(xs), y))
        return out

    def make() -> wl.data.Data:
        return wl.data.from_loaders(
            _loader(batches(N_TRAIN, 1)), _loader(batches(N_EVAL, 2)),
            num_classes=CLASSES, name="tensors",
        )  # fmt: skip

    return make


# ---- Hugging Face families ---------------------------------------------------------------------


def _hf(cls_name: str, config_name: str, **config) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        import transformers

        cfg = getattr(transformers, config_name)(**config)
        return getattr(transformers, cls_name)(cfg)

    return _seeded(build)


_TEXT = dict(vocab_size=VOCAB, max_position_embeddings=64, pad_token_id=0)
# initializer_range 0.2 (HF: 0.02): random blocks that barely touch the residual stream would
# give every technique a cosine of 0.9999
_ENC = dict(
    hidden_size=32, num_attention_heads=4, intermediate_size=64, initializer_range=0.2, **_TEXT
)
_DEC = dict(
    hidden_size=64, num_attention_heads=4, num_key_value_heads=2, intermediate_size=128,
    vocab_size=VOCAB, max_position_embeddings=64, pad_token_id=0, tie_word_embeddings=False,
)  # fmt: skip
_IMG = (3, 32, 32)


def _text_encoders() -> list[Family]:
    specs = [
        ("bert", "BertModel", "BertConfig", dict(_ENC), True),
        ("roberta", "RobertaModel", "RobertaConfig", dict(_ENC, max_position_embeddings=80), False),
        (
            "distilbert", "DistilBertModel", "DistilBertConfig",
            dict(dim=32, n_heads=4, hidden_dim=64, initializer_range=0.2, **_TEXT), False,
        ),
        ("albert", "AlbertModel", "AlbertConfig", dict(_ENC, embedding_size=16), True),
    ]  # fmt: skip
    out = []
    for name, cls, cfg, kw, types in specs:
        layers = "n_layers" if name == "distilbert" else "num_hidden_layers"
        out.append(
            Family(
                name, "encoder", "embedding",
                build=_hf(cls, cfg, **{layers: 2}, **kw),
                data=token_data("embedding", types=types), attention=True,
            )
        )  # fmt: skip
    return out


def _decoders() -> list[Family]:
    gpt2 = dict(
        n_embd=64, n_head=4, vocab_size=VOCAB, n_positions=64, bos_token_id=1, eos_token_id=2
    )  # fmt: skip
    specs = [
        ("gpt2", "GPT2LMHeadModel", "GPT2Config", gpt2, "n_layer"),
        ("llama-gqa", "LlamaForCausalLM", "LlamaConfig", _DEC, "num_hidden_layers"),
        ("qwen2", "Qwen2ForCausalLM", "Qwen2Config", _DEC, "num_hidden_layers"),
    ]
    return [
        Family(
            name, "decoder", "causal_lm",
            build=_hf(cls, cfg, **{layers: 2}, **kw),
            data=token_data("causal_lm"), attention=True,
        )
        for name, cls, cfg, kw, layers in specs
    ]  # fmt: skip


def _vision() -> list[Family]:
    vit = dict(
        image_size=32, patch_size=8, hidden_size=32, num_attention_heads=4,
        intermediate_size=64, num_labels=CLASSES,
    )  # fmt: skip
    # (name, model class, config class, its config)
    specs = [
        ("vit", "ViTForImageClassification", "ViTConfig",
         dict(vit, num_hidden_layers=2)),
        ("hf-resnet", "ResNetForImageClassification", "ResNetConfig",
         dict(embedding_size=16, hidden_sizes=[16, 32], depths=[1, 1], num_labels=CLASSES)),
        ("convnext", "ConvNextForImageClassification", "ConvNextConfig",
         dict(hidden_sizes=[16, 32], depths=[1, 1], num_stages=2, num_labels=CLASSES)),
        ("mobilenet-v2", "MobileNetV2ForImageClassification", "MobileNetV2Config",
         dict(image_size=32, depth_multiplier=0.25, num_labels=CLASSES,
              finegrained_output=False)),
    ]  # fmt: skip
    return [
        Family(
            name, "vision", "classification",
            build=_hf(cls, cfg, **config),
            data=tensor_data(_IMG), attention=name == "vit",
            train_epochs=10,
        )
        for name, cls, cfg, config in specs
    ]  # fmt: skip


# ---- torch-native families ---------------------------------------------------------------------


class DepthwiseResNet(nn.Module):
    """Residual blocks of depthwise 3x3 + pointwise 1x1 convolutions (MobileNet-style)."""

    def __init__(self, width: int = 32, blocks: int = 2) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, 2, 1), nn.BatchNorm2d(width), nn.ReLU())
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(width, width, 3, 1, 1, groups=width), nn.BatchNorm2d(width), nn.ReLU(),
                nn.Conv2d(width, width, 1), nn.BatchNorm2d(width),
            )
            for _ in range(blocks)
        )  # fmt: skip
        self.head = nn.Linear(width, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for block in self.blocks:
            x = torch.relu(x + block(x))
        return self.head(x.mean((2, 3)))


class RecurrentClassifier(nn.Module):
    """Token ids -> embedding -> LSTM (or GRU) -> the last state -> classes."""

    def __init__(self, hidden: int = 32, cell: str = "lstm") -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB, hidden)
        self.rnn = (nn.LSTM if cell == "lstm" else nn.GRU)(hidden, hidden, batch_first=True)
        self.head = nn.Linear(hidden, CLASSES)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(self.embed(ids))
        return self.head(out[:, -1])


class TwoInput(nn.Module):
    """An image branch and a feature branch, concatenated: called as model(image, features)."""

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(1, width, 3, 1, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
        self.mlp = nn.Sequential(nn.Linear(8, width), nn.ReLU())
        self.head = nn.Linear(2 * width, CLASSES)

    def forward(self, image: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        return self.head(torch.cat([self.conv(image).flatten(1), self.mlp(features)], dim=1))


def _torch_native() -> list[Family]:
    return [
        Family(
            "seed-cnn", "torch", "classification",
            build=_seeded(wl.models.mnist_cnn),
            data=tensor_data((1, 28, 28)), train_epochs=10,
        ),
        Family(
            "depthwise-resnet", "torch", "classification",
            build=_seeded(DepthwiseResNet),
            data=tensor_data(_IMG), train_epochs=10,
        ),
        Family(
            "lstm", "torch", "classification",
            build=_seeded(RecurrentClassifier),
            data=tensor_data((12,), ints=VOCAB), train_epochs=10,
        ),
        Family(
            "two-input", "torch", "classification",
            build=_seeded(TwoInput),
            data=tensor_data((1, 16, 16), (8,)), train_epochs=10,
        ),
    ]  # fmt: skip


FAMILIES: dict[str, Family] = {
    f.name: f for f in [*_text_encoders(), *_decoders(), *_vision(), *_torch_native()]
}
