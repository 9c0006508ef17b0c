"""Numbered versions of minicnn's kernels, after llm.c's dev/cuda.

A kernel that was made faster keeps its earlier versions beside the new one, in the same ``.cu``
file (``lrn_forward_v1``, ``lrn_forward_v2``, ...), so that a reader can follow the path from the
plain kernel to the fast one, every version stays tested against the NumPy code
(``tests/test_lrn.py`` and the others run each one), and ``benchmarks/kernels.py --versions``
times them side by side. A layer launches the version ``current(family)`` gives:

    from minicnn import kernel_versions
    kernel_versions.current("lrn")               # 3: the one the LRN layer launches
    with kernel_versions.use("lrn", 1):          # run a block with version 1
        y = layer.forward(x)

Where the versions of a family cache different arrays (LRN, max-pool, LRN+max-pool), the version
is chosen at the forward and the backward runs the same one whatever is chosen by then (the
layer's cache records it); im2col's versions keep the same layouts, and each pass launches the
current one.
"""
import contextlib
import functools

# family -> {version: what changed}; the families are the .cu files whose kernels have versions.
VERSIONS = {
    "bias": {
        1: "Conv2D's bias gradient: one block per channel, each thread reading thousands of values in turn",
        2: "a block per (channel, chunk of 8192 positions), then one thread per channel adds the chunks' sums",
        3: "Conv2D: the backward's layout kernel sums each plane of dL/dy as it copies it to the GEMM "
           "layout (one read of dL/dy less), then one thread per channel adds the planes' sums; other "
           "bias gradients as version 2",
        4: "Conv2D: version 3's layout kernel with each plane's sum taken by warp shuffles (3 barriers "
           "a block, not 10; 18 requests to shared memory, not 52), which conv3-5's planes of 169 "
           "values, fewer than the block's 256 threads, spent most of their time on; other bias "
           "gradients as version 2",
        5: "Conv2D: the layout kernel with a warp per plane, eight planes a block, each lane loading four "
           "values (with the fused ReLU, their values of y too: 8 loads in flight in nvcc's code, each of a "
           "value of the plane) before it stores and sums them, the warp's sum by shuffles alone (version "
           "4: a block per plane, one value a thread in flight; 24% to 25% of the copy bandwidth for conv4 "
           "and conv5 on the H200); other bias gradients as version 2",
    },
    "im2col": {
        1: "one thread per element, every coordinate found by division; col2im tries all kh * kw "
           "window offsets of its pixel",
        2: "im2col: one thread per (channel, column) copies its window; col2im visits only the windows "
           "that cover its pixel; the layout kernels take a block per (plane, tile of pixels)",
        3: "col2im: every thread walks its window offsets in version 1's order and skips the windows the "
           "image's edge cuts off, so the threads of a warp read the same rows of cols (version 2's "
           "edge threads started at other offsets); the other kernels as version 2",
        4: "im2col: a block per (plane, band of output rows) copies the band's padded input rows to shared "
           "memory once, then writes each window from there (version 2's threads read their windows "
           "from memory, pixels `stride` apart, each pixel kh * kw / stride^2 times); col2im as version "
           "3, the other kernels as version 2",
        5: "im2col: version 4's band laid out in shared memory by column and row phase (w mod sw, h mod "
           "sh), so that the threads of a warp read consecutive banks (version 4's read words `stride` "
           "apart: 4-way bank conflicts for conv1); col2im: a block per (plane, band of input rows) "
           "copies the band's cols entries to shared memory once, then sums each pixel's windows from "
           "there (version 3's warps read 4 rows of cols a request for conv1); the layout kernels as "
           "version 2",
        6: "col2im: version 3's walk with the entries of all the windows that can cover a pixel loaded "
           "before any is added (up to 23 of conv2's 25 loads in flight a thread in nvcc's code, where "
           "version 3 waits for each; window sides of 2 to 5, others run version 3); the other kernels "
           "as version 2, whose "
           "im2col was the fastest on the H200",
        7: "the layout kernels between the GEMM's layout and NCHW: four pixels a thread, all loaded before "
           "any is stored (version 2: one a thread, the copy in waves of blocks with one float a thread in "
           "flight, 43% to 51% of the copy bandwidth on the H200); the other kernels as version 6",
    },
    "gemm_tiled": {
        1: "a block per 64 x 64 tile of C, walking all of K; each thread a 4 x 4 sub-tile of adjacent "
           "rows and columns; both operands' tiles loaded along k (A) and n (B) whatever their layout",
        2: "K split over several blocks when the tiles cannot fill the device (a conv's weight gradient: "
           "conv1's is 12 tiles), their partial tiles summed in order by gemm_split_sum; each tile "
           "loaded along its operand's contiguous axis; shared-memory rows padded (no bank conflicts "
           "where version 1's transposed stores took 8 passes); each thread's sub-tile strided, rows "
           "ty + 16 i and columns tx + 16 j, so that a warp reads 16 consecutive words and stores 16 "
           "consecutive columns",
        3: "version 2 with tiles of 128 x 128 and a sub-tile of 8 x 8 a thread: half the loads from "
           "memory and the reads of shared memory per multiply-add (64 accumulators a thread, 2 blocks "
           "a multiprocessor)",
        4: "Conv2D's forward: version 3 whose threads store each value where the conv's output has it "
           "(NCHW), with the bias and the fused ReLU, in place of the layout kernel gemm_to_nchw_bias "
           "and its read and write of the output; other products as version 3",
        5: "Conv2D's forward and weight gradient: version 4's tiles (and version 3's for the gradient) "
           "with each element of im2col's columns loaded from the conv's input where the product "
           "needs it (an implicit GEMM): no im2col, no columns written, read back or kept for the "
           "backward; other products as version 3",
        6: "Conv2D's input gradient: one product of the weights and dL/dy gathered for each pixel's "
           "windows, stored as NCHW, in place of the columns' gradient W^T dL/dy and col2im (written "
           "and read back); the forward and the weight gradient as version 5, other products as "
           "version 3",
        7: "version 6's products with each thread's rows of C in strips of 4 consecutive rows, which "
           "it reads from A's slice in shared memory with one 16-byte load a strip: 10 shared-memory "
           "loads for 64 multiply-adds, not 16 (the same sums: version 6's results bit for bit)",
        8: "version 7 with each thread's columns of B's slice read four at a time as well: the loaders "
           "store the slice so that a thread's columns (still 16 apart, for whole-sector stores of C) "
           "sit side by side, 4 shared-memory loads for 64 multiply-adds, not 10, for 2-way (4-way "
           "where an operand is loaded along k) bank conflicts in the loaders' stores (version 7's "
           "results bit for bit)",
        9: "version 8 with two slices of each operand in shared memory: the threads copy the next step's "
           "values into one with cp.async (memory to shared memory, no registers) while they multiply the "
           "other's, so that the wait for memory overlaps a step of multiply-adds, with one barrier a step, "
           "not two (version 8's results bit for bit)",
    },
    "relu": {
        1: "grid-stride, one element per thread and step: one load in flight per thread",
        2: "four elements per thread and step, all loaded before any is stored",
    },
    "lrn": {
        1: "one thread per pixel column walks all the channels; the forward writes y and the scale, "
           "the backward reads dout, x, y and the scale (8 passes over memory)",
        2: "the forward writes y alone and the backward computes the scale again from x (5 passes); "
           "each thread walks a chunk of 32 channels, for more threads",
        3: "each thread slides its LRN window down its channels in registers: one load of x per channel "
           "(version 2: 5 for AlexNet's window), and the backward's terms out of local memory (windows "
           "of 3 and 5 channels; others run version 2)",
        4: "version 3's walk 4 channels a step, their loads all issued before the first is used (the "
           "backward: size - 1 channels' x and dL/dy a step); version 3 waits on each channel's load, with "
           "one in flight a thread: 51% to 55% of the copy bandwidth on the H200 (windows of 3 and 5 "
           "channels; others run version 2)",
    },
    "lrn_maxpool": {
        1: "forward: one thread per output pixel column walks the channels; backward: one thread per "
           "input pixel column",
        2: "forward: one thread per output element; backward: each thread walks a chunk of 32 "
           "channels, and finds the windows that cover its pixel with one division per axis",
        3: "forward: a block per (plane, band of output rows) computes each LRN value its windows read "
           "once, into shared memory, and takes the maxima from there (versions 1 and 2 compute them "
           "window by window: 45 loads per output of a 3x3 window); backward: version 2's threads with "
           "the LRN window in registers, as LRN's version 3",
        4: "a block per (image, band of rows, chunk of channels), a thread per input pixel sliding its "
           "LRN window down the channels in registers; forward: one load of x per channel (version 3: "
           "5), the band's LRN values of each channel pooled from shared memory; backward: each "
           "channel's dout and argmax of the band's windows copied to shared memory once (version 3's "
           "threads load the windows' argmax from memory, neighbours the same ones); windows of 3 and "
           "5 channels, others run version 3",
        5: "forward: version 4 with each band row's even columns first and its odd ones after them, so "
           "that a warp's windows at a stride of 2 read consecutive words of shared memory, without bank "
           "conflicts (others run version 4); backward: version 4's",
        6: "backward: version 3's walk with each channel's windows' argmax and dout loaded in one trip "
           "(version 3: the dout after the argmax chose the pixel) and the next channel's loaded before "
           "this one's are summed (pooling windows of at most 2 x stride; others run version 3); "
           "forward: version 3's",
        7: "forward: version 3's band with each LRN value's channels loaded at once (LrnWindow::at; version "
           "3's lrn_scale loop, its trip count known at run time, loads each after the last one's term is "
           "added); windows of 3 and 5 channels, others run version 3; backward: version 6's",
        8: "backward: LRN's version 4 walk, size - 1 channels a step, with each step's x and the argmax and "
           "dout of its channels' pooling windows loaded before any is used (version 6: one channel's x a "
           "step, and the next channel's windows); where version 6 runs, else version 3's; forward: version 7's",
    },
    "maxpool": {
        1: "one thread per element, grid-stride; the backward finds the windows that cover a pixel "
           "with four divisions",
        2: "a block per (plane, tile of pixels): one division per thread for its position, and one per "
           "axis for the windows that cover a pixel",
        3: "forward: a block per (plane, band of output rows) copies the band's input rows to shared "
           "memory once and takes the windows' maxima from there (version 2 reads overlapping windows "
           "from memory, pixels `stride` apart); backward: version 2's",
        4: "backward: a block per (plane, band of input rows) copies dout and argmax of the windows that "
           "cover the band to shared memory once and sums each pixel's windows from there (version 2's "
           "threads read the windows' argmax from memory, neighbours the same ones); forward: version 3's",
        5: "forward: version 3 with each band row's even columns first and its odd ones after them, so "
           "that a warp's windows at a stride of 2 read consecutive words of shared memory, without bank "
           "conflicts (others run version 3); backward: version 4's",
        6: "backward: version 2's with every window's argmax and dout loaded before any is compared (no "
           "load waits on another's value) and four pixels a thread, all their loads in flight together "
           "(windows of at most 2 x stride; others run version 2); forward: version 2's",
        7: "forward: version 2's thread per output with the window's side a compile-time constant, so "
           "that its loads, each of a pixel of the plane (the position clamped), are all in flight before "
           "the first compare: one trip to memory a 3 x 3 window in nvcc's code, where version 2's loops "
           "make six (54% of the copy bandwidth on pool1, 30% on pool5); square windows of 2 and 3, "
           "others run version 2; backward: version 6's",
        8: "forward: version 7's windows in version 1's grid-stride loop over every output of the batch, "
           "where versions 2 and 7 give each plane tiles of its own (pool5's 6 x 6 outputs fill 36 threads "
           "of a 64-thread tile; version 1, so laid out, was the fastest forward on pool5 on the H200, "
           "0.021 ms, as fast as cuDNN's, against version 2's 0.025); square windows of 2 and 3, others run "
           "version 2; backward: version 6's",
    },
    "winograd": {
        1: "Winograd's F(2x2, 3x3) transforms: a thread per tile, reading its input tile's pixels and "
           "storing its outputs straight from and to the NCHW images; the input gradient a thread per 2 x 2 "
           "pixels, loading the 16 values of dV of each of the four tiles that cover them; the bias gradient "
           "summed from Z's position (1, 1) by the conv's (bias family's) kernels",
        2: "a block per (channel, group of images), their planes through shared memory (each NCHW pixel read "
           "or written once, consecutive threads taking consecutive pixels; version 1's warps load 27% to 34% "
           "of the bytes their sectors move, by the simulator's count), kept by column phase with a row pitch "
           "that puts a warp's tiles in consecutive banks (1.56 to 2.00 passes a request where they wrap "
           "around); the input gradient each tile's 4 x 4 once into shared memory (version 1: each tile's "
           "16 values loaded by four threads); the output gradient sums the bias gradient's part as it reads "
           "dL/dy (version 1: a pass over Z more); version 1's results bit for bit, but for the bias "
           "gradient's order of additions. Where one image's planes do not fit a block's shared memory, "
           "version 1's kernels",
    },
}

