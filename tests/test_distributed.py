"""Data-parallel training over MPI (minicnn.distributed): sharding covers each example once per
epoch; N ranks with per-rank batch B end with the same parameters as one process with batch N*B
(float64, 1e-10), dropout included; a distributed run resumes exactly; a rank that dies
or hangs ends the job with an error within the timeout. The MPI cases start mpirun themselves
(tests/mpi_run.py) and skip where MPI is absent (CI installs Open MPI and mpi4py, so they run there).
The hybrid's own tests are in test_hybrid.py."""
import os
import subprocess
import sys

import numpy as np
import pytest

from devices import needs_gpu
from minicnn.distributed import BUCKET_BYTES, Communicator, _buckets, shard
from mpi_run import DROPOUT, assert_same_training, needs_mpi, params, run

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.mark.parametrize("world,batch", [(2, 8), (3, 5)])
def test_shards_cover_each_example_once_per_epoch(world, batch):
    n = 100
    steps = n // (world * batch)
    batches = [shard(n, batch, world, rank, seed=7, epoch=1) for rank in range(world)]
    seen = np.concatenate([b for rank_batches in batches for b in rank_batches])
    assert all(len(rank_batches) == steps for rank_batches in batches)
    assert len(seen) == len(set(seen.tolist())) == steps * world * batch
    order = np.random.default_rng([7, 1]).permutation(n)
    for step in range(steps):   # a global batch is the single-process batch of world * batch
        together = np.concatenate([batches[rank][step] for rank in range(world)])
        np.testing.assert_array_equal(together, order[step * world * batch:(step + 1) * world * batch])


def test_gradients_go_in_a_few_large_buckets():
    from minicnn import models
    model = models.alexnet()
    for _, p in model.named_params():
        p.grad = np.zeros_like(p.data)
    buckets = _buckets(list(model.named_params()))
    assert len(buckets) <= 244 * 2 ** 20 // BUCKET_BYTES + 2
    assert buckets[0][0][0] == "fc8.bias"                           # backward's order: last layer first
    assert sum(len(b) for b in buckets) == len(list(model.named_params()))


def test_a_single_process_needs_no_mpi():
    comm = Communicator.single()
    a = np.arange(3.0)
    assert comm.size == 1 and comm.allreduce_sum(a) is a and comm.broadcast_object({"x": 1}) == {"x": 1}


class _RecordingTransport:
    """Stands in for MPI between two identical ranks: the sum is twice the bucket. Records each
    bucket's start and whether the backward was still running then."""

    from_any_thread = True

    def __init__(self, running):
        self.running, self.starts = running, []

    def start(self, flat, what):
        self.starts.append((what, self.running[0]))
        return flat * 2

    def progress(self, started):
        pass

    def finish(self, handle):
        return handle / 2


