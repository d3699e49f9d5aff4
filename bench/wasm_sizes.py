#!/usr/bin/env python3
"""What takes the space in a wasm file: section sizes, and code size per crate (from the name
section's function names). Usage: python3 bench/wasm_sizes.py build/index_bg.wasm [top]"""
import re
import sys
from collections import Counter


def leb(data, i):
    result = shift = 0
    while True:
        b = data[i]
        i += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return result, i


def sections(data):
    i = 8
    while i < len(data):
        sid = data[i]
        size, j = leb(data, i + 1)
        yield sid, data[j:j + size]
        i = j + size


def names(payload):
    name_len, i = leb(payload, 0)
    if payload[i:i + name_len] != b"name":
        return None
    i += name_len
    out = {}
    while i < len(payload):
        sub = payload[i]
        size, j = leb(payload, i + 1)
        if sub == 1:
            count, k = leb(payload, j)
            for _ in range(count):
                idx, k = leb(payload, k)
                n, k = leb(payload, k)
                out[idx] = payload[k:k + n].decode("utf-8", "replace")
                k += n
        i = j + size
    return out


def crate_of(name):
    name = re.sub(r"^<", "", name)
    m = re.match(r"([A-Za-z_][A-Za-z0-9_]*)", name)
    return m.group(1) if m else "?"


def main():
    data = open(sys.argv[1], "rb").read()
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 25
    kinds = {0: "custom", 1: "type", 2: "import", 3: "function", 5: "memory", 6: "global", 7: "export",
             9: "element", 10: "code", 11: "data", 12: "datacount", 13: "tag"}
    code = None
    func_names = {}
    imported = 0
    print(f"total {len(data)} bytes")
    for sid, payload in sections(data):
        label = kinds.get(sid, str(sid))
        if sid == 0:
            n, i = leb(payload, 0)
            label += " " + payload[i:i + n].decode("utf-8", "replace")
            func_names = names(payload) or func_names
        if sid == 2:
            count, i = leb(payload, 0)
            for _ in range(count):
                for _ in range(2):
                    n, i = leb(payload, i)
                    i += n
                kind = payload[i]
                i += 1
                if kind == 0:
                    imported += 1
                    _, i = leb(payload, i)
                elif kind == 1:
                    i += 1
                    flags, i = leb(payload, i)
                    _, i = leb(payload, i)
                    if flags & 1:
                        _, i = leb(payload, i)
                elif kind == 2:
                    flags, i = leb(payload, i)
                    _, i = leb(payload, i)
                    if flags & 1:
                        _, i = leb(payload, i)
                elif kind == 3:
                    i += 2
                elif kind == 4:
                    i += 1
                    _, i = leb(payload, i)
        if sid == 10:
            code = payload
        print(f"  {label:<28} {len(payload):>9}")
    if code is None:
        return
    count, i = leb(code, 0)
    by_crate = Counter()
    sizes = []
    for f in range(count):
        size, j = leb(code, i)
        name = func_names.get(imported + f, f"func{imported + f}")
        by_crate[crate_of(name)] += size
        sizes.append((size, name))
        i = j + size
    print("code by crate (from function names):")
    for crate, size in by_crate.most_common(top):
        print(f"  {size:>9}  {crate}")
    print("largest functions:")
    for size, name in sorted(sizes, reverse=True)[:top]:
        print(f"  {size:>9}  {name[:110]}")


main()
