"""K runs as one wide network: a sweep trained in one pass over the data.

Members may differ in beta, V_th, z, loss, learning rate and seed; everything else that
shapes the data or the scan (T, encoder, surrogate, batch size, data, widths, ...) must be equal. Members of one
seed form an input stream: they see the same batches and input spikes as their solo runs
would; each seed's stream has its own shuffle, Bernoulli draws and initial membranes
(`streams`), so a seed replicate trains in the same pack as the others.

    I^1 = x_s W^1_s + b^1_s              one product per stream s: W^1_s stacks its members' W^1
    I^l = s^{l-1}_k W^l_k + b^l_k        a batched product (einsum), member by member (l > 1)
    s, m = LIF(I)                        one scan; beta, V_th, z are per-neuron vectors

Parameters are stored stacked, `[K, N_out, N_in]`, and updated by `PackedAdam`, which
is Adam with a learning rate per member. A solo run is a pack of one, so a member of
a pack computes what its solo run computes (bit for bit while the matrix products do,
within float tolerance otherwise).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import kernels
from .config import PACKABLE_FIELDS, Loss, RunConfig, check_packable, pack_groups
from .encoders import is_repeated_frame
from .model import SNN
from .neurons import initial_membrane, lif_scan

__all__ = ["PACKABLE_FIELDS", "PackedSNN", "PackedAdam", "PackedOutput", "check_packable", "input_streams",
           "pack_groups", "packed_loss"]

@dataclass
class PackedOutput:
    spikes: list[Tensor]  # per layer [T, B, K, N]
    membranes: list[Tensor]  # per layer [T, B, K, N] (no gradient)

    @property
    def counts(self) -> Tensor:
        """Output spike counts [B, K, 10]."""
        return self.spikes[-1].sum(0)


class PackedSNN(nn.Module):
    """K SNNs of equal shape sharing one input train."""

    def __init__(self, configs: list[RunConfig], members: list[SNN] | None = None):
        super().__init__()
        check_packable(configs)
        self.configs = list(configs)
        if members is None:  # each member initialised exactly as its solo run
            members = [SNN(c, torch.Generator().manual_seed(c.seed)) for c in configs]
        n_layers = len(members[0].layers)
        self.weights = nn.ParameterList(
            nn.Parameter(torch.stack([m.layers[l].weight.detach() for m in members])) for l in range(n_layers))
        self.biases = nn.ParameterList(
            nn.Parameter(torch.stack([m.layers[l].bias.detach() for m in members])) for l in range(n_layers))
        for name in ("beta", "v_th", "z"):
            self.register_buffer(name, torch.tensor([getattr(c, name) for c in configs], dtype=torch.float32))
        self.streams = input_streams(configs)
        # Per-neuron vectors [K * width] of each layer, member-major, built once.
        self._neuron_params = [
            tuple(getattr(self, n).repeat_interleave(w.shape[1]) for n in ("beta", "v_th", "z"))
            for w in self.weights
        ]

    def _apply(self, fn, *args, **kwargs):
        super()._apply(fn, *args, **kwargs)  # .to(device) and friends: move the derived vectors too
        self._neuron_params = [tuple(fn(p) for p in params) for params in self._neuron_params]
        return self

    @property
    def size(self) -> int:
        return len(self.configs)

    def forward(self, x: Tensor | list[Tensor], generator=None) -> PackedOutput:
        """x: the input train [T, B, 784] of each stream (a list, or one tensor for one stream);
        generator: each stream's generator for random initial membranes (a list, or one)."""
        if isinstance(x, (list, tuple)):
            if len(self.streams) == 1:
                x, generator = x[0], generator[0] if isinstance(generator, (list, tuple)) else generator
            else:
                return self._forward_streams(list(x), generator)
        T, B = x.shape[:2]
        K = self.size
        spikes, membranes = [], []
        h = None
        for l, (w, b) in enumerate(zip(self.weights, self.biases)):
            width = w.shape[1]
            if l == 0:
                flat_w, flat_b = w.reshape(K * width, -1), b.reshape(K * width)
                if is_repeated_frame(x):
                    current = F.linear(x[0], flat_w, flat_b).unsqueeze(0).expand(T, B, K * width)
                else:
                    current = F.linear(x, flat_w, flat_b)
            elif K == 1:  # a solo run: exactly the plain Linear of the reference
                current = F.linear(h, w[0], b[0])
            else:  # member k's layer sees only member k's spikes
                current = torch.einsum("tbki,koi->tbko", h.view(T, B, K, -1), w) + b
                current = current.reshape(T, B, K * width)
            m0 = self._initial_membrane(B, width, current, generator)
            s, m = lif_scan(current, m0, *self._neuron_params[l], self.configs[0].surrogate)
            h = s
            spikes.append(s.view(T, B, K, width))
            membranes.append(m.view(T, B, K, width))
        return PackedOutput(spikes, membranes)

    def _forward_streams(self, xs: list[Tensor], generators) -> PackedOutput:
        """The forward pass of a pack whose members come from several input streams (seeds)."""
        T, B = xs[0].shape[:2]
        K = self.size
        gens = list(generators) if isinstance(generators, (list, tuple)) else [generators] * len(xs)
        order = torch.tensor([k for members in self.streams for k in members])
        back = torch.argsort(order)  # member k's position in the stream-major order
        spikes, membranes = [], []
        h = None
        for l, (w, b) in enumerate(zip(self.weights, self.biases)):
            width = w.shape[1]
            if l == 0:
                parts = []
                for members, x in zip(self.streams, xs):
                    rows = torch.tensor(members)
                    flat_w, flat_b = w[rows].reshape(len(members) * width, -1), b[rows].reshape(-1)
                    if is_repeated_frame(x):
                        part = F.linear(x[0], flat_w, flat_b).unsqueeze(0).expand(T, B, -1)
                    else:
                        part = F.linear(x, flat_w, flat_b)
                    parts.append(part.reshape(T, B, len(members), width))
                current = torch.cat(parts, dim=2)[:, :, back].reshape(T, B, K * width)
            else:
                current = torch.einsum("tbki,koi->tbko", h.view(T, B, K, -1), w) + b
                current = current.reshape(T, B, K * width)
            m0 = torch.cat([self._initial_membrane(B, width, current, gen, len(members))
                            for members, gen in zip(self.streams, gens)], dim=1)
            m0 = m0.view(B, K, width)[:, back].reshape(B, K * width)
            s, m = lif_scan(current, m0, *self._neuron_params[l], self.configs[0].surrogate)
            h = s
            spikes.append(s.view(T, B, K, width))
            membranes.append(m.view(T, B, K, width))
        return PackedOutput(spikes, membranes)

    def _initial_membrane(self, batch: int, width: int, like: Tensor, generator, members: int | None = None) -> Tensor:
        K = self.size if members is None else members
        return initial_membrane(self.configs[0].membrane_init, batch, width, generator, like, copies=K)

    def member(self, k: int) -> SNN:
        """Member k as a standalone `SNN` (a copy)."""
        snn = SNN(self.configs[k])
        with torch.no_grad():
            for layer, w, b in zip(snn.layers, self.weights, self.biases):
                layer.weight.copy_(w[k])
                layer.bias.copy_(b[k])
        return snn.to(self.weights[0].device)

    def member_state(self, k: int) -> dict[str, Tensor]:
        """Member k's parameters in `SNN.state_dict()` layout."""
        state = {}
        for l, (w, b) in enumerate(zip(self.weights, self.biases)):
            state[f"layers.{l}.weight"] = w[k].detach().clone()
            state[f"layers.{l}.bias"] = b[k].detach().clone()
        return state

    def load_member_state(self, k: int, state: dict[str, Tensor]) -> None:
        with torch.no_grad():
            for l, (w, b) in enumerate(zip(self.weights, self.biases)):
                w[k].copy_(state[f"layers.{l}.weight"])
                b[k].copy_(state[f"layers.{l}.bias"])