def test_buckets_start_inside_the_backward_in_the_same_order_and_average_exactly(monkeypatch):
    from minicnn import SoftmaxCrossEntropy, distributed, models
    monkeypatch.setattr(distributed, "BUCKET_BYTES", 1)          # one bucket per parameter
    model = models.alexnet_small(width=4, dropout=0.0, dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((3, 1, 28, 28))
    loss = SoftmaxCrossEntropy()
    loss.forward(model.forward(x, train=True), np.array([1, 2, 3]))
    dout = loss.backward()
    model.backward(dout)
    plain = {n: p.grad.copy() for n, p in model.named_params()}

    running = [False]
    transport = _RecordingTransport(running)
    comm = Communicator.single()
    comm.size = 2
    comm._transport = lambda array: transport
    backward = model.backward

    def watched_backward(d):
        running[0] = True
        try:
            return backward(d)
        finally:
            running[0] = False
    model.backward = watched_backward
    model.forward(x, train=True)
    comm.backward(model, dout)
    names = [n for n, _ in model.named_params()]
    assert [w.split()[-1].split("...")[0] for w, _ in transport.starts] == names[::-1]
    assert all(during for _, during in transport.starts)        # every bucket starts inside the backward
    for name, p in model.named_params():
        np.testing.assert_array_equal(p.grad, plain[name], err_msg=name)
    assert all(layer.grads_hook is None for layer in model.leaves())   # unhooked after the backward


@needs_mpi
@pytest.mark.parametrize("ranks,batch,options", [(2, 6, ["--bucket-bytes", "4096"]),
                                                 (2, 6, ["--bucket-bytes", "4096", "--no-overlap"]),
                                                 (3, 4, []),
                                                 (2, 6, DROPOUT)])
def test_ranks_train_like_one_process_with_the_global_batch(tmp_path, ranks, batch, options):
    code, output, _ = run(ranks, str(tmp_path / "mpi"), "--batch", str(batch), "--epochs", "2", *options)
    assert code == 0, output
    single_options = DROPOUT if "--dropout" in options else []
    code, output, _ = run(0, str(tmp_path / "one"), "--batch", str(ranks * batch), "--epochs", "2", "--single",
                          *single_options)
    assert code == 0, output
    assert_same_training(tmp_path / "mpi", tmp_path / "one")


@needs_mpi
def test_a_distributed_run_resumes_exactly(tmp_path):
    code, output, _ = run(2, str(tmp_path / "straight"), "--batch", "6", "--epochs", "2")
    assert code == 0, output
    code, output, _ = run(2, str(tmp_path / "resumed"), "--batch", "6", "--epochs", "2", "--interrupt-after", "1")
    assert code == 0, output
    assert len(open(tmp_path / "resumed" / "metrics.jsonl").readlines()) == 1     # stopped after epoch 1
    code, output, _ = run(2, str(tmp_path / "resumed"), "--batch", "6", "--epochs", "2", "--resume")
    assert code == 0, output
    straight, resumed = params(tmp_path / "straight"), params(tmp_path / "resumed")
    for name, value in straight.items():
        np.testing.assert_allclose(resumed[name], value, rtol=1e-12, atol=1e-14, err_msg=name)


@needs_mpi
def test_the_script_says_its_batch_is_per_rank(tmp_path):
    """'batch 8' beside 'x 2 ranks' left it to guess whether 8 was each rank's or the whole step's."""
    from fake_data import write_fake_fashion
    write_fake_fashion(tmp_path / "data", n_train=48, n_test=16)
    code, output, _ = run(2, "--distributed", "--data", str(tmp_path / "data"), "--batch-size", "8", "--width", "4",
                          "--epochs", "1", "--val-size", "16", "--out", str(tmp_path / "run"), "--no-progress",
                          program=os.path.join(os.path.dirname(HERE), "examples", "train_alexnet.py"))
    assert code == 0, output
    assert "training alexnet_small on cpu x 2 ranks, fashion-mnist: 32 train / 16 val / 16 test images, 1 epoch, " \
           "batch 8 per rank (16 in all), lr 0.03" in output, output


@needs_mpi
def test_a_hanging_rank_ends_the_job_with_a_message_within_the_timeout(tmp_path):
    code, output, seconds = run(2, str(tmp_path / "hang"), "--batch", "6", "--hang-rank", "1",
                                env={"MINICNN_MPI_TIMEOUT": "5"}, timeout=100)
    assert code != 0 and seconds < 60
    assert "rank 0/2: all-reduce" in output and "did not complete within 5 s" in output, output


@needs_mpi
def test_a_dying_rank_ends_the_job(tmp_path):
    code, output, seconds = run(2, str(tmp_path / "kill"), "--batch", "6", "--kill-rank", "1",
                                env={"MINICNN_MPI_TIMEOUT": "5"}, timeout=100)
    assert code != 0 and seconds < 60, output


@needs_mpi
@pytest.mark.parametrize("ranks", [2, 3])
def test_batchnorm_statistics_are_averaged_and_objects_broadcast_over_the_ranks(ranks):
    code, output, _ = run(ranks, program=os.path.join(HERE, "mpi_collectives.py"))
    assert code == 0 and f"collectives ok: {ranks} ranks" in output, output


@needs_gpu
@needs_mpi
def test_nccl_averages_gpu_gradients_overlapped_with_the_backward():
    import cupy
    ranks = cupy.cuda.runtime.getDeviceCount()      # one rank per GPU
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    result = subprocess.run(["mpirun", "-np", str(ranks), "--oversubscribe", sys.executable,
                             os.path.join(HERE, "mpi_gpu_average.py")],
                            capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0 and "nccl ok" in result.stdout, result.stdout + result.stderr
