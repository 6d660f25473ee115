#!/usr/bin/env python3
"""Lists the panic sites left in a linked no_std program.

A panic site is a call into a core function from which the panic handler is reachable (e.g.
`core::panicking::panic_bounds_check`), made from code that is not itself such a function. Each
is reported with the source line the call was inlined from (the innermost frame in this
repository's code). Reads the disassembly of ELF (llvm-objdump) and its line tables
(llvm-addr2line). Exit status 0; the count is the last line: `panic sites: N`.

Usage: panic_sites.py ELF [REPO_ROOT]
"""
import collections
import re
import subprocess
import sys

elf = sys.argv[1]
root = sys.argv[2] if len(sys.argv) > 2 else "/"

dis = subprocess.run(
    ["llvm-objdump", "-d", "-C", "--no-show-raw-insn", elf],
    check=True, capture_output=True, text=True).stdout

func_re = re.compile(r"^([0-9a-f]+) <(.*)>:$")
call_re = re.compile(r"^\s*([0-9a-f]+):\s+(bl|blx|b|b\.w|bne|beq|b\.n|bhi|bls|bhs|blo|bcs|bcc|bge|blt|bgt|ble|bmi|bpl|bvs|bvc)(\.w|\.n)?\s+0x[0-9a-f]+ <(.*?)(\+0x[0-9a-f]+)?>")
calls = []  # (caller, address, callee)
func = None
for line in dis.splitlines():
    m = func_re.match(line)
    if m:
        func = m.group(2)
        continue
    m = call_re.match(line)
    if m and func is not None:
        callee = m.group(4)
        if callee != func:
            calls.append((func, int(m.group(1), 16), callee))

callers = collections.defaultdict(set)
for caller, _, callee in calls:
    callers[callee].add(caller)

# Everything from which the panic handler is reachable: every panic goes through `panic_fmt`
# (which the handler is usually inlined into) or calls `rust_begin_unwind` itself.
ROOTS = {"rust_begin_unwind", "core::panicking::panic_fmt", "core::panicking::panic_nounwind_fmt"}
roots = {f for f in callers if f in ROOTS}
reach = set(roots)
todo = list(roots)
while todo:
    f = todo.pop()
    for c in callers.get(f, ()):
        if c not in reach:
            reach.add(c)
            todo.append(c)


def is_panic_entry(f):
    return f in reach and (f.startswith("core::") or f in roots)


sites = [(a, caller, callee) for caller, a, callee in calls
         if is_panic_entry(callee) and not is_panic_entry(caller)]


def location(addr):
    out = subprocess.run(
        ["llvm-addr2line", "-f", "-i", "-C", "-e", elf, hex(addr)],
        check=True, capture_output=True, text=True).stdout.splitlines()
    frames = list(zip(out[0::2], out[1::2]))
    ours = [f for f in frames if f[1].startswith(root) and "/rustc/" not in f[1]]
    fn_name, loc = (ours or frames or [("?", "?")])[0]
    return loc.replace(root.rstrip("/") + "/", ""), fn_name


by_loc = collections.Counter()
for addr, caller, callee in sites:
    loc, fn_name = location(addr)
    kind = callee.split("::")[-1]
    by_loc[(loc, kind)] += 1

for (loc, kind), n in sorted(by_loc.items()):
    print(f"{loc}: {kind}" + (f" (x{n})" if n > 1 else ""))
files = collections.Counter()
for (loc, _), n in by_loc.items():
    files[loc.split(":")[0]] += n
print("by file:")
for f, n in files.most_common():
    print(f"  {n:4} {f}")
print(f"panic sites: {len(sites)}")