# The version each layer launches unless told otherwise: the fastest measured on a GPU, else the
# newest. benchmarks/kernels.py --versions times every version against cuDNN (the README gives the
# figures). On an H200 (2026-12-04, batch 128) im2col's and max-pool's versions through shared
# memory were slower than version 2's, which read their overlapping windows from memory (the L1
# cache serving the repeats, most likely): im2col's forward+backward summed over the 7 conv rows
# 23.85 ms with version 2 against 28.81 with version 5 (col2im_v5 alone 2.05 ms on conv1, col2im_v2
# 0.36), and max-pool's 0.86 ms against 1.00. The fused LRN+max-pool's likewise (its second run, the
# same day): version 3 (the LRN values in a shared-memory band) 0.84 and 0.58 ms forward+backward
# for norm1+pool1 and norm2+pool2, version 4 0.86 and 0.61, version 5 0.93 and 0.73; LRN's version 3
# (its window in registers) was the fastest of its three. Written after those runs, with more loads
# in flight at once, and not yet timed: max-pool's versions 6 (version 2's backward), 7 (version 2's
# forward) and 8 (version 7's forward over the whole batch), the fused LRN+max-pool's versions 6
# (version 3's backward) and 7 (version 3's forward), im2col's versions 6 (version 3's col2im) and 7
# (the layout kernels), the bias gradient's version 5 (a warp per plane), LRN's version 4 (version
# 3's walk four channels a step) and the fused LRN+max-pool's version 8 (its backward with LRN's
# version 4 walk), and Winograd's version 2 (its transforms' planes through shared memory). The
# layers launch them when a GPU finds them faster (benchmarks/kernels.py --versions 2,3,6,7,8;
# --versions 4,5 --family bias; --versions 3,4 --family lrn; --versions --family winograd
# --conv-algorithm winograd).
DEFAULTS = {"bias": 4, "gemm_tiled": 9, "im2col": 2, "lrn": 3, "lrn_maxpool": 3, "maxpool": 2, "relu": 2,
            "winograd": 1}

