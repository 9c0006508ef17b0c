"""The hybrid of minicnn.hybrid ("one weird trick": convolutions data-parallel, FC layers
model-parallel over MPI ranks): with 2 and 3 ranks (uneven slices) it trains exactly like one
process with the global batch, dropout included; its checkpoints have the plain model's layout
and resume on another number of ranks; in one process it is the plain model; on the kernel
devices ("sim" here, "cuda" where there is a GPU) it trains as on the CPU, its exchanges through
host memory; bad models are refused with a message."""
import copy

import numpy as np
import pytest

from minicnn import SoftmaxCrossEntropy, models
from minicnn.distributed import Communicator
from minicnn.fusion import fuse
from minicnn.hybrid import HybridError, HybridNet, slice_bounds
from minicnn.layers import Conv2D, Dense, Flatten, ReLU
from minicnn.sequential import Sequential
from minicnn.train import common_batch_size
from devices import assert_close
from minicnn.backend import to_device
from mpi_run import DROPOUT, assert_same_training, needs_mpi, run


@needs_mpi
@pytest.mark.parametrize("ranks,batch", [(2, 6), (3, 4)])   # 3 ranks: 256 and 10 outputs cut unevenly
def test_ranks_train_like_one_process_with_the_global_batch(tmp_path, ranks, batch):
    code, output, _ = run(ranks, str(tmp_path / "hybrid"), "--batch", str(batch), "--epochs", "2", "--hybrid", *DROPOUT)
    assert code == 0, output
    code, output, _ = run(0, str(tmp_path / "one"), "--batch", str(ranks * batch), "--epochs", "2", "--single", *DROPOUT)
    assert code == 0, output
    assert_same_training(tmp_path / "hybrid", tmp_path / "one")


@needs_mpi
def test_ranks_on_the_kernel_simulator_train_like_one_process_on_the_cpu(tmp_path):
    """Every layer on minicnn's kernels (under the simulator), the exchanges between host arrays:
    2 ranks of batch 4, one epoch, against one NumPy process with batch 8."""
    code, output, _ = run(2, str(tmp_path / "hybrid"), "--batch", "4", "--epochs", "1", "--hybrid", *DROPOUT,
                          "--device", "sim", timeout=300)
    assert code == 0, output
    code, output, _ = run(0, str(tmp_path / "one"), "--batch", "8", "--epochs", "1", "--single", *DROPOUT)
    assert code == 0, output
    assert_same_training(tmp_path / "hybrid", tmp_path / "one")


@needs_mpi
def test_a_hybrid_run_resumes_on_another_number_of_ranks(tmp_path):
    """Checkpoints hold whole tensors: 2 ranks of batch 6 stop after an epoch, 3 ranks of batch 4
    (the same global batch) finish, and the result is one process's with batch 12."""
    out = str(tmp_path / "hybrid")
    code, output, _ = run(2, out, "--batch", "6", "--epochs", "2", "--hybrid", *DROPOUT, "--interrupt-after", "1")
    assert code == 0, output
    code, output, _ = run(3, out, "--batch", "4", "--epochs", "2", "--hybrid", *DROPOUT, "--resume")
    assert code == 0, output
    code, output, _ = run(0, str(tmp_path / "one"), "--batch", "12", "--epochs", "2", "--single", *DROPOUT)
    assert code == 0, output
    assert_same_training(out, tmp_path / "one")


def one_rank_against_the_plain_model(device, fused=False, activation="relu"):
    """The hybrid of one rank on ``device`` gives the plain model's input and parameter gradients
    on the CPU: exactly on the CPU itself, to the float64 tolerance on the kernels; ``fused``: the
    hybrid made from the model with its layers fused (as examples/train_alexnet.py does on the
    kernels), whose slices of fc6 and fc7 keep their ReLU; ``activation``: alexnet_small's units."""
    plain = models.alexnet_small(width=4, dropout=0.5, dtype=np.float64, seed=1, activation=activation)
    hybrid = HybridNet(fuse(copy.deepcopy(plain)) if fused else copy.deepcopy(plain), Communicator.single()).to(device)
    assert [layer.relu for layer in hybrid if isinstance(layer, Dense)] == [fused, fused, False]
    names = [n for n, _ in hybrid.named_params()]
    assert names == [n for n, _ in plain.named_params()]
    assert [n for n, p in hybrid.named_params() if p.sharded] == [f"fc{i}.{w}" for i in (6, 7, 8) for w in ("weight", "bias")]
    x = np.random.default_rng(0).standard_normal((5, 1, 28, 28))
    labels = np.array([0, 3, 9, 1, 1])
    dx = []
    for model, on in ((plain, "cpu"), (hybrid, device)):
        loss = SoftmaxCrossEntropy().to(on)
        loss.forward(model.forward(to_device(x, on)), to_device(labels, on))
        dx.append(model.backward(loss.backward()))
    same = np.testing.assert_array_equal if device == "cpu" else assert_close
    same(dx[1], dx[0], "dx")
    for (name, p), (_, q) in zip(plain.named_params(), hybrid.named_params()):
        same(q.grad, p.grad, name)
    state = hybrid.gather_state(hybrid.state_dict())
    assert state.keys() == plain.state_dict().keys()
    assert all(hybrid.local_state(state)[k].shape == v.shape for k, v in hybrid.state_dict().items())


