import torch

from snn_core.data import load_data, make_synthetic, read_idx, write_idx


def test_idx_round_trip_gz_and_plain(tmp_path):
    a = (torch.arange(2 * 3 * 4) % 256).to(torch.uint8).reshape(2, 3, 4).numpy()
    for name in ("x-idx3-ubyte", "x-idx3-ubyte.gz"):
        write_idx(tmp_path / name, a)
        assert (read_idx(tmp_path / name) == a).all()


def test_limit_takes_a_fixed_random_subset_not_the_first_samples(tmp_path):
    # Files may be sorted by class (MNIST-5k is): the first N would be one class.
    root = make_synthetic(tmp_path, n_train=400, n_test=100)
    full = load_data("mnist", str(root))
    order = full.train.labels.argsort(stable=True)
    raw = root / "MNIST" / "raw"
    write_idx(raw / "train-images-idx3-ubyte", full.train.images[order].reshape(-1, 28, 28).numpy())
    write_idx(raw / "train-labels-idx1-ubyte", full.train.labels[order].to(torch.uint8).numpy())
    assert torch.equal(load_data("mnist", str(root)).train.labels, full.train.labels[order])  # re-read
    a = load_data("mnist", str(root), train_limit=50)
    b = load_data("mnist", str(root), train_limit=50)
    assert len(a.train) == 50 and torch.equal(a.train.labels, b.train.labels)
    assert len(set(a.train.labels.tolist())) >= 8  # not one class


def test_damaged_files_name_the_file_and_what_to_do(tmp_path):
    import gzip

    import pytest

    from snn_core.data import CorruptDataError

    root = make_synthetic(tmp_path, n_train=50, n_test=20)
    raw = root / "MNIST" / "raw"
    good = (raw / "train-images-idx3-ubyte").read_bytes()
    (raw / "train-images-idx3-ubyte").unlink()
    gz = raw / "train-images-idx3-ubyte.gz"
    gz.write_bytes(gzip.compress(good)[:500])  # a download cut short
    with pytest.raises(CorruptDataError, match=r"train-images-idx3-ubyte.gz is damaged \(EOFError: .*\); delete it"):
        load_data("mnist", str(root))
    gz.write_bytes(b"not gzip at all")
    with pytest.raises(CorruptDataError, match=r"train-images-idx3-ubyte.gz is damaged \(BadGzipFile: .*\); delete it"):
        load_data("mnist", str(root))
    gz.write_bytes(gzip.compress(good[:-7]))
    with pytest.raises(CorruptDataError, match=r"its header declares shape \(50, 28, 28\); delete it"):
        load_data("mnist", str(root))


def test_a_worker_reads_only_its_own_data_dir_or_the_operators_roots(tmp_path, monkeypatch):
    import pytest

    from snn_core.data import worker_data_dir

    monkeypatch.setenv("SPIKEBOARD_DATA_DIR", str(tmp_path / "mine"))
    monkeypatch.delenv("SPIKEBOARD_DATA_ROOTS", raising=False)
    assert worker_data_dir("") == str(tmp_path / "mine")
    with pytest.raises(ValueError, match="data_dir must be empty .* got '/etc'"):
        worker_data_dir("/etc")
    monkeypatch.setenv("SPIKEBOARD_DATA_ROOTS", str(tmp_path / "shared"))
    assert worker_data_dir(str(tmp_path / "shared" / "mnist")) == str(tmp_path / "shared" / "mnist")
    with pytest.raises(ValueError, match="data_dir must be empty"):
        worker_data_dir(str(tmp_path / "shared" / ".." / "other"))
