"""The package as a program meets it: importing without torch, errors when the C library
or the interposer is missing, and `python -m xsched` standing for the xsched program."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

import xsched

REPO = Path(__file__).resolve().parents[2]


def run_python(code: str, env_changes: "dict[str, str | None] | None" = None, *args: str,
               module: "str | None" = None) -> subprocess.CompletedProcess:
    """Runs `python -c code` (or `python -m module args`) with the package importable."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO / "python")
    for k, v in (env_changes or {}).items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    cmd = [sys.executable, "-m", module, *args] if module else [sys.executable, "-c", code, *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)


def test_import_needs_neither_torch_nor_the_library():
    r = run_python("import sys, xsched; print('torch' in sys.modules, xsched.interposer_loaded())",
                   {"XSCHED_LIBRARY": "/nonexistent/libxsched.so"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["False", "False"]


def test_a_cuda_stream_without_the_interposer_says_how_to_run():
    class TorchLikeStream:  # what xsched reads of a torch.cuda.Stream
        cuda_stream = 0x1234
        device = None

    assert not xsched.interposer_loaded(), "this test needs a process without the interposer"
    before = len(xsched.queues())
    for stream in (TorchLikeStream(), 0x1234, None):
        with pytest.raises(xsched.InterposerNotLoadedError) as err:
            xsched.Queue(stream)
        message = str(err.value)
        assert "xsched run" in message and "python -m xsched run" in message, message
        assert "libcuda.so.1" in message, message
        assert isinstance(err.value, RuntimeError)
    after = xsched.queues()
    assert len(after) == before, "a refused Queue() left a queue behind"
    assert not any(isinstance(q, xsched.CudaQueue) for q in after)


def test_a_rocm_torch_stream_without_the_interposer_says_how_to_run_it_for_hip(monkeypatch):
    # torch imported and a ROCm build (torch.version.hip): its streams are HIP streams.
    torch = types.ModuleType("torch")
    torch.version = types.SimpleNamespace(hip="5.2.21153", cuda=None)
    monkeypatch.setitem(sys.modules, "torch", torch)
    assert not xsched.interposer_loaded(), "this test needs a process without an interposer"
    with pytest.raises(xsched.InterposerNotLoadedError) as err:
        xsched.Queue(0x1234)
    message = str(err.value)
    assert "HIP streams" in message and "libxsched_hip.so" in message, message
    assert "xsched run --platform hip" in message and "python -m xsched run --platform hip" in message, message


def test_missing_library_names_where_it_looked(tmp_path):
    missing = tmp_path / "nowhere" / "libxsched.so"
    code = ("import xsched\n"
            "try:\n"
            "    xsched.HostDevice()\n"
            "except xsched.LibraryNotFoundError as e:\n"
            "    print('ERR', e)\n")
    r = run_python(code, {"XSCHED_LIBRARY": str(missing)})
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("ERR "), r.stdout
    assert str(missing) in r.stdout and "XSCHED_LIBRARY" in r.stdout
    # Not a library at all: the loader's reason is passed on.
    bogus = tmp_path / "libxsched.so"
    bogus.write_text("not an ELF file")
    r = run_python(code, {"XSCHED_LIBRARY": str(tmp_path)})  # a folder works too
    assert "ERR " in r.stdout and str(bogus) in r.stdout, r.stdout + r.stderr


def test_library_found_through_a_folder(library):
    r = run_python("import xsched; print(xsched.library_path())",
                   {"XSCHED_LIBRARY": str(Path(library).parent)})
    assert r.returncode == 0, r.stderr
    assert Path(r.stdout.strip()) == Path(library)


def test_python_m_xsched_is_the_xsched_program(library):
    r = run_python("", None, "version", module="xsched")
    assert r.returncode == 0, r.stderr
    major, minor, patch = xsched.library_version()
    assert r.stdout.strip() == f"xsched {major}.{minor}.{patch}"
    r = run_python("", None, "run", "--priority", "abc", "--", "true", module="xsched")
    assert r.returncode == 2, "a bad option is exit code 2, as with xsched run"
    assert "--priority 'abc' is not valid" in r.stderr


def test_python_m_xsched_run_runs_under_the_interposer(library):
    interposer = os.environ.get("XS_TEST_INTERPOSER")
    if not interposer:
        pytest.skip("the CUDA interposer is not built here (no cuda.h): nothing to preload")
    r = run_python("", None, "run", "--priority", "3", "--quiet", "--", sys.executable, "-c",
                   "import os, xsched; print(os.environ['XSCHED_PRIORITY'], xsched.interposer_loaded(), "
                   "os.environ['LD_PRELOAD'].split(':')[0])", module="xsched")
    assert r.returncode == 0, r.stderr
    priority, loaded, preload = r.stdout.split()
    assert (priority, loaded) == ("3", "True")
    assert Path(preload).resolve() == Path(interposer).resolve()


def test_python_m_xsched_without_the_program(tmp_path, library):
    lonely = tmp_path / "libxsched.so"
    shutil.copy(library, lonely)  # no xsched program beside this copy
    r = run_python("", {"XSCHED_LIBRARY": str(lonely), "PATH": str(tmp_path)}, "version", module="xsched")
    assert r.returncode == 127
    assert "xsched program was not found" in r.stderr


def test_stream_forms_are_read_without_torch():
    from xsched._streams import resolve

    class Proto:
        def __cuda_stream__(self):
            return (0, 0xBEEF)

    class TorchLike:
        cuda_stream = 0xABC

        class device:  # noqa: N801 - like torch.device
            index = 3

    import ctypes
    assert resolve(0x10, None) == (0x10, -1)
    assert resolve(ctypes.c_void_p(0x20), 1) == (0x20, 1)
    assert resolve(Proto(), None) == (0xBEEF, -1)
    assert resolve(TorchLike(), None) == (0xABC, 3)
    assert resolve(TorchLike(), 0) == (0xABC, 0)
    with pytest.raises(TypeError):
        resolve("stream", None)
    with pytest.raises(TypeError):
        resolve(True, None)
    with pytest.raises(ValueError):
        resolve(-1, None)
    import importlib.util
    if importlib.util.find_spec("torch") is None:
        with pytest.raises(TypeError, match="torch"):
            resolve(None, None)  # no stream: torch's current one, and torch is not installed


def test_pip_installs_the_package_without_an_index(tmp_path, library):
    probe = subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip("pip is not available for this Python")
    target = tmp_path / "site"
    # --no-index: the build backend (python/_build) needs nothing from a package index.
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--no-cache-dir",
                        "--no-compile", "--disable-pip-version-check", "--target", str(target), str(REPO / "python")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (target / "xsched" / "py.typed").is_file()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(target)
    r = subprocess.run([sys.executable, "-c", "import xsched; print(xsched.__file__); print(xsched.library_path())"],
                       env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    installed, lib = r.stdout.split()
    assert Path(installed).parent == target / "xsched"
    assert Path(lib) == Path(library)


def test_ld_preload_entries_that_are_not_absolute_name_no_folder(monkeypatch):
    # A bare name or a relative path would make "." a candidate: a planted
    # ./libxsched.so (or ./xsched for python -m xsched) would be used.
    from xsched import _library
    monkeypatch.delenv(_library.ENV_VAR, raising=False)
    for preload in ("libxsched_cuda.so", "./libxsched_cuda.so", "lib/libxsched_cuda.so",
                    "src/interpose/cuda/libxsched_cuda.so"):
        monkeypatch.setenv("LD_PRELOAD", preload)
        assert _library._preloaded_interposer_dirs() == [], preload
        paths, _ = _library.candidates()
        assert all(p.is_absolute() for p in paths), (preload, paths)


def test_ld_preload_never_makes_root_or_folders_above_a_prefix_candidates(monkeypatch):
    from xsched import _library
    monkeypatch.setenv("LD_PRELOAD", "/usr/lib/libxsched_cuda.so:/opt/xsched/lib/libxsched_cuda.so")
    assert _library._preloaded_interposer_dirs() == [Path("/usr/lib"), Path("/opt/xsched/lib")]
    monkeypatch.setenv("LD_PRELOAD", "/home/u/xsched/build/src/interpose/cuda/libxsched_cuda.so")
    assert _library._preloaded_interposer_dirs() == [Path("/home/u/xsched/build/src/interpose/cuda"),
                                                      Path("/home/u/xsched/build")]
    monkeypatch.setenv("LD_PRELOAD", "/src/interpose/cuda/libxsched_cuda.so")
    assert _library._preloaded_interposer_dirs() == [Path("/src/interpose/cuda")]
    # The HIP interposer (xsched run --platform hip) in its own build folder; not in the CUDA one's.
    monkeypatch.setenv("LD_PRELOAD", "/home/u/xsched/build/src/interpose/hip/libxsched_hip.so")
    assert _library._preloaded_interposer_dirs() == [Path("/home/u/xsched/build/src/interpose/hip"),
                                                      Path("/home/u/xsched/build")]
    monkeypatch.setenv("LD_PRELOAD", "/home/u/xsched/build/src/interpose/cuda/libxsched_hip.so")
    assert _library._preloaded_interposer_dirs() == [Path("/home/u/xsched/build/src/interpose/cuda")]


def test_ld_preload_of_an_installed_interposer_names_its_libdir(monkeypatch):
    # cmake --install keeps the interposer in <libdir>/xsched, the library in <libdir>.
    from xsched import _library
    monkeypatch.setenv("LD_PRELOAD", "/opt/xsched/lib/xsched/libxsched_cuda.so")
    assert _library._preloaded_interposer_dirs() == [Path("/opt/xsched/lib/xsched"), Path("/opt/xsched/lib")]
    monkeypatch.setenv("LD_PRELOAD", "/xsched/libxsched_cuda.so")
    assert _library._preloaded_interposer_dirs() == [Path("/xsched")]


def test_a_package_installed_in_a_prefix_looks_in_its_lib(monkeypatch):
    from xsched import _library
    multiarch = _library._multiarch()
    assert _library._package_prefix_dirs(Path("/opt/p/lib/python3/dist-packages/xsched")) == [
        Path("/opt/p/lib"), Path("/opt/p/lib64"), Path("/opt/p/lib") / multiarch]
    assert _library._package_prefix_dirs(Path("/v/lib/python3.11/site-packages/xsched"))[0] == Path("/v/lib")
    assert _library._package_prefix_dirs(Path("/home/u/xsched/python/xsched")) == []
    assert _library._package_prefix_dirs(Path("/tmp/site/xsched")) == []


def _fake_install(root: Path, library: str, libdir: str) -> Path:
    """A prefix with the built library in libdir (as its SONAME) and a stand-in xsched in bin."""
    (root / libdir).mkdir(parents=True)
    shutil.copy(library, root / libdir / "libxsched.so.0")
    (root / "bin").mkdir()
    program = root / "bin" / "xsched"
    program.write_text("#!/bin/sh\necho \"stand-in xsched $*\"\n")
    program.chmod(0o755)
    return program


@pytest.mark.parametrize("libdir", ["lib", "lib/x86_64-linux-gnu"])
def test_python_m_xsched_finds_the_program_of_an_install(tmp_path, library, libdir):
    program = _fake_install(tmp_path / "prefix", library, libdir)
    lib_folder = tmp_path / "prefix" / libdir
    path = "/usr/bin:/bin"
    for env in ({"XSCHED_LIBRARY": str(lib_folder)},
                {"XSCHED_LIBRARY": None, "LD_LIBRARY_PATH": str(lib_folder)}):
        r = run_python("", {**env, "PATH": path, "LD_PRELOAD": None}, "--help", module="xsched")
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == "stand-in xsched --help", (env, r.stdout)
    # The library is found through the program on PATH, too.
    r = run_python("import xsched; print(xsched.library_path())",
                   {"XSCHED_LIBRARY": None, "LD_PRELOAD": None, "PATH": f"{program.parent}:{path}"})
    assert r.returncode == 0, r.stderr
    assert Path(r.stdout.strip()) == lib_folder / "libxsched.so.0"


def test_python_m_xsched_says_where_it_looked(tmp_path, library):
    lonely = tmp_path / "lib" / "libxsched.so"
    lonely.parent.mkdir()
    shutil.copy(library, lonely)
    r = run_python("", {"XSCHED_LIBRARY": str(lonely), "PATH": "/nonexistent"}, "--help", module="xsched")
    assert r.returncode == 127
    assert str(tmp_path / "bin" / "xsched") in r.stderr and "PATH" in r.stderr, r.stderr
