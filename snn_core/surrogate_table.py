"""The surrogate gradients a run may train with, in one table. No torch.

The forward pass spikes s = H(m - V_th) whatever the surrogate; the backward pass replaces dH/dx,
x = m - V_th, by the surrogate's derivative, of slope z (`RunConfig.z`):

    sigmoid      ds/dx = z sig(z x) (1 - sig(z x))        peak z / 4   (the lab's, the default)
    fast_sigmoid ds/dx = 1 / (1 + z |x|)^2                 peak 1       (SuperSpike, Zenke & Ganguli 2018)
    arctan       ds/dx = (z / 2) / (1 + (pi / 2 z x)^2)    peak z / 2   (Fang et al. 2021)

(the derivatives of sig(z x), x / (1 + z |x|) and arctan(pi / 2 z x) / pi; snnTorch's `sigmoid`,
`fast_sigmoid` and `atan` use the same forms.) Every engine computes them: `surrogates.py` holds the
torch forms (autograd path) and the `kernel` code by which the numba kernels (`kernels.lif_backward`,
`lanes.lif_backward_rows`) pick theirs. The native kernels compute only first-layer sums and never
touch the surrogate.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Surrogate(str, Enum):
    SIGMOID = "sigmoid"
    FAST_SIGMOID = "fast_sigmoid"
    ARCTAN = "arctan"


@dataclass(frozen=True)
class SurrogateSpec:
    help: str
    formula: str  # ds/dx, x = m - V_th
    kernel: int  # the code the numba kernels branch on


SURROGATES: dict[Surrogate, SurrogateSpec] = {
    Surrogate.SIGMOID: SurrogateSpec("The lab's: the derivative of a sigmoid of slope z (peak z/4).",
                                     "z sig(z x) (1 - sig(z x))", 0),
    Surrogate.FAST_SIGMOID: SurrogateSpec("SuperSpike's fast sigmoid: heavy tails, peak 1 whatever z.",
                                          "1 / (1 + z |x|)^2", 1),
    Surrogate.ARCTAN: SurrogateSpec("The derivative of arctan (peak z/2), with tails between the two.",
                                    "(z / 2) / (1 + (pi / 2 z x)^2)", 2),
}

KERNEL_SIGMOID, KERNEL_FAST_SIGMOID, KERNEL_ARCTAN = (SURROGATES[s].kernel for s in Surrogate)