def _group_loss(counts: Tensor, targets: Tensor, loss: Loss, T: int) -> Tensor:
    """Mean loss [K] of members sharing one loss; counts [B, K, 10], targets [B] or [B, K]."""
    B, K, C = counts.shape
    if loss is Loss.MSE:
        onehot = F.one_hot(targets, C).to(counts.dtype)
        onehot = onehot.unsqueeze(1) if targets.dim() == 1 else onehot
        return ((counts / T - onehot) ** 2).mean(dim=(0, 2))
    flat = targets.repeat_interleave(K) if targets.dim() == 1 else targets.reshape(B * K)
    per_sample = F.cross_entropy(counts.reshape(B * K, C), flat, reduction="none")
    return per_sample.view(B, K).mean(0)


def packed_loss(counts: Tensor, targets: Tensor, losses: list[Loss], T: int) -> Tensor:
    """Per-member mean loss [K] of counts [B, K, 10] (see `model.snn_loss` for the formulas).

    targets: [B] shared by all members, or [B, K] (members of different seeds see other batches).
    """
    kinds = set(losses)
    if len(kinds) == 1:  # the usual case, a solo run included: no gather and scatter
        return _group_loss(counts, targets, next(iter(kinds)), T)
    out = counts.new_empty(counts.shape[1])
    for kind in kinds:
        members = [k for k, l in enumerate(losses) if l is kind]
        out[members] = _group_loss(counts[:, members], targets if targets.dim() == 1 else targets[:, members], kind, T)
    return out


