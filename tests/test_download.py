"""Fetching the data sets (minicnn/data/download.py): checked, installed atomically, never half
written; Fashion-MNIST's four files and CIFAR-10's archive, served here from local files."""
import gzip
import io
import os
import sys
import tarfile

import numpy as np
import pytest

from minicnn.checkpoint import atomic_write
from minicnn.data import DataError, cifar10, download, fashion_mnist

from fake_data import write_fake_cifar, write_fake_fashion

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_fashion_mnist_download_failure_says_how_to_get_the_files(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network unreachable")
    monkeypatch.setattr(download.urllib.request, "urlopen", refuse)
    with pytest.raises(DataError, match="download of .* failed .*apt-get install dataset-fashion-mnist"):
        fashion_mnist.download(str(tmp_path))
    assert os.listdir(tmp_path) == []   # nothing half-written


def test_fashion_mnist_download_checks_the_checksum(tmp_path, monkeypatch):
    fake = io.BytesIO()
    with gzip.GzipFile(fileobj=fake, mode="wb") as f:
        f.write(b"not fashion-mnist")

    class Response(io.BytesIO):
        headers = {"Content-Length": str(len(fake.getvalue()))}
    monkeypatch.setattr(download.urllib.request, "urlopen", lambda *a, **k: Response(fake.getvalue()))
    with pytest.raises(DataError, match="checksum mismatch"):
        fashion_mnist.download(str(tmp_path))
    assert os.listdir(tmp_path) == []


def test_a_download_cut_short_says_so_and_installs_nothing(tmp_path, monkeypatch):
    """A body shorter than its Content-Length (http.client returns it as if whole), and a chunked
    body cut off (http.client raises IncompleteRead, no OSError): each one DataError naming it."""
    import http.client

    class Short(io.BytesIO):
        headers = {"Content-Length": "70000"}

    class Cut(io.BytesIO):
        headers = {}

        def read(self, size=-1):
            raise http.client.IncompleteRead(b"partial", 100)
    for response, message in ((Short(b"x" * 1000), r"the connection ended after 1,000 of its 70,000 bytes"),
                              (Cut(b""), r"IncompleteRead\(7 bytes read, 100 more expected\)")):
        monkeypatch.setattr(download.urllib.request, "urlopen", lambda *a, **k: response)
        with pytest.raises(DataError, match=rf"download of .* failed \({message}\); .*apt-get install"):
            fashion_mnist.download(str(tmp_path))
        assert os.listdir(tmp_path) == []


def test_a_body_of_no_stated_length_is_taken_whole(tmp_path, monkeypatch):
    """A chunked response states no Content-Length: its bytes are installed as they came (the check
    judges them), and the progress bar is told a total of 0, unknown."""
    payload = bytes(range(256)) * 1000   # 256,000 bytes: several blocks

    class Chunked(io.BytesIO):
        headers = {}
    monkeypatch.setattr(download.urllib.request, "urlopen", lambda *a, **k: Chunked(payload))
    seen = []
    target = tmp_path / "file.bin"
    download.fetch("https://example.org/file.bin", str(target), check=lambda part: None, how_to_get="",
                   progress=lambda total, name: seen.append((total, name)) or seen.append)
    assert target.read_bytes() == payload and os.listdir(tmp_path) == ["file.bin"]
    assert seen[0] == (0, "file.bin") and sum(seen[1:]) == len(payload)


def test_fashion_mnist_checksums_match_the_real_files():
    try:
        folder = fashion_mnist.find_folder()
    except DataError:
        pytest.skip("Fashion-MNIST is not installed on this machine")
    for name, digest in fashion_mnist.SHA256.items():
        assert fashion_mnist.payload_sha256(os.path.join(folder, name)) == digest


def test_a_file_whose_check_fails_is_not_installed(tmp_path):
    target = str(tmp_path / "file")
    atomic_write(target, lambda out: out.write(b"first"))

    def refuse(part):
        assert open(part, "rb").read() == b"second"   # the check sees the new bytes, under another name
        raise DataError("not these bytes")
    with pytest.raises(DataError, match="not these bytes"):
        atomic_write(target, lambda out: out.write(b"second"), refuse)
    assert open(target, "rb").read() == b"first" and os.listdir(tmp_path) == ["file"]


def fake_cifar_archive(tmp_path, extra_members=()):
    """A cifar-10-python.tar.gz of small fake batches, laid out as the real one; the MD5s it
    should be checked against; and the batches' contents."""
    batches = tmp_path / "batches"
    write_fake_cifar(str(batches))
    archive = tmp_path / "served" / "cifar-10-python.tar.gz"
    os.makedirs(archive.parent)
    with tarfile.open(archive, "w:gz") as tar:
        for name in cifar10.MD5:
            tar.add(batches / name, arcname=f"cifar-10-batches-py/{name}")
        for name, data in extra_members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    md5 = {name: download.file_digest(str(batches / name)) for name in cifar10.MD5}
    return archive, download.file_digest(str(archive)), md5


def serve(monkeypatch, archive, archive_md5, md5):
    """Point cifar10 at ``archive`` (a file:// URL, read by the real urllib) and its checksums."""
    monkeypatch.setattr(cifar10, "URL", archive.as_uri())
    monkeypatch.setattr(cifar10, "ARCHIVE_MD5", archive_md5)
    monkeypatch.setattr(cifar10, "MD5", md5)


def test_cifar10_is_downloaded_checked_and_unpacked(tmp_path, monkeypatch):
    # a member outside the batches' folder is never written (tarfile's path-traversal risk)
    archive, archive_md5, md5 = fake_cifar_archive(tmp_path, [("../../escaped", b"x"), ("cifar-10-batches-py/x.py", b"")])
    serve(monkeypatch, archive, archive_md5, md5)
    folder = tmp_path / "cache" / "cifar-10-batches-py"
    monkeypatch.setenv("MINICNN_CACHE_DIR", str(tmp_path / "cache"))   # downloads go into minicnn's cache folder
    seen = []
    x, y = cifar10.load("train", download_missing=True, progress=lambda total, name: seen.append((total, name)) or
                        (lambda n: seen.append(n)))
    assert x.shape == (100, 3, 32, 32) and y.shape == (100,)
    assert seen[0] == (os.path.getsize(archive), "cifar-10-python.tar.gz")
    assert sum(seen[1:]) == os.path.getsize(archive)      # the progress callback saw every byte
    assert sorted(os.listdir(folder)) == sorted(md5)      # the six batches, nothing else
    assert os.listdir(folder.parent) == ["cifar-10-batches-py"]   # the archive is gone once unpacked
    assert not os.path.exists(tmp_path / "escaped") and not os.path.exists(tmp_path.parent / "escaped")
    expected_x, expected_y = cifar10.load("train", str(tmp_path / "batches"))
    np.testing.assert_array_equal(x, expected_x)
    np.testing.assert_array_equal(y, expected_y)
    os.remove(archive)          # found now: nothing is fetched again
    assert cifar10.load("test", download_missing=True)[0].shape == (20, 3, 32, 32)


def test_cifar10_download_refuses_a_wrong_archive_and_leaves_nothing(tmp_path, monkeypatch):
    archive, _, md5 = fake_cifar_archive(tmp_path)
    serve(monkeypatch, archive, "0" * 32, md5)
    folder = tmp_path / "cache" / "cifar-10-batches-py"
    with pytest.raises(DataError, match=r"download of file:.* failed \(cifar-10-python.tar.gz: checksum mismatch\); "
                                        r"download cifar-10-python.tar.gz from https://www.cs.toronto.edu"):
        cifar10.download(str(folder))
    assert os.listdir(folder.parent) == ["cifar-10-batches-py"] and os.listdir(folder) == []


def test_cifar10_download_checks_every_batch(tmp_path, monkeypatch):
    archive, archive_md5, md5 = fake_cifar_archive(tmp_path)
    serve(monkeypatch, archive, archive_md5, dict(md5, data_batch_3="0" * 32))
    folder = tmp_path / "cache" / "cifar-10-batches-py"
    with pytest.raises(DataError, match="data_batch_3: checksum mismatch"):
        cifar10.download(str(folder))
    assert sorted(os.listdir(folder)) == ["data_batch_1", "data_batch_2"]   # checked ones kept, no .part


def test_cifar10_download_fills_in_missing_batches_only(tmp_path, monkeypatch):
    archive, archive_md5, md5 = fake_cifar_archive(tmp_path)
    serve(monkeypatch, archive, archive_md5, md5)
    folder = tmp_path / "cache" / "cifar-10-batches-py"
    os.makedirs(folder)
    (folder / "data_batch_1").write_bytes(b"the user's own")
    cifar10.download(str(folder))
    assert (folder / "data_batch_1").read_bytes() == b"the user's own"
    assert sorted(os.listdir(folder)) == sorted(md5)


def test_cifar10_archive_without_a_batch_is_refused(tmp_path, monkeypatch):
    archive, archive_md5, md5 = fake_cifar_archive(tmp_path)
    serve(monkeypatch, archive, archive_md5, dict(md5, data_batch_6="0" * 32))
    with pytest.raises(DataError, match="holds no file cifar-10-batches-py/data_batch_6"):
        cifar10.download(str(tmp_path / "cache" / "cifar-10-batches-py"))


def test_cifar10_network_failure_says_how_to_get_the_files(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network unreachable")
    monkeypatch.setattr(download.urllib.request, "urlopen", refuse)
    with pytest.raises(DataError, match="network unreachable.*unpack it so that"):
        cifar10.download(str(tmp_path / "cifar-10-batches-py"))
    assert os.listdir(tmp_path) == ["cifar-10-batches-py"]


def test_a_folder_given_is_the_only_one_looked_at(tmp_path, monkeypatch):
    monkeypatch.setattr(download.urllib.request, "urlopen", lambda *a, **k: pytest.fail("downloaded"))
    for dataset in (cifar10, fashion_mnist):
        with pytest.raises(DataError, match="not found in .*/typo"):
            dataset.load("train", str(tmp_path / "typo"), download_missing=True)


def test_fashion_mnist_uncompressed_and_in_torchvisions_layout_is_found(tmp_path):
    """Kaggle's copy holds the four IDX files uncompressed, torchvision's root holds them (both
    ways) in FashionMNIST/raw: either is read as the published .gz files, and --data naming it is
    taken for Fashion-MNIST, not for an image folder whose class is FashionMNIST."""
    sys.path.insert(0, os.path.join(ROOT, "examples"))
    from train_alexnet import detected_dataset
    write_fake_fashion(tmp_path / "published", n_train=20, n_test=5)
    for folder in (tmp_path / "kaggle", tmp_path / "root" / "FashionMNIST" / "raw"):
        folder.mkdir(parents=True)
        for name in os.listdir(tmp_path / "published"):
            with gzip.open(tmp_path / "published" / name) as compressed:
                (folder / name[:-len(".gz")]).write_bytes(compressed.read())
    for given in ("kaggle", "root"):
        for split in ("train", "test"):
            for got, published in zip(fashion_mnist.load(split, str(tmp_path / given)),
                                      fashion_mnist.load(split, str(tmp_path / "published"))):
                np.testing.assert_array_equal(got, published)
        assert detected_dataset(str(tmp_path / given)) == "fashion-mnist"
    assert fashion_mnist.find_folder(str(tmp_path / "root")) == str(tmp_path / "root" / "FashionMNIST" / "raw")
    os.remove(tmp_path / "kaggle" / "t10k-labels-idx1-ubyte")   # a file missing either way is named
    with pytest.raises(DataError, match=r"not found in .*kaggle \(missing t10k-labels-idx1-ubyte.gz\); get the four "
                                        r"files .+ \(or the same uncompressed\)"):
        fashion_mnist.find_folder(str(tmp_path / "kaggle"))


def test_a_folder_given_that_lacks_files_is_named_with_what_it_lacks_and_where_to_put_them(tmp_path):
    (tmp_path / "partial").mkdir()
    (tmp_path / "partial" / "train-images-idx3-ubyte.gz").write_bytes(b"")
    (tmp_path / "partial" / "data_batch_1").write_bytes(b"")
    typo, partial, file = tmp_path / "typo", tmp_path / "partial", tmp_path / "partial" / "data_batch_1"
    for folder, lacks in [(typo, "no such folder"), (file, "a file, not a folder"),
                          (partial, "missing train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, "
                                    "t10k-labels-idx1-ubyte.gz")]:
        with pytest.raises(DataError) as failure:
            fashion_mnist.find_folder(str(folder))
        assert str(failure.value).startswith(f"Fashion-MNIST not found in {folder} ({lacks}); get the four files ")
        assert f"(data/fashion) into {folder}, or leave --data out: the files are then looked for in " \
               f"{' and '.join(fashion_mnist.search_path())} and downloaded when missing" in str(failure.value)
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(b"")   # the archive itself, not unpacked
    with pytest.raises(DataError) as failure:
        cifar10.find_folder(str(tmp_path / "cifar-10-python.tar.gz"))
    assert str(failure.value) == (f"CIFAR-10 not found in {tmp_path / 'cifar-10-python.tar.gz'} (a file, not a "
                                  f"folder); unpack it (tar xzf {tmp_path / 'cifar-10-python.tar.gz'}) and give --data "
                                  f"the folder it unpacks into, cifar-10-batches-py (or leave --data out: the batches "
                                  f"are then looked for in {cifar10.cache_folder()} and downloaded when missing)")
    with pytest.raises(DataError) as failure:
        cifar10.find_folder(str(partial))
    assert str(failure.value).startswith(f"CIFAR-10 not found in {partial} (missing data_batch_2, data_batch_3, "
                                         f"data_batch_4, data_batch_5, test_batch); download cifar-10-python.tar.gz")
    assert f"its six batches (data_batch_1 to data_batch_5, test_batch) lie in {partial}, or leave --data out" \
        in str(failure.value)


def test_cifar10_is_found_where_its_archive_unpacks_in_the_folder_given(tmp_path):
    """``tar xzf cifar-10-python.tar.gz -C DIR`` puts the batches in DIR/cifar-10-batches-py;
    --data DIR finds them there."""
    write_fake_cifar(str(tmp_path / "data" / "cifar-10-batches-py"))
    assert cifar10.find_folder(str(tmp_path / "data")) == str(tmp_path / "data" / "cifar-10-batches-py")
    images, labels = cifar10.load("test", str(tmp_path / "data"))
    assert images.shape == (20, 3, 32, 32) and labels.shape == (20,)


def test_the_training_script_downloads_cifar10(tmp_path, monkeypatch):
    """``train_alexnet.py --dataset cifar10`` with no data anywhere fetches it, as it does
    Fashion-MNIST (the training itself is replaced: the tests of test_training.py run it)."""
    sys.path.insert(0, os.path.join(ROOT, "examples"))
    import train_alexnet
    archive, archive_md5, md5 = fake_cifar_archive(tmp_path)
    serve(monkeypatch, archive, archive_md5, md5)
    monkeypatch.setenv("MINICNN_CACHE_DIR", str(tmp_path / "cache"))
    trained = {}

    def fit(model, data, cfg, **kwargs):
        trained.update(data)
        return {}
    monkeypatch.setattr(train_alexnet, "fit", fit)
    train_alexnet.main(["--dataset", "cifar10", "--val-size", "10", "--batch-size", "8", "--width", "8",
                        "--out", str(tmp_path / "out"), "--no-progress"])
    assert trained["train"][0].shape[1:] == (3, 32, 32)
    assert len(trained["train"][1]) + len(trained["val"][1]) == 100 and len(trained["test"][1]) == 20


@pytest.mark.parametrize("data_set,folder", [(fashion_mnist, "fashion-mnist"), (cifar10, "cifar-10-batches-py")])
def test_a_cache_folder_that_cannot_be_made_is_named_with_what_to_do(tmp_path, monkeypatch, data_set, folder):
    """A MINICNN_CACHE_DIR that is a file (or a home folder that cannot be written): one error
    naming the folder, where os.makedirs's traceback came before."""
    (tmp_path / "a-file").write_bytes(b"")
    monkeypatch.setenv("MINICNN_CACHE_DIR", str(tmp_path / "a-file"))
    monkeypatch.setattr(fashion_mnist, "SYSTEM_FOLDER", str(tmp_path / "not-installed"))
    with pytest.raises(DataError) as failure:
        data_set.load("train", download_missing=True)
    assert str(failure.value).startswith(f"cannot make the folder {tmp_path / 'a-file' / folder} to download into "
                                         f"(Not a directory); set MINICNN_CACHE_DIR to a folder that can be "
                                         f"written, or ")
    assert not os.path.exists(tmp_path / "cifar-10-python.tar.gz")