def test_one_rank_is_the_plain_model():
    one_rank_against_the_plain_model("cpu")


def test_one_rank_of_tanh_units_is_the_plain_model():
    """The FC layers' Tanh units (the paper's Figure 1 network) go into the hybrid as its ReLUs do."""
    one_rank_against_the_plain_model("cpu", activation="tanh")


def test_one_rank_on_the_kernels_is_the_plain_model_on_the_cpu(kernel_device):
    one_rank_against_the_plain_model(kernel_device)


def test_one_rank_of_the_fused_model_on_the_kernels_is_the_plain_model_on_the_cpu(kernel_device):
    one_rank_against_the_plain_model(kernel_device, fused=True)


def test_slices_are_as_even_as_can_be():
    assert slice_bounds(10, 3) == [0, 3, 6, 10]
    assert slice_bounds(4096, 2) == [0, 2048, 4096]


class _Ranks:
    """Stands in for a communicator of several ranks in the calls that only count."""

    def __init__(self, counts):
        self.size, self.rank, self.counts = len(counts), 0, np.array(counts)

    def allgather_counts(self, count, what=""):
        return self.counts


def test_every_rank_makes_the_same_number_of_evaluation_batches():
    for counts in ([1001, 1000], [501, 500, 500], [7, 7], [3, 2, 2]):
        size = common_batch_size(_Ranks(counts), counts[0], 500)
        assert len({-(-c // size) for c in counts}) == 1 and size <= 500, (counts, size)
    assert common_batch_size(_Ranks([1001, 1000]), 1001, 500) == 499   # 1000 = 2 x 500 would make 3 and 2
    with pytest.raises(ValueError, match="cannot give each of 3 ranks one"):
        common_batch_size(_Ranks([1, 1, 0]), 1, 500)


def test_models_that_cannot_be_made_hybrid_are_refused():
    single = Communicator.single()
    with pytest.raises(HybridError, match="no Flatten"):
        HybridNet(Sequential([("fc", Dense(4, 2))]), single)
    conv_after = Sequential([("flatten", Flatten()), ("fc6", Dense(4, 4)), ("conv", Conv2D(1, 1, 1))])
    with pytest.raises(HybridError, match=r"got conv \(Conv2D\)"):
        HybridNet(conv_after, single)
    with pytest.raises(HybridError, match="the last layer is not a Dense"):
        HybridNet(Sequential([("flatten", Flatten()), ("fc6", Dense(4, 4)), ("relu6", ReLU())]), single)
    with pytest.raises(HybridError, match="fewer than the 3 ranks"):
        HybridNet(Sequential([("flatten", Flatten()), ("fc6", Dense(4, 2))]), _SlicingRanks(3))
    with pytest.raises(HybridError, match="build the hybrid from a model on cpu"):
        HybridNet(models.alexnet_small(width=4).to("sim"), single)


class _SlicingRanks(Communicator):
    """A world of one that says it has ``size`` ranks: enough to cut the layers."""

    def __init__(self, size):
        super().__init__(None)
        self.size = size


@needs_mpi
def test_a_hanging_rank_ends_a_hybrid_job_with_a_message_within_the_timeout(tmp_path):
    """The exchanges of activations run against the same deadline as the all-reduces."""
    code, output, seconds = run(2, str(tmp_path / "hang"), "--batch", "6", "--hybrid", "--hang-rank", "1",
                                env={"MINICNN_MPI_TIMEOUT": "5"}, timeout=100)
    assert code != 0 and seconds < 60
    assert "rank 0/2:" in output and "did not complete within 5 s" in output, output
