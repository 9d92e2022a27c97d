import os
import lit.formats

config.name = "loom"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".loom", ".lir", ".test"]
config.test_source_root = os.path.join(config.loom_src, "tests")
config.test_exec_root = os.path.join(config.loom_build, "tests", "lit-out")
config.excludes = ["unit", "fixtures", "CMakeLists.txt", "inputs"]
config.environment["PATH"] = os.pathsep.join(
    [config.loom_bin, "/usr/lib/llvm-19/bin", config.environment.get("PATH", "/usr/bin:/bin")])
config.substitutions.append(("%loom_src", config.loom_src))
config.substitutions.append(("%python", config.python))
config.substitutions.append(("%loom_build", config.loom_build))
config.substitutions.append(("%cc", getattr(config, "cc", "cc")))
# What a program that links an AOT object needs: the shared runtime and oneDNN.
config.substitutions.append(("%aot_libs", "-L{0}/runtime -Wl,-rpath,{0}/runtime -lloom_runtime "
                             "-ldnnl".format(config.loom_build)))
# tests/lit/aot links programs against the AOT examples' build products; ctest runs it as
# its own test (aot_lit, tests/aot.cmake: lit --param aot=1).
if "aot" not in lit_config.params:
    config.excludes.append("aot")
# Tests of the AVX-512 path run where the host has it; elsewhere their counterparts check
# that it is refused by name.
try:
    with open("/proc/cpuinfo") as f:
        if " avx512bw" in f.read():
            config.available_features.add("avx512")
except OSError:
    pass
