import pytest
import torch

from snn_core import kernels
from snn_core.encoders import encode, is_repeated_frame


@pytest.fixture(autouse=True, params=["torch"] + (["numba"] if kernels.numba is not None else []))
def engine(request, monkeypatch):
    monkeypatch.setenv("SPIKEBOARD_ENGINE", request.param)
    return request.param


def test_image_repeats_the_analog_frame_without_copies():
    img = torch.rand(3, 784)
    x = encode(img, "image", 7)
    assert x.shape == (7, 3, 784) and is_repeated_frame(x)
    assert torch.equal(x[4], img)


def test_threshold_is_exact():
    img = torch.tensor([[0.0, 0.5, 0.5001, 1.0]])
    x = encode(img, "threshold", 3)
    assert x.tolist() == [[[0.0, 0.0, 1.0, 1.0]]] * 3


def test_bernoulli_mean_matches_intensity_and_is_seeded():
    img = torch.linspace(0, 1, 11).repeat(1, 1)  # [1, 11]
    x = encode(img, "bernoulli", 20000, torch.Generator().manual_seed(0))
    assert set(x.unique().tolist()) <= {0.0, 1.0}
    torch.testing.assert_close(x.mean(0), img, atol=0.015, rtol=0)
    assert x[:, 0, 0].sum() == 0 and x[:, 0, -1].sum() == 20000
    again = encode(img, "bernoulli", 50, torch.Generator().manual_seed(0))
    other = encode(img, "bernoulli", 50, torch.Generator().manual_seed(1))
    assert torch.equal(again, x[:50]) and not torch.equal(again, other)


def test_latency_spikes_once_brighter_earlier_and_never_for_black():
    img = torch.tensor([[0.0, 1.0, 0.5, 0.01, 0.76]])
    x = encode(img, "latency", 5)
    assert x.shape == (5, 1, 5) and not is_repeated_frame(x)
    # (1 - x) (T - 1) = 4, 0, 2, 3.96, 0.96 -> steps never, 0, 2, 4, 1
    assert x[:, 0].T.tolist() == [[0] * 5, [1, 0, 0, 0, 0], [0, 0, 1, 0, 0], [0, 0, 0, 0, 1], [0, 1, 0, 0, 0]]
    many = torch.rand(16, 784, generator=torch.Generator().manual_seed(0))
    train = encode(many, "latency", 13)
    assert torch.equal(train.sum(0), (many > 0).float())  # one spike per lit pixel
    steps = train.argmax(0).float()
    assert torch.equal(steps, torch.round((1 - many) * 12))
    assert torch.equal(encode(many, "latency", 1)[0], (many > 0).float())
    buffer = torch.full((13, 16, 784), 7.0)
    assert torch.equal(encode(many, "latency", 13, out=buffer), train) and buffer.data_ptr() == \
        encode(many, "latency", 13, out=buffer).data_ptr()


def test_the_latency_encoder_reaches_every_reader_of_the_table():
    """Added in the table and encoders.py alone, it is offered and counted everywhere an encoder trait is read."""
    import numpy as np

    from snn_core import limits
    from snn_core.config import SWEEPS, RunConfig
    from snn_core.recording import Recording, recording_to_dict
    from snn_core.train import build_parser
    from workers import analysis, estimates

    config = RunConfig(encoder="latency", T=20)
    assert "latency" in SWEEPS["encoder"] and "latency" in build_parser().format_help()
    # a [T, B, 784] train in memory and a first layer every step, as Bernoulli's
    assert limits.estimate_memory(config).train_activations == limits.estimate_memory(
        config.replace(encoder="bernoulli")).train_activations > limits.estimate_memory(
        config.replace(encoder="image")).train_activations
    assert estimates.units_per_sample(config) == estimates.units_per_sample(config.replace(encoder="bernoulli"))
    assert estimates.FALLBACK_S_PER_UNIT["latency"] > 0
    # FLOPs at its measured input rate (spikes), not dense as the analog image
    sparse = analysis.run_cost(config.to_dict(), [0.05, 0.2])
    assert sparse["flops"] < analysis.run_cost(config.replace(encoder="image").to_dict(), [0.05, 0.2])["flops"]
    frame = np.zeros((20, 784), np.float32)
    frame[3, 10] = 1
    rec = Recording(labels=[1], inputs=[frame], spikes=[[np.zeros((20, 10), np.uint8)] * 2],
                    membranes=[[np.zeros((20, 10), np.float32)] * 2], predictions=[1], v_th=1.5)
    assert recording_to_dict(rec, 1, "latency")["probes"][0]["input"] == {"kind": "spikes", "events": [[3, 10]]}


def test_a_latency_run_trains_on_every_engine(synthetic_data_dir, engine, monkeypatch):
    from snn_core.config import RunConfig
    from snn_core.training import fit

    if engine == "numba":
        monkeypatch.setenv("SPIKEBOARD_ENGINE", "auto")  # the fused step
    # one input spike per pixel is little drive: a lower threshold than the lab's 1.5 to learn in 2 epochs
    cfg = RunConfig(encoder="latency", T=8, v_th=0.5, epochs=2, train_limit=2000, test_limit=300, device="cpu",
                    data_dir=str(synthetic_data_dir))
    history = fit(cfg).history
    assert history[-1].test_acc > 0.5, history
    assert 0 < history[-1].firing_rates[0] <= 1 / 8  # at most one input spike per pixel in T steps
