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
