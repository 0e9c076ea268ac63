"""Built-in models and loaders."""

from weightlight.models import zoo as _zoo  # noqa: F401  (registers the built-ins)
from weightlight.models.io import build_from_factory, load_model, save_model
from weightlight.models.registry import create, names, register
from weightlight.models.shrink import shrink
from weightlight.models.skeleton import fit_to_state_dict
from weightlight.models.zoo import MLP, MnistCNN, SmallResNet, mlp, mnist_cnn, resnet_small

__all__ = [
    "MLP",
    "MnistCNN",
    "SmallResNet",
    "build_from_factory",
    "create",
    "fit_to_state_dict",
    "load_model",
    "mlp",
    "mnist_cnn",
    "names",
    "register",
    "resnet_small",
    "save_model",
    "shrink",
]