_chosen = dict(DEFAULTS)


def _check(family, version=None):
    if family not in VERSIONS:
        raise ValueError(f"no kernel family {family!r}; the families with versions are {', '.join(VERSIONS)}")
    if version is not None and (isinstance(version, bool) or version not in VERSIONS[family]):   # True == 1
        raise ValueError(f"{family} has no kernel version {version!r}; it has {sorted(VERSIONS[family])}")


def choice(text):
    """"im2col=5" -> ("im2col", 5): a family and one of its versions, as ``--kernel-version`` takes
    them; a ValueError names the families, or the family's versions."""
    family, equals, version = text.partition("=")
    if not equals or not version.strip().isdigit():
        raise ValueError(f"expected FAMILY=VERSION (im2col=5), got {text!r}; the families: {', '.join(VERSIONS)}")
    _check(family.strip(), int(version))
    return family.strip(), int(version)


def described():
    """"bias v4, gemm_tiled v9, ...": the version of each family a layer launches now, as results
    files record it."""
    return ", ".join(f"{family} v{current(family)}" for family in VERSIONS)


def current(family):
    """The version of ``family``'s kernels that a forward launches now."""
    _check(family)
    return _chosen[family]


# The version a version builds on where that is not the one before it: its kernels that it did
# not rewrite are that version's (im2col's version 6 rewrote col2im on version 2, whose im2col
# was faster on the H200 than versions 4 and 5's through shared memory; max-pool's version 6 its
# backward on version 2, the fused LRN+max-pool's version 6 its backward on version 3, each
# family's fastest on the H200, whose forwards they run). tests/test_maxpool.py and
# tests/test_fusion.py check that the layers launch what ``kernel_name`` names.
BUILDS_ON = {"im2col": {6: 2}, "lrn_maxpool": {6: 3}, "maxpool": {6: 2}}


