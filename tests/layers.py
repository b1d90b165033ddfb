#!/usr/bin/env python3
"""Check which folder may include which (make test-layers).

The rules are the README's layout table (the one whose header row starts
"| folder |" and has a "may include" column), so the README and the code
cannot drift apart: every row names a folder and the folders its files may
#include from (besides their own, and the C library's <...> headers for the
host and test folders).  Each quoted #include is resolved as the compiler
resolves it (first next to the file, then from the repository root), and
angle includes of <kspan/...> count as include/kspan/.  A file whose folder
has no row, or an include that resolves to no file, fails too.

Freestanding layers (lib/, phys/, mm/, arch/x86_64/, boot/, kernel/,
tests/kernel/, examples/) may use only the compiler's freestanding headers
in angle brackets; boot/ alone may include GNU-EFI's <efi.h> and
<efilib.h>.
"""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FREESTANDING = {"stdarg.h", "stddef.h", "stdint.h", "stdbool.h",
                "stdatomic.h", "limits.h", "stdalign.h", "stdnoreturn.h"}
EFI = {"efi.h", "efilib.h"}


def rules():
    text = open(os.path.join(ROOT, "README.md")).read().splitlines()
    rows, cols, on = {}, None, False
    for line in text:
        if not on:
            if line.startswith("| folder |"):
                cols = [c.strip() for c in line.strip("|").split("|")]
                if "may include" not in cols:
                    sys.exit("layers: README's layout table has no 'may include' column")
                on = True
            continue
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        if set(cells[0]) <= set("-: "):
            continue
        folder = cells[0].strip("`")
        allowed = re.findall(r"`([^`]+)`", cells[cols.index("may include")])
        rows[folder.rstrip("/") + "/"] = allowed
    if not rows:
        sys.exit("layers: README.md has no layout table ('| folder | ... | may include |')")
    return rows


def layer_of(path, rows):
    """The longest folder of the table that holds path."""
    best = None
    for folder in rows:
        if path.startswith(folder) and (best is None or len(folder) > len(best)):
            best = folder
    return best


def main():
    rows = rules()
    files = subprocess.check_output(["git", "ls-files", "*.c", "*.h", "*.S"],
                                    cwd=ROOT, text=True).split()
    bad = []
    inc_re = re.compile(r'^\s*#\s*include\s+([<"])([^>"]+)[>"]')
    for f in files:
        if not os.path.exists(os.path.join(ROOT, f)):
            continue
        layer = layer_of(f, rows)
        if layer is None:
            bad.append(f"{f}: its folder has no row in README.md's layout table")
            continue
        allowed = [layer] + rows[layer]
        hosted = layer.startswith("tests/host/") or layer.startswith("tests/fuzz/") or \
            layer.startswith("tests/") and not layer.startswith("tests/kernel/") or \
            layer.startswith("arch/host/") or layer.startswith("shim/") or \
            layer.startswith("bench/")
        for n, line in enumerate(open(os.path.join(ROOT, f), errors="replace"), 1):
            m = inc_re.match(line)
            if not m:
                continue
            kind, name = m.groups()
            if kind == "<":
                if name.startswith("kspan/"):
                    target = "include/kspan/" + name[len("kspan/"):]
                elif name in EFI:
                    if layer != "boot/":
                        bad.append(f"{f}:{n}: <{name}>: only boot/ sees GNU-EFI")
                    continue
                else:
                    if not hosted and name not in FREESTANDING:
                        bad.append(f"{f}:{n}: <{name}> in a freestanding layer ({layer})")
                    continue
            else:
                here = os.path.normpath(os.path.join(os.path.dirname(f), name))
                if os.path.exists(os.path.join(ROOT, here)):
                    target = here
                elif os.path.exists(os.path.join(ROOT, name)):
                    target = os.path.normpath(name)
                else:
                    bad.append(f'{f}:{n}: "{name}" resolves to no file')
                    continue
            if not any(target == a or (a.endswith("/") and target.startswith(a))
                       for a in allowed):
                bad.append(f"{f}:{n}: {layer} may not include {target} "
                           f"(allowed: {', '.join(allowed)})")
    if bad:
        print("layers: FAIL: includes that cross the layers of README.md's table:")
        for b in bad:
            print("  " + b)
        return 1
    print(f"layers: ok: {len(files)} files include only what README.md's layout table allows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
