"""A trained model as one file to download: the run's checkpoint bytes as stored, its config and
metrics, and how to load it, in a zip. No torch here: the checkpoint is already serialized
(`snn_core.checkpoint.to_bytes`), so the web side ships it without reading it.

Loading it back (where snn_core and torch are installed):

    import json, zipfile
    from snn_core import checkpoint
    from snn_core.config import RunConfig
    from snn_core.model import SNN

    with zipfile.ZipFile("spikeboard-model-<id>.zip") as z:
        config = RunConfig.from_stored(json.loads(z.read("config.json")))
        state = checkpoint.from_bytes(z.read("checkpoint.pt"))
    model = SNN(config)
    model.load_state_dict(state["model"])
"""

from __future__ import annotations

import io
import json
import zipfile

from .store import RunStore

HOW_TO_LOAD = __doc__.split("Loading it back", 1)[1].split("\n", 1)[1]


def model_filename(run_id: str) -> str:
    return f"spikeboard-model-{run_id}.zip"


def model_bundle(store: RunStore, run_id: str) -> bytes:
    """The zip of a run's latest checkpoint (weights, optimizer, epoch, history), config.json,
    metrics.json (last and best epoch) and README.txt; ValueError if the run has no checkpoint yet."""
    record = store.require_run(run_id)
    blob = store.load_checkpoint(run_id)
    if blob is None:
        raise ValueError(f"run {run_id} has no checkpoint yet: it is written at the end of each epoch")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("checkpoint.pt", blob)
        z.writestr("config.json", json.dumps(record.config, indent=2, sort_keys=True))
        z.writestr("metrics.json", json.dumps({"status": record.status.value, "last": record.last_metrics,
                                               "best": record.best_metrics}, indent=2, sort_keys=True))
        z.writestr("README.txt", f"Spikeboard run {run_id} ({record.status.value}): its latest checkpoint.\n\n"
                                 f"Load it with snn_core:\n{HOW_TO_LOAD}")
    return out.getvalue()
