"""One fused training step of a pack on the CPU: forward, loss, backward and the gradients, no autograd.

The autograd engine (`packed.PackedSNN` + `neurons.LIFScan`) builds a graph of ~40 small ops
per step, and for the lab's 784-10-10 network their dispatch costs more than their arithmetic.
Here the step is a handful of numba kernels on arrays laid out batch innermost,

    [T, K * N, B]    time, member-major neuron, batch (64 wide: a short layer still vectorises)

so that the products of the short layers (10 x 10 per member) run over 64 batch lanes instead
of 10 neuron lanes. Per step:

    I^1 = x W^1_all + b^1_all           torch's F.linear, the very op of the autograd path
    s^l, m^l = LIF(I^l)                 lif_forward_rows (kernels.lif_forward's float ops: identical spikes)
    I^{l+1} = s^l W^{l+1}_k + b^{l+1}_k  linear_forward, member by member, over the batch lanes
    loss_k, dL/dcounts                  loss_grad (MSE on the rate, or cross-entropy on counts)
    dL/dI^l                             lif_backward_rows (kernels.lif_backward's surrogate and scan)
    dW^l, db^l, dL/ds^{l-1}             linear_backward (l > 1); for l = 1 one torch product

A Bernoulli train arrives undrawn (`encoders.BernoulliTrain`). Where the native kernels build
(`native`: AVX-512, compiled on first use), the first layer works on the spikes alone: I^1 is the sum
of the spiking pixels' rows of W^T per step and sample, and dW^1 adds dL/dI^1 into those pixels' rows,
on spike lists the forward keeps (`KEEP_BYTES` a stream; past it the backward draws the train again).
Elsewhere a large train (`training.LAZY_INPUT_BYTES`) is drawn a few steps at a time (`CHUNK_BYTES`,
into one buffer that stays in cache) for torch's products, and drawn again for dW^1 = sum over chunks
of g_c^T x_c, rather than writing the whole float train out to memory and reading it back twice.

The gradients are left in each parameter's `.grad`, where `packed.PackedAdam` (one fused numba
update per parameter) takes them, so the optimizer state and checkpoints are those of the
autograd path. Spikes equal the autograd path's and gradients agree within float tolerance
(tests/test_fused.py holds both against the autograd engine and the per-timestep reference).
`SPIKEBOARD_ENGINE=torch` (or `numba`, the autograd path with the fused scans) turns it off.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch import Tensor

from . import kernels, lanes, native
from .config import Loss
from .encoders import BernoulliTrain, is_repeated_frame
from .neurons import initial_membrane
from .surrogate_table import SURROGATES

def enabled(device: torch.device) -> bool:
    """True when training steps run fused: on the CPU, with numba, unless SPIKEBOARD_ENGINE says otherwise."""
    return device.type == "cpu" and kernels.numba is not None and os.environ.get(
        "SPIKEBOARD_ENGINE", "auto") in ("auto", "fused")


def native_bernoulli(pixels: int) -> bool:
    """True when a Bernoulli input of this many pixels takes the native kernels (`native`), not BLAS."""
    return pixels <= native.MAX_PIXELS and native.library() is not None


class FusedStep:
    """Training steps (and evaluation passes) of one `PackedSNN`: any widths, any encoder, MSE or CE.

    `streams` groups the members by input stream (`PackedSNN.streams`): members of one stream see
    the same batch and input spikes; members of different seeds see their own. The first layer's
    current of a stream is one product W^1_s x_s^T (rows = the stream's members, already batch
    innermost); computing it this way, a member's rows come out bit for bit what its solo run
    computes, so a member trains exactly as it would alone (tests/test_fused.py).

    `step(xs, labels, generators)` computes every member's loss and gradients for a batch and leaves
    the gradients in the parameters' `.grad`; it returns (loss [K], counts [B, K, 10]).
    `forward(xs, generators)` is the pass alone, spikes per layer as [T, B, K, N] (evaluation).
    A single stream may pass x, labels and generator themselves instead of one-item lists.
    Buffers are allocated once per batch size and reused.
    """

    def __init__(self, pack):
        self.pack = pack
        self.config = pack.configs[0]
        self.K = pack.size
        self.widths = [w.shape[1] for w in pack.weights]
        self.streams = [np.asarray(s, dtype=np.int64) for s in pack.streams]
        self._rows = [torch.as_tensor(s) for s in pack.streams]
        self.surrogate_kernel = SURROGATES[self.config.surrogate].kernel  # packs share one (`check_packable`)
        self.is_ce = np.array([c.loss is Loss.CE for c in pack.configs], dtype=np.bool_)
        self._buffers: dict[int, dict] = {}
        self._params: dict[int, list] = {}
        self._last: tuple[int, int] | None = None
        self._chunk: Tensor | None = None
        self._native_spaces: dict[tuple, dict] = {}
        # Views made once: the optimizer updates the parameters in place.
        self._w = [w.detach() for w in pack.weights]
        self._b = [b.detach() for b in pack.biases]
        self._w_np = [w.numpy() for w in self._w]
        self._b_np = [b.numpy() for b in self._b]

    def _lane_params(self, batch: int) -> list[tuple[np.ndarray, ...]]:
        """Per layer (beta, V_th, z) as float32 [K * N], one value per row of B lanes."""
        if not self._params:
            self._params[0] = [tuple(np.ascontiguousarray(p.detach().cpu().numpy(), dtype=np.float32) for p in params)
                               for params in self.pack._neuron_params]
        return self._params[0]

    def _buffers_for(self, batch: int) -> dict:
        if batch not in self._buffers:
            T, K, B = self.config.T, self.K, batch
            f32 = np.float32
            layers = [dict(current=np.empty((T, K, n, B), f32), spikes=np.empty((T, K, n, B), f32),
                           membranes=np.empty((T, K, n, B), f32), grad_spikes=np.empty((T, K, n, B), f32),
                           grad_current=np.empty((T, K, n, B), f32), m0=np.zeros((K * n, B), f32))
                      for n in self.widths]
            grads_w = [torch.zeros_like(w) for w in self.pack.weights]
            grads_b = [torch.zeros_like(b) for b in self.pack.biases]
            self._buffers[batch] = dict(layers=layers, grads_w=grads_w, grads_b=grads_b,
                                        grads_w_np=[g.numpy() for g in grads_w], grads_b_np=[g.numpy() for g in grads_b],
                                        counts=np.empty((B, K, self.widths[-1]), f32),
                                        losses=np.empty(K, np.float64), labels=np.empty((K, B), np.int64))
        return self._buffers[batch]

    @staticmethod
    def _listed(value, n: int) -> list:
        """Per-stream values: a list as given, else one value for every stream (e.g. no generator)."""
        return list(value) if isinstance(value, (list, tuple)) else [value] * n

    def _forward(self, xs: list[Tensor], generators: list, keep: bool = False) -> dict:
        K, T = self.K, self.config.T
        B = xs[0].shape[1]
        buf = self._buffers_for(B)
        layers, params = buf["layers"], self._lane_params(B)
        weights, biases = self._w, self._b
        n1 = self.widths[0]
        first = layers[0]["current"].reshape(T, K * n1, B)
        for stream, (members, rows, x) in enumerate(zip(self.streams, self._rows, xs)):
            if isinstance(x, BernoulliTrain) and self._native(x):  # sums of the spiking pixels' weight rows
                space = self._native_space(stream, x, len(members) * n1)
                lanes.blocked_weights(self._w_np[0], members, space["wt"])
                x.project(space["wt"], space["currents"], space["lists"] if keep else None)
                lanes.rows_to_lanes(space["currents"], self._b_np[0], members, n1, first)
                continue
            repeated = not isinstance(x, BernoulliTrain) and is_repeated_frame(x)
            if len(members) == K:
                w1, b1 = weights[0].reshape(K * n1, -1), biases[0].reshape(-1)
            else:
                w1, b1 = weights[0][rows].reshape(-1, weights[0].shape[2]), biases[0][rows].reshape(-1)
            if isinstance(x, BernoulliTrain):  # a few steps at a time, drawn into a buffer that stays in cache
                for t0, chunk in self._chunks(x):
                    product = torch.mm(w1, chunk.reshape(-1, chunk.shape[2]).t())  # [Ks * N, n * B]
                    lanes.currents_to_lanes(product.numpy().reshape(w1.shape[0], -1, B), b1.numpy(), members, n1, t0,
                                      chunk.shape[0], first)
                continue
            inputs = x[0] if repeated else x.reshape(T * B, -1)
            product = torch.mm(w1, inputs.t())  # [Ks * N, Tc * B]: batch innermost already
            lanes.currents_to_lanes(product.numpy().reshape(w1.shape[0], -1, B), b1.numpy(), members, n1, 0, T, first)
        init, like = self.config.membrane_init, self._w[0]
        for l, layer in enumerate(layers):
            n = self.widths[l]
            if l > 0:
                lanes.linear_forward(layers[l - 1]["spikes"], self._w_np[l], self._b_np[l], layer["current"])
            for members, gen in zip(self.streams, generators):  # one draw per layer and stream, shared by its members
                lanes.initial_lanes(initial_membrane(init, B, n, gen, like).numpy(), members, layer["m0"])
            beta, v_th, z = params[l]
            R = K * n
            lanes.lif_forward_rows(layer["current"].reshape(T, R, B), layer["m0"], beta, v_th,
                             layer["spikes"].reshape(T, R, B), layer["membranes"].reshape(T, R, B))
        self._last = (T, B)
        return buf

    KEEP_BYTES = 64 << 20  # spike lists kept per stream for the backward up to this size, else drawn again

    @staticmethod
    def _native(x: BernoulliTrain) -> bool:
        return native_bernoulli(x.shape[2])

    def _native_space(self, stream: int, x: BernoulliTrain, width: int) -> dict:
        """Per input stream: the blocked W^T (then dW^T), the currents [T, B, Lp] (then dL/dI), and room
        for the spike lists the backward reads (None past KEEP_BYTES: it draws the train again)."""
        T, B, P = x.shape
        Lp = native.padded_lanes(width)
        key = (stream, T, B, P, Lp)
        if key not in self._native_spaces:
            fits = T * B * P * 2 <= self.KEEP_BYTES  # (the room; only the spikes in it are touched)
            self._native_spaces[key] = dict(wt=np.empty((Lp // native.LANES, P, native.LANES), np.float32),
                                            currents=np.empty((T, B, Lp), np.float32),
                                            lists=native.Lists(T, B, P) if fits else None)
        return self._native_spaces[key]

    CHUNK_BYTES = 2 << 20  # steps drawn at a time: about 2 MB of input, within this machine's L2 and L3 share

    def _chunks(self, x: BernoulliTrain):
        """(t0, steps t0.. of x) over the whole train, in one reused buffer of a few steps."""
        T, B, P = x.shape
        n = max(1, min(T, self.CHUNK_BYTES // (B * P * 4)))
        if self._chunk is None or self._chunk.shape[1:] != (B, P) or self._chunk.shape[0] < n:
            self._chunk = torch.empty(n, B, P)
        for t0 in range(0, T, n):
            yield t0, x.steps(t0, self._chunk[: min(n, T - t0)])

    def forward(self, xs, generators=None) -> list[Tensor]:
        """Spikes per layer [T, B, K, N] of one pass (no gradients)."""
        S = len(self.streams)
        xs = self._listed(xs, S)
        self._forward(xs, self._listed(generators, S))
        return self.spikes()

    def __call__(self, xs, labels, generators=None) -> tuple[Tensor, Tensor]:
        pack, K, T, S = self.pack, self.K, self.config.T, len(self.streams)
        xs, labels, generators = self._listed(xs, S), self._listed(labels, S), self._listed(generators, S)
        buf = self._forward(xs, generators, keep=True)
        B = xs[0].shape[1]
        layers, params = buf["layers"], self._lane_params(B)
        for members, y in zip(self.streams, labels):
            buf["labels"][members] = y.numpy()

        out = layers[-1]
        lanes.loss_grad(out["spikes"], buf["labels"], self.is_ce, buf["counts"], buf["losses"], out["grad_spikes"])
        for l in range(len(layers) - 1, -1, -1):
            layer = layers[l]
            beta, v_th, z = params[l]
            R = K * self.widths[l]
            lanes.lif_backward_rows(layer["grad_spikes"].reshape(T, R, B), layer["membranes"].reshape(T, R, B),
                                    beta, v_th, z, layer["grad_current"].reshape(T, R, B), self.surrogate_kernel)
            if l > 0:
                lanes.linear_backward(layer["grad_current"], layers[l - 1]["spikes"], self._w_np[l],
                                buf["grads_w_np"][l], buf["grads_b_np"][l], layers[l - 1]["grad_spikes"])
        n1 = self.widths[0]
        grad_current = layers[0]["grad_current"].reshape(T, K * n1, B)
        grad_w1, grad_b1 = buf["grads_w"][0], buf["grads_b_np"][0].reshape(-1)
        for stream, (members, rows, x) in enumerate(zip(self.streams, self._rows, xs)):
            repeated = not isinstance(x, BernoulliTrain) and is_repeated_frame(x)
            g1 = np.empty((len(members) * n1, 1 if repeated else T, B), np.float32)
            lanes.first_layer_grads(grad_current, members, n1, grad_b1, g1)
            if isinstance(x, BernoulliTrain) and self._native(x):  # dW^1 on the spikes the forward listed
                space = self._native_space(stream, x, len(members) * n1)
                # dL/dI^1 into the currents' room (no longer needed), dW^T into the weights'
                lanes.lanes_to_rows(g1, space["currents"])
                x.backproject(space["currents"], space["wt"], space["lists"])
                lanes.unblocked_grads(space["wt"], members, n1, buf["grads_w_np"][0])
                continue
            if isinstance(x, BernoulliTrain):  # dW^1 = sum over the chunks, each drawn again (cheaper than keeping it)
                flat = torch.from_numpy(g1).view(g1.shape[0], T * B)
                acc = grad_w1.view(K * n1, -1) if len(members) == K else torch.empty(g1.shape[0], x.shape[2])
                for i, (t0, chunk) in enumerate(self._chunks(x)):
                    part, steps = flat[:, t0 * B:(t0 + chunk.shape[0]) * B], chunk.reshape(-1, chunk.shape[2])
                    if i == 0:
                        torch.mm(part, steps, out=acc)
                    else:
                        acc.addmm_(part, steps)
                if len(members) < K:
                    grad_w1[rows] = acc.view(len(members), n1, -1)
                continue
            inputs = x[0] if repeated else x.reshape(T * B, -1)
            if len(members) == K:
                torch.mm(torch.from_numpy(g1).view(g1.shape[0], -1), inputs, out=grad_w1.view(K * n1, -1))
            else:
                product = torch.mm(torch.from_numpy(g1).view(g1.shape[0], -1), inputs)
                grad_w1[rows] = product.view(len(members), n1, -1)

        for p, g in zip(pack.weights, buf["grads_w"]):
            p.grad = g
        for p, g in zip(pack.biases, buf["grads_b"]):
            p.grad = g
        losses = torch.from_numpy(buf["losses"].astype(np.float32))
        return losses, torch.from_numpy(buf["counts"].copy())

    def spikes(self) -> list[Tensor]:
        """The last pass's spikes per layer as [T, B, K, N] (the autograd path's layout)."""
        T, B = self._last
        return [torch.from_numpy(layer["spikes"].transpose(0, 3, 1, 2).copy())
                for layer in self._buffers[B]["layers"]]