def input_streams(configs: list[RunConfig]) -> list[list[int]]:
    """Member indices grouped by input stream (their seed), in order of first appearance."""
    streams: dict[int, list[int]] = {}
    for k, c in enumerate(configs):
        streams.setdefault(c.seed, []).append(k)
    return list(streams.values())


class PackedAdam:
    """Adam (Kingma & Ba) with one learning rate per member, on stacked [K, ...] parameters.

        m <- b1 m + (1 - b1) g;   v <- b2 v + (1 - b2) g^2
        p <- p - lr_k / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)

    Members whose entry in `active` is False are left untouched (a cancelled member).
    On the CPU one fused numba kernel per parameter does the whole update.
    """

    def __init__(self, params: list[Tensor], lrs: list[float], betas=(0.9, 0.999), eps: float = 1e-8):
        self.params = list(params)
        self.lr = torch.tensor(lrs, dtype=torch.float32, device=self.params[0].device)
        self.betas, self.eps = betas, eps
        self.step_count = 0
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]
        self.active = torch.ones(len(lrs), dtype=torch.bool, device=self.params[0].device)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        b1, b2 = self.betas
        self.step_count += 1
        bias1 = 1 - b1**self.step_count
        bias2_sqrt = math.sqrt(1 - b2**self.step_count)
        if self.params[0].device.type == "cpu" and kernels.engine() == "numba":
            self._step_numba(b1, b2, bias1, bias2_sqrt)
            return
        scale = torch.where(self.active, self.lr / bias1, torch.zeros_like(self.lr))
        for p, m, v in zip(self.params, self.exp_avg, self.exp_avg_sq):
            g = p.grad
            m.lerp_(g, 1 - b1)
            v.mul_(b2).addcmul_(g, g, value=1 - b2)
            denom = (v.sqrt() / bias2_sqrt).add_(self.eps)
            shape = (-1,) + (1,) * (p.dim() - 1)
            p.sub_(m / denom * scale.view(shape))

    def _step_numba(self, b1: float, b2: float, bias1: float, bias2_sqrt: float) -> None:
        """One fused kernel per parameter, on numpy views made once (the tensors are updated in place)."""
        flat = lambda t: t.detach().numpy().reshape(t.shape[0], -1)  # noqa: E731
        if getattr(self, "_views", None) is None:
            self._views = [(flat(p), flat(m), flat(v)) for p, m, v in zip(self.params, self.exp_avg, self.exp_avg_sq)]
            self._grad_views: list = [None] * len(self.params)
        f32 = np.float32
        lr, active = self.lr.numpy(), self.active.numpy()
        scale = np.where(active, lr / f32(bias1), f32(0.0)).astype(f32)
        for i, (param, (p, m, v)) in enumerate(zip(self.params, self._views)):
            cached = self._grad_views[i]
            if cached is None or cached[0] is not param.grad:  # the fused step reuses its gradient buffers
                cached = self._grad_views[i] = (param.grad, flat(param.grad))
            kernels.adam_step(p, cached[1], m, v, scale, f32(b1), f32(b2), f32(bias2_sqrt), f32(self.eps))

    def member_state(self, k: int) -> dict:
        return {"step": self.step_count, "exp_avg": [m[k].clone() for m in self.exp_avg],
                "exp_avg_sq": [v[k].clone() for v in self.exp_avg_sq]}

    def load_member_state(self, k: int, state: dict) -> None:
        self.step_count = int(state["step"])
        for m, v, sm, sv in zip(self.exp_avg, self.exp_avg_sq, state["exp_avg"], state["exp_avg_sq"]):
            m[k].copy_(sm)
            v[k].copy_(sv)
