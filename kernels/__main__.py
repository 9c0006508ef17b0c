"""python -m minicnn.kernels [--jobs N]: compile every kernel for this machine's GPU, in both
precisions and in parallel, so that CuPy's on-disk cache holds them before the first benchmark or
test launches one (``minicnn.launch.compile_all``)."""
import argparse
import time

from minicnn.arguments import positive_int


def main(argv=None):
    p = argparse.ArgumentParser(
        prog="python -m minicnn.kernels",
        description="Compile every CUDA source in kernels/ with NVRTC for this machine's GPU, with "
                    "real_t = float and double, several at a time, into CuPy's on-disk cache; later "
                    "processes then load them without compiling. Prints each module's seconds.")
    p.add_argument("--jobs", type=positive_int, default=None,
                   help="compilations at a time, each in its own process (default: one per core; "
                        "1 compiles in this process)")
    args = p.parse_args(argv)
    from minicnn.launch import compile_all
    start = time.perf_counter()
    try:
        compiled = compile_all(args.jobs)
    except RuntimeError as exc:   # no GPU or no CuPy, or a source that does not compile
        raise SystemExit(f"error: {exc}")
    for source, real, seconds in compiled:
        print(f"{source + '.cu':<26} real_t={real:<7} {seconds:6.1f} s")
    print(f"{len(compiled)} modules in {time.perf_counter() - start:.1f} s "
          f"({sum(s for _, _, s in compiled):.1f} s one after the other)")


if __name__ == "__main__":
    main()
