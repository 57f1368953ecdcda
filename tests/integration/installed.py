"""ttops as users get it: the build installed with `cmake --install` into a temporary prefix, so
tests run the installed files (bin/ttops, bin/kubectl-ttops, the man page, the completion scripts,
share/ttops/runbooks) rather than the build tree.

    prefix = install_tree(directory)
    bin_dir(prefix), installed(prefix, "share/man/man1/ttops.1")

Environment (ctest sets them): TTOPS_BUILD_DIR, TTOPS_CMAKE, TTOPS_SANITIZE.
"""
import os
import shutil
import subprocess

from harness import STATE_DIR, TTOPS

BUILD_DIR = os.environ.get("TTOPS_BUILD_DIR") or os.path.dirname(os.path.dirname(TTOPS))
CMAKE = os.environ.get("TTOPS_CMAKE") or shutil.which("cmake") or "cmake"
SANITIZE = os.environ.get("TTOPS_SANITIZE", "")


def install_tree(directory):
    """`cmake --install` of the build into `directory`/prefix; returns the prefix."""
    prefix = os.path.join(directory, "prefix")
    proc = subprocess.run([CMAKE, "--install", BUILD_DIR, "--prefix", prefix], capture_output=True, text=True,
                          timeout=300)
    if proc.returncode != 0:
        raise AssertionError(f"cmake --install failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return prefix


def bin_dir(prefix):
    return os.path.join(prefix, "bin")


def installed(prefix, relative):
    return os.path.join(prefix, relative)


def clean_env(extra=None, path_first=None):
    """The environment of a user who has not pointed ttops anywhere: no TTOPS_* variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TTOPS_")}
    env["NO_COLOR"] = "1"
    # Journals, the audit log and the library cache of test runs go to the throwaway state directory.
    env["TTOPS_STATE_DIR"] = STATE_DIR
    env["TTOPS_CACHE_DIR"] = os.path.join(STATE_DIR, "cache")
    if path_first:
        env["PATH"] = path_first + os.pathsep + env.get("PATH", "")
    env.update(extra or {})
    return env
