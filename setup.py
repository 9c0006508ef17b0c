"""Install minicnn. The CUDA sources in kernels/ ship inside the package as minicnn/kernels/."""
from setuptools import setup

setup(
    name="minicnn",
    version="0.1.0",
    description="A from-scratch CNN framework that rebuilds AlexNet: NumPy on the CPU, "
                "hand-written CUDA kernels through CuPy on the GPU, no autograd.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.9",
    packages=["minicnn", "minicnn.layers", "minicnn.data", "minicnn.kernels", "minicnn.simulator"],
    # kernels/ sits at the top of the repository, where readers look for it, and is installed
    # as the package data of minicnn.kernels so that a non-editable install finds the sources.
    package_dir={"minicnn.kernels": "kernels"},
    package_data={"minicnn.kernels": ["*.cu", "*.cuh"],
                  "minicnn.data": ["imagenet_classes.txt"],
                  "minicnn.simulator": ["*.h", "*.cpp"]},
    # tqdm: the progress bars of training (rates, ETA, works in notebooks); matplotlib: the
    # loss and accuracy curves and the confusion matrix. Both do their job better than code we
    # would write. matplotlib from 3.6.1: before it, fill_between (the seeds' ranges that
    # compare_runs.py shades) fails on NumPy 1.24 and newer (matplotlib's issue 24106).
    # threadpoolctl: gives each tower worker of the two-device split half the BLAS threads at run
    # time, which NumPy cannot do once loaded.
    install_requires=["numpy>=1.24", "pillow>=9", "tqdm>=4.60", "matplotlib>=3.6.1", "threadpoolctl>=3"],
    extras_require={
        # nbclient + ipykernel execute the teaching notebook in the test suite, as Jupyter would.
        # cuobjdump and nvdisasm (NVIDIA's, 5 MB, no GPU needed): the kernels' machine code, from
        # which tests/test_loads_in_flight.py reads the loads a thread has in flight; only NVIDIA's
        # tools can disassemble it. NVIDIA makes no macOS wheels (nor CUDA for macOS: there the
        # test skips, as the nvcc tests do).
        "dev": ["pytest>=7", "hypothesis>=6.80", "nbclient>=0.7", "nbformat>=5.0.2", "ipykernel>=6.0.2",
                "nvidia-cuda-cuobjdump>=13.2.51; platform_system != 'Darwin'",
                "nvidia-cuda-nvdisasm>=13.2.51; platform_system != 'Darwin'"],
        "cuda12": ["cupy-cuda12x>=13"],
        "cuda13": ["cupy-cuda13x>=14"],
        # data-parallel training over MPI (needs an MPI library: Debian's openmpi-bin libopenmpi-dev)
        "mpi": ["mpi4py>=3.1"],
    },
)
