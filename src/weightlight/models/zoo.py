"""The built-in example models.

- `mnist_cnn`: the classic PyTorch MNIST example (2 conv + 2 fc, 1,199,882 parameters): the
  seed model most tutorials start from. Its fc1 holds 98 % of the weights.
- `resnet_small`: a CIFAR-style ResNet with BasicBlocks, so structured pruning meets real
  dependencies (residual additions, BatchNorm, strided shortcuts).
- `mlp`: a plain multilayer perceptron (a distillation student and a Linear-only test case).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from weightlight.models.registry import register


class MnistCNN(nn.Module):
    """conv(32) -> conv(64) -> maxpool -> fc(128) -> fc(classes), as in pytorch/examples."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, width: float = 1.0) -> None:
        super().__init__()
        c1, c2, hidden = _w(32, width), _w(64, width), _w(128, width)
        self.conv1 = nn.Conv2d(in_channels, c1, 3, 1)
        self.conv2 = nn.Conv2d(c1, c2, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        # 28x28 -> 26 -> 24 -> pool 12; a LazyLinear would break state_dict loading before
        # the first forward, so the 12x12 map of 28x28 inputs is fixed here.
        self.fc1 = nn.Linear(c2 * 12 * 12, hidden)
        self.fc2 = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = self.dropout2(x)
        return self.fc2(x)


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class SmallResNet(nn.Module):
    """ResNet with `blocks` BasicBlocks per stage at widths (w, 2w, 4w), global pooling, fc."""

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        width: int = 16,
        blocks: tuple[int, ...] = (1, 1, 1),
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU()
        )
        layers, cin = [], width
        for stage, n in enumerate(blocks):
            cout = width * 2**stage
            for i in range(n):
                layers.append(BasicBlock(cin, cout, stride=2 if (stage > 0 and i == 0) else 1))
                cin = cout
        self.layers = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layers(self.stem(x))
        return self.fc(torch.flatten(self.pool(x), 1))


class MLP(nn.Module):
    """Flatten -> Linear/ReLU stack -> Linear."""

    def __init__(
        self, in_features: int = 784, num_classes: int = 10, hidden: tuple[int, ...] = (256, 128)
    ) -> None:
        super().__init__()
        dims = [in_features, *hidden]
        layers: list[nn.Module] = [nn.Flatten()]
        for a, b in zip(dims[:-1], dims[1:], strict=True):
            layers += [nn.Linear(a, b), nn.ReLU()]
        layers.append(nn.Linear(dims[-1], num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def _w(channels: int, width: float) -> int:
    return max(1, round(channels * width))


@register("mnist_cnn")
def mnist_cnn(in_channels: int = 1, num_classes: int = 10, width: float = 1.0) -> nn.Module:
    return MnistCNN(in_channels, num_classes, width)


@register("resnet_small")
def resnet_small(
    in_channels: int = 1, num_classes: int = 10, width: int = 16, blocks: tuple = (1, 1, 1)
) -> nn.Module:
    return SmallResNet(in_channels, num_classes, width, tuple(blocks))


@register("mlp")
def mlp(in_features: int = 784, num_classes: int = 10, hidden: tuple = (256, 128)) -> nn.Module:
    return MLP(in_features, num_classes, tuple(hidden))