def kernel_name(source, kernel, version):
    """The name of ``kernel`` (its name without ``_v<n>``) of ``kernels/<source>.cu`` in ``version``
    of its family: ``<kernel>_v<version>``, or for a kernel that the version did not rewrite, its
    newest version among those the version builds on: the one before it, unless BUILDS_ON names
    another (im2col's version 3 rewrote col2im alone: ``kernel_name("im2col", "im2col", 3)`` is
    ``"im2col_v2"``; its version 6 builds on version 2: ``kernel_name("im2col", "im2col", 6)`` is
    ``"im2col_v2"``, not version 5's)."""
    names = _kernel_names(source)
    v = version
    while v >= 1:
        if f"{kernel}_v{v}" in names:
            return f"{kernel}_v{v}"
        v = BUILDS_ON.get(source, {}).get(v, v - 1)
    raise ValueError(f"{source}.cu has no version of {kernel!r} at or below {version}")


@functools.lru_cache(maxsize=None)
def _kernel_names(source):
    from minicnn.kernels import kernel_signatures
    return frozenset(kernel_signatures(source))


def set_version(family, version):
    """Launch ``version`` of ``family``'s kernels from now on (for the rest of the process)."""
    _check(family, version)
    _chosen[family] = int(version)   # NumPy's integers too: the kernels' names are built from it


@contextlib.contextmanager
def use(family, version):
    """``with use("lrn", 1): ...`` runs the block with that version, then restores the previous one."""
    saved = current(family)
    set_version(family, version)
    try:
        yield
    finally:
        _chosen[family] = saved
