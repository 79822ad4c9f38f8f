"""The package as ``pip install ./spec/python`` installs it, without extras: numpy its one
requirement. A venv of its own (no system site packages) gets the wheel ``pip wheel`` builds from a
copy of the source (so no build folder is left in the tree; a stale one planted there must not
ship), and numpy from the machine's package index. The test fails, never skips, when it cannot build that venv."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import textwrap
import venv
import zipfile
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent  # spec/python: pyproject.toml, ndpack/, tests/
EXTRAS = ("ml_dtypes", "fsspec", "aiohttp", "dask", "xarray")

#: Run in the bare venv: every feature of an extra, and a file holding a bfloat16 array.
BARE = textwrap.dedent("""
    import importlib, importlib.util, json, sys
    import numpy as np
    extras = %r
    out = {"installed": [m for m in extras if importlib.util.find_spec(m) is not None]}
    import ndpack
    out["imported"] = sorted(m for m in sys.modules if m.split(".")[0] in extras)

    def outcome(call):
        try:
            call()
            return "ok"
        except ndpack.NdpackError as ex:
            return [ex.code, ex.message]
        except ImportError as ex:
            return ["ImportError", str(ex)]

    out["url"] = outcome(lambda: ndpack.open("https://127.0.0.1:9/a.ndp"))
    out["set url"] = outcome(lambda: ndpack.open("https://127.0.0.1:9/a.ndp.index.json"))
    out["ndpack.dask"] = outcome(lambda: importlib.import_module("ndpack.dask"))
    out["ndpack.xarray"] = outcome(lambda: importlib.import_module("ndpack.xarray"))
    path = sys.argv[1]
    bits = np.array([0x3F80, 0xC000], "u2")  # bfloat16 1.0 and -2.0
    ndpack.save(path, {"x": np.arange(3, dtype="f4"), "h": {"data": bits, "dtype": "bfloat16"},
                       "y": np.ones(2)})
    f = ndpack.load(path, verify=True)
    out["load"] = [f["x"].tolist(), outcome(lambda: f["h"]), f["y"].tolist(), f.info("h").dtype]
    with ndpack.open(path) as r:
        out["open"] = [r.read("x").tolist(), outcome(lambda: r.read("h")), r.read("y").tolist()]
    with ndpack.open(path, raw_bits=True) as r:
        out["raw_bits"] = [str(r.read("h").dtype), r.read("h").tolist()]
    print(json.dumps(out))
""") % (EXTRAS,)


def run(*command, **options) -> subprocess.CompletedProcess:
    # pip's default index is unreachable here (the packages come from the configured local ones):
    # no retries of it, which would cost seconds of back-off.
    env = {**os.environ, "PIP_RETRIES": "0", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env,
                          **options)
    assert done.returncode == 0, f"{command}: {done.stderr}"
    return done


def test_the_package_without_extras_imports_and_names_the_extra_each_feature_needs(tmp_path):
    source = tmp_path / "source"
    shutil.copytree(PACKAGE, source,
                    ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    # What an earlier build of a tree whose modules changed since leaves behind (setuptools packs
    # all of build/lib): none of it may ship.
    for stale in ("build/lib/ndpack/removed_module.py", "build/lib/ndpack_renamed/__init__.py"):
        (source / stale).parent.mkdir(parents=True, exist_ok=True)
        (source / stale).write_text("")
    venv.create(tmp_path / "venv", with_pip=True)  # without the system's site packages
    python = str(tmp_path / "venv" / "bin" / "python")
    run(python, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(tmp_path / "wheel"),
        str(source))
    (wheel,) = (tmp_path / "wheel").glob("ndpack-*.whl")

    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read("ndpack-0.1.0.dist-info/METADATA").decode()
    # pip < 23.3 (Debian 12's, this machine's) does not normalize a requested extra's name (PEP
    # 685): "ndpack[ml_dtypes]" installed nothing there, with a warning. An extra can be requested
    # by old and new pip alike only as the metadata spells it, which is how messages and READMEs
    # name it.
    provided = {line.split(": ", 1)[1] for line in metadata.splitlines()
                if line.startswith("Provides-Extra: ")}
    assert {"ml-dtypes", "remote", "fsspec", "dask", "xarray", "all"} <= provided, provided
    report = tmp_path / "report.json"
    run(python, "-m", "pip", "install", "--dry-run", "--quiet", "--report", str(report),
        f"{wheel}[ml-dtypes]")
    assert "ml_dtypes" in {p["metadata"]["name"] for p in json.loads(report.read_text())["install"]}
    modules = sorted(p.name for p in (PACKAGE / "ndpack").glob("*.py"))
    assert sorted(n.split("/", 1)[1] for n in names if n.startswith("ndpack/")) == \
        sorted([*modules, "py.typed"])  # the type hints' marker; no tests, nothing stale
    assert all(n.startswith(("ndpack/", "ndpack-0.1.0.dist-info/")) for n in names), names

    run(python, "-m", "pip", "install", "--quiet", str(wheel))  # numpy, from the index
    out = json.loads(run(python, "-c", BARE, str(tmp_path / "h.ndp"), cwd=tmp_path).stdout)
    assert out["installed"] == [] and out["imported"] == []
    remote = "pip install 'ndpack[remote]'"
    assert out["url"][0] == out["set url"][0] == "INVALID_ARGUMENT"
    assert remote in out["url"][1] and remote in out["set url"][1]
    assert out["ndpack.dask"][0] == out["ndpack.xarray"][0] == "ImportError"
    assert "pip install 'ndpack[dask]'" in out["ndpack.dask"][1]
    assert "pip install 'ndpack[xarray]'" in out["ndpack.xarray"][1]
    # Without ml_dtypes a bfloat16 array is read with raw_bits=True only (before: its bits, as
    # uint16, where the same call gives bfloat16 with ml_dtypes); the others as ever. raw_bits is
    # an option of load and open, not of read: the message says where it goes.
    for x, h, y in (out["load"][:3], out["open"]):
        assert (x, y) == ([0, 1, 2], [1, 1])
        assert h[0] == "INVALID_ARGUMENT"
        assert "pip install 'ndpack[ml-dtypes]'" in h[1]
        assert "ndpack.load(..., raw_bits=True) or ndpack.open(..., raw_bits=True)" in h[1]
    named = {m for text in [out["url"][1], out["ndpack.dask"][1], out["ndpack.xarray"][1],
                            out["load"][1][1]]
             for m in re.findall(r"ndpack\[([^\]]+)\]", text)}
    assert named == {"remote", "dask", "xarray", "ml-dtypes"} and named <= provided
    assert out["load"][3] == "bfloat16"  # its ndpack dtype
    assert out["raw_bits"] == ["uint16", [0x3F80, 0xC000]]
