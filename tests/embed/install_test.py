"""`cmake --install` into a fresh prefix, then the embedding examples built as separate
CMake projects with find_package(loom) against that prefix, run, and compared with the
installed `loom run`.

Usage: install_test.py CMAKE GENERATOR BUILD_DIR SOURCE_DIR WORKDIR
"""
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_example  # noqa: E402


def main(cmake, generator, build, src, work):
    shutil.rmtree(work, ignore_errors=True)
    prefix = os.path.join(work, "prefix")
    check_example.run([cmake, "--install", build, "--prefix", prefix])
    for f in ["include/loom/loom.h", "include/loom/loom_c.h", "bin/loom", "lib/libloom.so",
              "lib/cmake/loom/loomConfig.cmake", "lib/cmake/loom/loomConfigVersion.cmake"]:
        if not os.path.exists(os.path.join(prefix, f)):
            sys.exit(f"not installed: {f}")
    loom = os.path.join(prefix, "bin", "loom")
    model = os.path.join(src, "examples", "shapes", "simple_rnn.loom")
    for ex in ["embed-cpp", "embed-c"]:
        exe_dir = os.path.join(work, ex)
        # A sanitized loom needs sanitized hosts (the runtime must come first).
        san = os.environ.get("LOOM_SANITIZE_CFLAGS", "")
        flags = [f"-DCMAKE_{v}_FLAGS={san}" for v in ("C", "CXX", "EXE_LINKER")] if san else []
        check_example.run([cmake, "-S", os.path.join(src, "examples", ex), "-B", exe_dir,
                           "-G", generator, "-DCMAKE_BUILD_TYPE=Release",
                           "-DCMAKE_PREFIX_PATH=" + prefix, *flags])
        check_example.run([cmake, "--build", exe_dir])
        exe = os.path.join(exe_dir, ex)
        # The installed library, not the build tree's, is the one the program loads.
        libs = check_example.run(["ldd", exe])
        if os.path.join(prefix, "lib", "libloom.so") not in libs:
            sys.exit(f"{ex} does not load the installed libloom.so:\n{libs}")
        check_example.check(loom, exe, os.path.join(work, "run-" + ex), [model])
    print("installed loom: both examples build with find_package(loom) and match loom run")


if __name__ == "__main__":
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    main(*sys.argv[1:])
