"""The two baselines Spikeboard is measured against, written the way their users write them.

Lab loop (the course lab's code): torchvision DataLoader with `ToTensor()`, the input train
stacked to [T, B, 784] up front (`torch.bernoulli` for Bernoulli), and per timestep, per layer,
a hand-written LIF step with a sigmoid surrogate:

    s_t     = H(m_t - V_th)                     backward: z * sig(z (m_t - V_th)) * (1 - sig(...))
    m_{t+1} = beta * m_t + I_t - V_th * s_t     (reset carries no gradient)

snnTorch tutorial style: `nn.Linear` + `snn.Leaky(..., reset_mechanism="subtract")` with
`surrogate.sigmoid(slope=z)`, a Python loop over time, `spikegen.rate` for Bernoulli input
and the same static frame fed at every step for the image and threshold encoders.

Both train 784-10-10 with Adam and MSE between the output firing rate and the one-hot target.
"""

from __future__ import annotations

from typing import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader
from torchvision import datasets, transforms
from torchvision.datasets.vision import VisionDataset

from snn_core.config import RunConfig
from snn_core.data import Split



class MemoryMNIST(datasets.MNIST):
    """torchvision's `MNIST` over arrays already in memory: its own `__getitem__` (PIL, then transform)."""

    def __init__(self, split: Split, transform=None):
        VisionDataset.__init__(self, root="", transform=transform)  # skip MNIST's file lookup
        self.train = True
        self.data = split.images.view(-1, 28, 28)
        self.targets = split.labels


def loader(split: Split, batch_size: int, seed: int) -> Iterator[tuple[Tensor, Tensor]]:
    """Endless (images [B, 1, 28, 28] float, labels) batches of a shuffled torchvision DataLoader."""
    dataset = MemoryMNIST(split, transform=transforms.ToTensor())
    data = DataLoader(dataset, batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(seed))
    while True:
        yield from data


def rate_mse(spikes: Tensor, labels: Tensor) -> Tensor:
    """MSE between the output firing rate (count / T) and the one-hot target; spikes [T, B, 10]."""
    rate = spikes.sum(0) / spikes.shape[0]
    return F.mse_loss(rate, F.one_hot(labels, 10).to(rate.dtype))


# -- the lab's loop -----------------------------------------------------------------------


class SigmoidSpike(torch.autograd.Function):
    """forward: H(x), x = m - V_th; backward: z * sig(z x) * (1 - sig(z x))."""

    @staticmethod
    def forward(ctx, x: Tensor, z: float) -> Tensor:
        ctx.save_for_backward(x)
        ctx.z = z
        return (x > 0).float()

    @staticmethod
    def backward(ctx, grad: Tensor):
        (x,) = ctx.saved_tensors
        sig = torch.sigmoid(ctx.z * x)
        return grad * ctx.z * sig * (1 - sig), None


def lab_encode(x: Tensor, encoder: str, T: int) -> Tensor:
    """x [B, 784] in [0, 1] -> stacked input train [T, B, 784]."""
    if encoder == "image":
        return torch.stack([x] * T)
    if encoder == "threshold":
        return torch.stack([(x > 0.5).float()] * T)
    return torch.bernoulli(torch.stack([x] * T))


class LabNet(nn.Module):
    def __init__(self, beta: float, v_th: float, z: float):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(784, 10), nn.Linear(10, 10)
        self.beta, self.v_th, self.z = beta, v_th, z

    def lif_step(self, m: Tensor, current: Tensor) -> tuple[Tensor, Tensor]:
        s = SigmoidSpike.apply(m - self.v_th, self.z)
        return s, self.beta * m + current - self.v_th * s.detach()

    def forward(self, x: Tensor) -> Tensor:
        """x [T, B, 784] -> output spikes [T, B, 10]."""
        m1 = x.new_zeros(x.shape[1], 10)
        m2 = x.new_zeros(x.shape[1], 10)
        out = []
        for t in range(x.shape[0]):
            s1, m1 = self.lif_step(m1, self.fc1(x[t]))
            s2, m2 = self.lif_step(m2, self.fc2(s1))
            out.append(s2)
        return torch.stack(out)


