"""The one network shape every model here uses: a multilayer perceptron."""

from __future__ import annotations

from torch import nn


def mlp(sizes: list[int], activation: type[nn.Module] = nn.ReLU,
        out: nn.Module | None = None) -> nn.Sequential:
    """Linear layers of the given sizes with an activation between them (none after the last).

    mlp([784, 400, 20]) is Linear(784, 400) -> ReLU -> Linear(400, 20).
    """
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(activation())
    if out is not None:
        layers.append(out)
    return nn.Sequential(*layers)
