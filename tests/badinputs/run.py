"""Runs the bad-input catalogue (cases.py): each case's command must exit with its status,
print its message on stderr, and leave none of its outputs behind.

Usage: run.py LOOM SOURCE_DIR WORK_DIR CAPI_HOST AOT_HOST [--record] | run.py --list
--record prints what each case actually gives (for writing a new case's expectation).
The hosts (capi_call.c, aot_call.c) run the cases whose command starts with {capi} or {aot}.
"""
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cases  # noqa: E402


def table():
    print("| # | case | kind | exit | message (contains) |")
    print("|---|---|---|---|---|")
    for i, c in enumerate(cases.CASES, 1):
        msg = c["err"].replace("|", "\\|").replace("{d}/", "")
        print(f"| {i} | `{c['name']}` | {c['kind']} | {c['exit']} | `{msg}` |")


def main():
    if sys.argv[1:] == ["--list"]:
        return table()
    loom, src, work, capi, aot = sys.argv[1:6]
    record = "--record" in sys.argv
    shutil.rmtree(work, ignore_errors=True)
    fx = os.path.join(work, "fixtures")
    os.makedirs(fx)
    subprocess.check_call([loom, "init", f"{src}/examples/shapes/simple_rnn.loom", "-o",
                           f"{fx}/w.npz", "--seed", "1"], stdout=subprocess.DEVNULL)
    cases.np.save(f"{fx}/x.npy", cases.X)
    failed = []
    for c in cases.CASES:
        d = os.path.join(work, c["name"])
        os.makedirs(d)
        sub = lambda s: s.replace("{d}", d).replace("{src}", src).replace("{fx}", fx)  # noqa: E731
        for name, content in c["files"].items():
            path = os.path.join(d, name)
            if callable(content):
                content(path)
            elif isinstance(content, str) and content.startswith("@init "):
                subprocess.check_call([loom, "init", sub(content[6:]), "-o", path],
                                      stdout=subprocess.DEVNULL)
            else:
                with open(path, "wb") as f:
                    f.write(content.encode() if isinstance(content, str) else content)
        hosts = {"{capi}": capi, "{aot}": aot}
        argv = c["argv"]
        argv = [hosts[argv[0]]] + argv[1:] if argv and argv[0] in hosts else [loom] + argv
        argv = [sub(a) for a in argv]
        try:
            p = subprocess.run(argv, capture_output=True, timeout=60)
            rc, err = p.returncode, p.stderr.decode(errors="replace")
        except subprocess.TimeoutExpired:
            rc, err = "timeout", ""
        want = sub(c["err"])
        left = [a for a in c["absent"] if os.path.exists(os.path.join(d, a))]
        problems = []
        if rc != c["exit"]:
            problems.append(f"exit {rc}, expected {c['exit']}")
        if want not in err:
            problems.append(f"stderr lacks {want!r}")
        if left:
            problems.append(f"left behind {left}")
        if record:
            print(f"--- {c['name']}: exit {rc}\n{err.rstrip()}")
        if problems:
            failed.append(c["name"])
            print(f"FAIL {c['name']}: {'; '.join(problems)}\n  command: {' '.join(argv)}\n"
                  f"  stderr: {err.strip()[:2000]}")
    print(f"badinputs: {len(cases.CASES) - len(failed)} of {len(cases.CASES)} cases pass")
    if failed:
        sys.exit(1)


main()