def lab_step(config: RunConfig, split: Split) -> Callable[[], None]:
    """A closure that trains the lab's network on one batch per call."""
    torch.manual_seed(config.seed)
    model = LabNet(config.beta, config.v_th, config.z)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    batches = loader(split, config.batch_size, config.seed)
    encoder, T = config.encoder.value, config.T

    def step() -> None:
        images, labels = next(batches)
        x = lab_encode(images.view(images.shape[0], -1), encoder, T)
        loss = rate_mse(model(x), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step


# -- snnTorch, tutorial style --------------------------------------------------------------


def snntorch_available() -> bool:
    try:
        import snntorch  # noqa: F401
    except ImportError:
        return False
    return True


def snntorch_version() -> str:
    import snntorch

    return snntorch.__version__


class SnnTorchNet(nn.Module):
    def __init__(self, beta: float, v_th: float, z: float):
        super().__init__()
        import snntorch as snn
        from snntorch import surrogate

        grad = surrogate.sigmoid(slope=z)
        self.fc1 = nn.Linear(784, 10)
        self.lif1 = snn.Leaky(beta=beta, threshold=v_th, spike_grad=grad, reset_mechanism="subtract")
        self.fc2 = nn.Linear(10, 10)
        self.lif2 = snn.Leaky(beta=beta, threshold=v_th, spike_grad=grad, reset_mechanism="subtract")

    def forward(self, x: Tensor, T: int) -> Tensor:
        """x: [T, B, 784] spike trains, or a static [B, 784] frame fed at every step."""
        mem1, mem2 = self.lif1.reset_mem(), self.lif2.reset_mem()
        spk2_rec = []
        for step in range(T):
            cur1 = self.fc1(x[step] if x.dim() == 3 else x)
            spk1, mem1 = self.lif1(cur1, mem1)
            cur2 = self.fc2(spk1)
            spk2, mem2 = self.lif2(cur2, mem2)
            spk2_rec.append(spk2)
        return torch.stack(spk2_rec)


def snntorch_step(config: RunConfig, split: Split) -> Callable[[], None]:
    """A closure that trains the snnTorch network on one batch per call."""
    from snntorch import spikegen

    torch.manual_seed(config.seed)
    model = SnnTorchNet(config.beta, config.v_th, config.z)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    batches = loader(split, config.batch_size, config.seed)
    encoder, T = config.encoder.value, config.T

    def step() -> None:
        images, labels = next(batches)
        x = images.view(images.shape[0], -1)
        if encoder == "bernoulli":
            x = spikegen.rate(x, num_steps=T)
        elif encoder == "threshold":
            x = (x > 0.5).float()
        loss = rate_mse(model(x, T), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step


# -- SpikingJelly 2.0, multi-step ----------------------------------------------------------


def spikingjelly_available() -> bool:
    try:
        from spikingjelly.activation_based import neuron  # noqa: F401
    except ImportError:
        return False
    return True


def spikingjelly_version() -> str:
    from importlib.metadata import version

    return version("spikingjelly")


def spikingjelly_net(beta: float, v_th: float, z: float) -> nn.Module:
    """784-10-10 in SpikingJelly's multi-step mode: `layer.Linear` + `neuron.LIFNode(step_mode="m")`.

    Soft reset (v_reset=None: subtract V_th), detach_reset, sigmoid surrogate of slope z, and
    decay_input=False with tau = 1 / (1 - beta), so H_t = beta V_{t-1} + X_t (charge, then fire).
    """
    from spikingjelly.activation_based import layer, neuron, surrogate

    def lif():
        return neuron.LIFNode(tau=1.0 / (1.0 - beta), decay_input=False, v_threshold=v_th, v_reset=None,
                              surrogate_function=surrogate.Sigmoid(alpha=z), detach_reset=True, step_mode="m")

    return nn.Sequential(layer.Linear(784, 10, step_mode="m"), lif(), layer.Linear(10, 10, step_mode="m"), lif())


def spikingjelly_step(config: RunConfig, split: Split) -> Callable[[], None]:
    """A closure that trains the SpikingJelly network on one batch per call ([T, B, 784] input)."""
    from spikingjelly.activation_based import functional

    torch.manual_seed(config.seed)
    model = spikingjelly_net(config.beta, config.v_th, config.z)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    batches = loader(split, config.batch_size, config.seed)
    encoder, T = config.encoder.value, config.T

    def step() -> None:
        images, labels = next(batches)
        x = lab_encode(images.view(images.shape[0], -1), encoder, T)
        loss = rate_mse(model(x), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        functional.reset_net(model)

    return step


# -- Norse 1.1 -----------------------------------------------------------------------------


def norse_available() -> bool:
    try:
        from norse.torch import LIF  # noqa: F401
    except ImportError:
        return False
    return True


def norse_version() -> str:
    from importlib.metadata import version

    return version("norse")


class NorseNet(nn.Module):
    """784-10-10 with Norse's `LIF` layers (multi-step over [T, B, N]).

    Norse's LIF is current-based (a synaptic current with its own decay) and offers no sigmoid
    surrogate, so this uses its default SuperSpike surrogate with alpha = z; the membrane decay per
    step dt * tau_mem_inv is set to 1 - beta. A timing peer, not a numerical twin.
    """

    def __init__(self, beta: float, v_th: float, z: float):
        super().__init__()
        from norse.torch import LIF, LIFParameters

        p = LIFParameters(tau_mem_inv=torch.as_tensor((1.0 - beta) / 1e-3), v_th=torch.as_tensor(v_th),
                          alpha=torch.as_tensor(z), method="super")
        self.fc1, self.fc2 = nn.Linear(784, 10), nn.Linear(10, 10)
        self.lif1, self.lif2 = LIF(p), LIF(p)

    def forward(self, x: Tensor) -> Tensor:
        s1, _ = self.lif1(self.fc1(x))
        s2, _ = self.lif2(self.fc2(s1))
        return s2


def norse_step(config: RunConfig, split: Split) -> Callable[[], None]:
    """A closure that trains the Norse network on one batch per call."""
    torch.manual_seed(config.seed)
    model = NorseNet(config.beta, config.v_th, config.z)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    batches = loader(split, config.batch_size, config.seed)
    encoder, T = config.encoder.value, config.T

    def step() -> None:
        images, labels = next(batches)
        x = lab_encode(images.view(images.shape[0], -1), encoder, T)
        loss = rate_mse(model(x), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step
