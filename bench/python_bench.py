"""Benchmark of the ndpack Python package against json, NumPy, safetensors and np.memmap (run by hand).

    python3 -m pip install ./spec/python[all] safetensors   # the INSTALLED package is measured
    python3 bench/python_bench.py            # 1 GiB files and a 4 GiB set (~9 GB in the temp dir)
    python3 bench/python_bench.py --quick    # 1/16 of the sizes
    python3 bench/python_bench.py --only header,load,read   # groups by their cases' prefix

Each case runs in a fresh process (``python_bench.py case NAME DIR RUNS``): the first call is timed
on its own (it is also the warm-up: nothing of the case is run before it, so that it is a fresh
process's first call), then a warm-up call, then 7 timed samples of one call each (31 for calls under 10 ms, whose
medians of 7 moved by a fifth between processes), each after a full ``gc.collect()`` (as issue 14
asks of every timed run: no call's garbage is paid for by the next); the case's time is the
median of its samples. Each group runs 3 rounds, its cases interleaved (baseline, case,
case..., baseline, ...), and reports the medians over the rounds, and the ratio to the baseline
measured in the same run, with the peak RSS (which counts the file pages a memory map touches) and
the peak RssAnon (private memory, sampled every 5 ms). The CPU time of each sample
(``time.process_time``, all threads) is reported too: on a machine shared with other work it moves
far less than wall-clock time, and for single-threaded cases it is the work done. Files are written once to a temporary
folder (page cache warm for every case alike) and removed at the end; only the files of the groups
run are written. Results go to stdout as Markdown, ending with one table of the targets. Numbers
are wall-clock on a shared machine: compare ratios, not absolute times.

Targets: issue 14, parsing a 10,000-entry header <= 2 x ``json.loads`` of the same text, with the
strict parser's acceptance and error codes; issue 15, ``load`` of a 1 GiB one-array file <= 1.1 x
``np.load(mmap_mode="r")``; ``open`` + ``read`` of one 4 MiB array of a 1 GiB file <= 1.2 x
safetensors' ``safe_open().get_tensor``; ``from_ndpack(set).sum().compute()`` (threads) >= 0.8 x
the throughput of the same reduction over ``np.memmap``s."""

from __future__ import annotations

import gc
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

GiB, MiB = 1 << 30, 1 << 20
ROUNDS = 3


def sizes(quick: bool) -> dict:
    scale = 16 if quick else 1
    return {"one": GiB // scale, "many": GiB // scale, "set": 4 * GiB // scale,
            "runs": 7}


# --------------------------------------------------------------------------------------------------
# Preparation: the same bytes as .ndp, .npy, .safetensors, and the set as .ndp shards.
# --------------------------------------------------------------------------------------------------

