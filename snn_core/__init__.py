"""snn_core: the course lab's spiking network as a library.

Importing the package pulls in nothing heavy: `config` and `flops` work without torch
(the web app uses them); `neurons`, `encoders`, `model`, `data`, `training`, `recording`
and `checkpoint` need torch.
"""

from .config import DatasetName, Device, Encoder, Loss, MembraneInit, RunConfig, Surrogate

__all__ = ["RunConfig", "Encoder", "Loss", "DatasetName", "Device", "MembraneInit", "Surrogate"]
