"""The surrogate derivatives ds/dx (x = m - V_th, slope z) as torch functions: the autograd engine's.

Formulas and names are in `surrogate_table` (torch-free, what the web side reads); the numba kernels
compute the same per element (`kernels.lif_backward`, `lanes.lif_backward_rows`, picked by
`SurrogateSpec.kernel`; `kernels.fast_sigmoid_grad`, `kernels.arctan_grad`). z may be a float or a
tensor broadcastable to x (one value per neuron).
"""

from __future__ import annotations

import math
from typing import Callable, Union

import torch
from torch import Tensor

from . import kernels
from .surrogate_table import Surrogate

Param = Union[float, Tensor]


def sigmoid(x: Tensor, z: Param) -> Tensor:
    """z * sig(z x) * (1 - sig(z x)), written as z * sig(z x) * sig(-z x); 0 where |z x| >= 80.

    Both sigmoids saturate to finite values (0 or 1) for any finite x, so the product
    is never NaN or inf, unlike the form exp(-zx) / (1 + exp(-zx))^2 that overflows.
    Beyond |z x| = 80 (`kernels.SURROGATE_CUTOFF`, where it is below 2e-35 z) it is exactly 0,
    as in the fused kernel, so both engines give the same gradient there.
    """
    zx = z * x
    grad = z * torch.sigmoid(zx) * torch.sigmoid(-zx)
    return grad.masked_fill_(zx.abs() >= kernels.SURROGATE_CUTOFF, 0.0)


def fast_sigmoid(x: Tensor, z: Param) -> Tensor:
    """1 / (1 + |z x|)^2 (SuperSpike): peak 1 at x = 0, tails falling as 1 / (z x)^2. Finite everywhere."""
    d = 1 + (z * x).abs()
    return 1 / (d * d)


def arctan(x: Tensor, z: Param) -> Tensor:
    """(z / 2) / (1 + (pi / 2 z x)^2): peak z / 2 at x = 0. Finite everywhere (inf x gives 0)."""
    w = (math.pi / 2) * (z * x)
    return (z * 0.5) / (1 + w * w)


GRADS: dict[Surrogate, Callable[[Tensor, Param], Tensor]] = {
    Surrogate.SIGMOID: sigmoid, Surrogate.FAST_SIGMOID: fast_sigmoid, Surrogate.ARCTAN: arctan,
}


def surrogate_grad(x: Tensor, z: Param, surrogate: Surrogate | str = Surrogate.SIGMOID) -> Tensor:
    """ds/dx of `surrogate` at x (same shape as x)."""
    return GRADS[Surrogate(surrogate)](x, z)