def prepare(folder: str, quick: bool, groups: list[str]) -> None:
    """The files of ``groups`` (case prefixes: header, load, read, read-few, sum)."""
    import ndpack
    from safetensors.numpy import save_file

    s = sizes(quick)
    if "header" in groups:  # issue 14's S2: 10,000 float32 [8, 8]
        ndpack.save(os.path.join(folder, "header.ndp"),
                    {f"layer.{i}.weight": np.full((8, 8), i, "f4") for i in range(10000)})
    if "load" in groups:
        one = np.arange(s["one"] // 4, dtype="f4")
        ndpack.save(os.path.join(folder, "one.ndp"), {"x": one})
        np.save(os.path.join(folder, "one.npy"), one)
        del one
    if "read" in groups:
        count = s["many"] // (4 * MiB)
        many = {f"t{i:04d}": np.full(MiB, i, "f4") for i in range(count)}
        ndpack.save(os.path.join(folder, "many.ndp"), many)
        save_file(many, os.path.join(folder, "many.safetensors"))
        del many
    if "read-few" in groups:
        # The same 4 MiB array in a 1 GiB file of 4 arrays: the header is 64 times shorter.
        rest = (s["many"] - 4 * MiB) // 3 // 4
        few = {"t0000": np.full(MiB, 0, "f4"),
               **{f"big{i}": np.zeros(rest, "f4") for i in range(3)}}
        ndpack.save(os.path.join(folder, "few.ndp"), few)
        save_file(few, os.path.join(folder, "few.safetensors"))
        del few
    if "sum" in groups:
        shards, rows, width = 4, s["set"] // (4 * 4096 * 4), 4096
        with ndpack.SetWriter(os.path.join(folder, "set.ndp.index.json"),
                              [(f"part{k}", "float32", (rows, width)) for k in range(shards)],
                              max_shard_size=s["set"] // shards) as w:
            for k in range(shards):
                for start in range(0, rows, 1024):
                    w.write(f"part{k}", np.full((min(1024, rows - start), width), k + 0.5, "f4"))


# --------------------------------------------------------------------------------------------------
# Cases: each returns a function timed by ``measure``.
# --------------------------------------------------------------------------------------------------

def case(name: str, folder: str):
    import ndpack

    path = lambda f: os.path.join(folder, f)  # noqa: E731
    if name.startswith("header/"):
        from ndpack import reference

        with open(path("header.ndp"), "rb") as fh:
            head = fh.read(1 << 22)
        length = int.from_bytes(head[12:16], "little")
        raw = head[20 : 20 + length]
        text = raw.decode()
        limits = reference.DEFAULT_LIMITS
        if name == "header/json.loads":
            return lambda: json.loads(text)
        if name == "header/ndpack-parse":  # FORMAT.md section 9 step 7, as loads/open run it
            return lambda: reference._parse_header_json(raw, limits["max_depth"],
                                                        limits["max_header_nodes"])
        if name == "header/ndpack-strict-parser":  # the readable parser alone
            return lambda: reference._parse_strict(text, limits["max_depth"],
                                                   limits["max_header_nodes"])
        if name == "header/ndpack-steps-1-21":  # every check of the header, entries included
            size = os.path.getsize(path("header.ndp"))
            return lambda: reference._parse(head, limits, size=size)
    if name == "load/ndpack":
        return lambda: ndpack.load(path("one.ndp"))["x"]
    if name == "load/np.load-mmap":
        return lambda: np.load(path("one.npy"), mmap_mode="r")
    if name.startswith(("read/", "read-few/")):
        stem = "few" if name.startswith("read-few/") else "many"
        # The array in the middle of the file, named without opening it (which would run the
        # reader's code before its first call is timed): prepare names them t0000, t0001...
        count = os.path.getsize(path(f"{stem}.safetensors")) // (4 * MiB)
        target = f"t{count // 2:04d}" if stem == "many" else "t0000"
        name = "read/" + name.split("/", 1)[1]

        def ndpack_read(**options):
            with ndpack.open(path(f"{stem}.ndp")) as r:
                return r.read(target, **options)

        if name == "read/ndpack-open-read":
            return ndpack_read
        if name == "read/ndpack-open-read-noverify":
            return lambda: ndpack_read(verify=False)
        if name == "read/ndpack-open-read-noverify-copy":
            return lambda: ndpack_read(verify=False, copy=True)
        if name == "read/json.loads-header":  # a floor: the header text parsed, nothing checked
            with open(path(f"{stem}.ndp"), "rb") as fh:
                head = fh.read(1 << 22)
            text = head[20 : 20 + int.from_bytes(head[12:16], "little")].decode()
            return lambda: json.loads(text)
        if name == "read/crc32":  # a floor: the CRC-32 of the array's bytes, already mapped
            from ndpack import _crc32

            reader = ndpack.open(path(f"{stem}.ndp"))
            payload = reader.read(target, verify=False)  # its stored bytes: float32, little-endian
            return lambda: _crc32.crc32(payload)
        if name == "read/safetensors-get_tensor":
            from safetensors import safe_open

            def get():
                with safe_open(path(f"{stem}.safetensors"), framework="np") as f:
                    return f.get_tensor(target)
            return get
    if name.startswith("sum/"):
        import dask
        import dask.array as da
        import ndpack.dask as nd

        index = path("set.ndp.index.json")
        s = ndpack.open(index)
        if name in ("sum/from_ndpack", "sum/from_ndpack-noverify", "sum/from_ndpack-mmap"):
            verify, mapped = name != "sum/from_ndpack-noverify", name == "sum/from_ndpack-mmap"

            def total():
                xs = nd.from_ndpack(index, chunks="64MiB", verify=verify, mmap=mapped)
                return sum(dask.compute(*[x.sum(dtype="f8") for x in xs.values()],
                                        scheduler="threads"))
            return total
        maps = []
        for n in s:
            reader = s.reader_of(n)
            e = reader.info(n)
            maps.append(np.memmap(os.path.join(folder, s.shard_of(n)), dtype="f4", mode="r",
                                  offset=e.start, shape=e.shape))
        if name == "sum/np.memmap-dask":
            def total():
                arrays = [da.from_array(m, chunks=(max(1, 64 * MiB // (m.shape[1] * 4)), -1))
                          for m in maps]
                return sum(dask.compute(*[a.sum(dtype="f8") for a in arrays], scheduler="threads"))
            return total
        if name == "sum/np.memmap-numpy":
            return lambda: sum(float(m.sum(dtype="f8")) for m in maps)
    raise SystemExit(f"unknown case {name}")


class AnonymousPeak:
    """The peak of RssAnon (private memory: not the mapped file pages that RSS also counts),
    sampled every 5 ms by a thread."""

    def __init__(self):
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            with open("/proc/self/status") as fh:
                for line in fh:
                    if line.startswith("RssAnon:"):
                        self.peak = max(self.peak, int(line.split()[1]) * 1024)
            self._stop.wait(0.005)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def measure(name: str, folder: str, runs: int) -> dict:
    anonymous = AnonymousPeak()
    t0 = time.perf_counter()
    fn = case(name, folder)
    gc.collect()
    t1 = time.perf_counter()
    fn()
    first = time.perf_counter() - t1
    # A call under 10 ms (timed once more, warm) takes 31 samples, not 7: the median of 7 single
    # sub-millisecond calls moved by a fifth between processes.
    t2 = time.perf_counter()
    fn()
    samples = max(runs, 31) if time.perf_counter() - t2 < 0.01 else runs
    times, cpu_times = [], []
    for _ in range(samples):
        gc.collect()
        t, cpu = time.perf_counter(), time.process_time()
        fn()
        cpu_times.append(time.process_time() - cpu)
        times.append(time.perf_counter() - t)
    return {"case": name, "first": first, "median": statistics.median(times),
            "min": min(times), "cpu": statistics.median(cpu_times), "setup": t1 - t0,
            "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            "peak_anonymous": anonymous.stop()}


GROUPS = [
    ("parse of a 10,000-entry header (1.3 MB of JSON, issue 14's S2)", "header/json.loads",
     ["header/ndpack-parse", "header/ndpack-strict-parser", "header/ndpack-steps-1-21"], "time",
     2.0),
    ("load of a 1 GiB one-array file (then the array object)", "load/np.load-mmap",
     ["load/ndpack"], "time", 1.1),
    ("open + read of one 4 MiB array of a 1 GiB file of 256 such arrays",
     "read/safetensors-get_tensor",
     ["read/ndpack-open-read", "read/ndpack-open-read-noverify",
      "read/ndpack-open-read-noverify-copy", "read/json.loads-header", "read/crc32"], "time", 1.2),
    ("open + read of one 4 MiB array of a 1 GiB file of 4 arrays", "read-few/safetensors-get_tensor",
     ["read-few/ndpack-open-read", "read-few/ndpack-open-read-noverify",
      "read-few/ndpack-open-read-noverify-copy", "read-few/json.loads-header", "read-few/crc32"],
     "time", 1.2),
    ("sum of a 4 GiB set (4 shards), threaded scheduler, 64 MiB chunks", "sum/np.memmap-numpy",
     ["sum/from_ndpack", "sum/from_ndpack-mmap", "sum/from_ndpack-noverify", "sum/np.memmap-dask"],
     "throughput", 0.8),
]


def main() -> None:
    quick = "--quick" in sys.argv
    runs = sizes(quick)["runs"]
    only = sys.argv[sys.argv.index("--only") + 1].split(",") if "--only" in sys.argv else None
    groups = [g for g in GROUPS if not only or any(g[1].startswith(p + "/") for p in only)]
    folder = tempfile.mkdtemp(prefix="ndpack-pybench-")
    summary = []
    try:
        t = time.perf_counter()
        prefixes = sorted({g[1].split("/")[0] for g in groups})
        subprocess.run([sys.executable, __file__, "prepare", folder, ",".join(prefixes)]
                       + (["--quick"] if quick else []), check=True)
        print(f"prepared in {time.perf_counter() - t:.0f} s ({'quick' if quick else 'full'} sizes)",
              file=sys.stderr)
        import ndpack
        from ndpack import _crc32
        print(f"ndpack {ndpack.__file__}; numpy {np.__version__}; python {sys.version.split()[0]}; "
              f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}; CRC-32 by "
              f"{'libdeflate' if _crc32.LIBDEFLATE_CRC32 else 'zlib'}\n")
        for title, baseline, cases, kind, target in groups:
            # Rounds of one process per case, baseline and cases interleaved, so that the load of
            # the machine (other work on the same cores) drifts over all of them alike; each
            # column is the median over the rounds.
            rounds = {name: [] for name in [baseline] + cases}
            for _ in range(ROUNDS):
                for name in rounds:
                    out = subprocess.run([sys.executable, __file__, "case", name, folder, str(runs)]
                                         + (["--quick"] if quick else []),
                                         check=True, capture_output=True, text=True)
                    rounds[name].append(json.loads(out.stdout))
            results = {name: {key: statistics.median(r[key] for r in rs) for key in rs[0]
                              if key != "case"} for name, rs in rounds.items()}
            print(f"#### {title}{' (--quick: 1/16 of these sizes)' if quick else ''}\n")
            print("| case | first call | median | best | CPU time | ratio (medians) | ratio (bests) "
                  "| ratio (first calls) | ratio (CPU times) | peak RSS | peak RssAnon |")
            print("|---|---|---|---|---|---|---|---|---|---|---|")
            for name, r in results.items():
                ratios = []
                for key in ("median", "min", "first", "cpu"):
                    base = results[baseline][key]
                    ratio = base / r[key] if kind == "throughput" else r[key] / base
                    ratios.append("baseline" if name == baseline else f"{ratio:.2f} x "
                                  + ("throughput" if kind == "throughput" else "time"))
                    if key == "median" and name != baseline:
                        met = ratio >= target if kind == "throughput" else ratio <= target
                        cpu_ratio = (results[baseline]["cpu"] / r["cpu"] if kind == "throughput"
                                     else r["cpu"] / results[baseline]["cpu"])
                        summary.append((name, baseline, kind, target, ratio, cpu_ratio, met,
                                        name == cases[0]))
                if name == cases[0]:
                    ratios[0] += f" (target {'>=' if kind == 'throughput' else '<='} {target})"
                print(f"| {name} | {fmt(r['first'])} | {fmt(r['median'])} | {fmt(r['min'])} | "
                      f"{fmt(r['cpu'])} | {' | '.join(ratios)} | {r['peak_rss'] / MiB:.0f} MiB | "
                      f"{r['peak_anonymous'] / MiB:.0f} MiB |")
            print()
        print("#### Targets (ratios of medians in this run)\n")
        print("| case | against | ratio | ratio of CPU times | target | met |")
        print("|---|---|---|---|---|---|")
        for name, baseline, kind, target, ratio, cpu_ratio, met, targeted in summary:
            sign = ">=" if kind == "throughput" else "<="
            print(f"| {name} | {baseline} | {ratio:.2f} x {kind} | {cpu_ratio:.2f} x | "
                  f"{f'{sign} {target}' if targeted else f'({sign} {target})'} | "
                  f"{'yes' if met else 'no'} |")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def fmt(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


if __name__ == "__main__":
    if len(sys.argv) > 3 and sys.argv[1] == "prepare":
        prepare(sys.argv[2], "--quick" in sys.argv, sys.argv[3].split(","))
    elif len(sys.argv) > 4 and sys.argv[1] == "case":
        print(json.dumps(measure(sys.argv[2], sys.argv[3], int(sys.argv[4]))))
    else:
        main()
