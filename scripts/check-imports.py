#!/usr/bin/env python3
"""Each target imports exactly what Package.swift declares for it (issue 18): no undeclared
import, no declared dependency left unused. Reads Package.swift as text: a target's name, its
path (Sources/NAME or Tests/NAME unless `path:` says otherwise) and the names in its
`dependencies:` list (a product's `name:`). Run by scripts/test.sh."""
import pathlib, re, sys

root = pathlib.Path(__file__).resolve().parent.parent
package = (root / "Package.swift").read_text()
# Modules every target may import without declaring them: the toolchain's own.
implicit = {"Foundation", "FoundationEssentials", "Dispatch", "Glibc", "Synchronization", "Testing", "XCTest",
            "_Concurrency", "os", "Darwin", "Musl"}

failures = []
package = re.sub(r"//[^\n]*", "", package)
# Split the targets array into entries by the leading ".target(" / ".testTarget(" / ".executableTarget(" markers.
entries = re.split(r"\n        (?=\.(?:target|testTarget|executableTarget|systemLibrary)\()", package)
for entry in entries:
    head = re.match(r"\.(target|testTarget|executableTarget)\(\s*name:\s*\"([^\"]+)\"", entry)
    if not head:
        continue
    kind, name = head.groups()
    path_match = re.search(r"path:\s*\"([^\"]+)\"", entry)
    directory = root / (path_match.group(1) if path_match else ("Tests/" if kind == "testTarget" else "Sources/") + name)
    deps_match = re.search(r"dependencies:\s*\[([^\]]*)\]", entry)
    declared = set()
    if deps_match:
        text = deps_match.group(1)
        declared |= set(re.findall(r"\.product\(name:\s*\"([^\"]+)\"", text))
        text = re.sub(r"\.product\([^)]*\)", "", text)
        declared |= set(re.findall(r"\"([^\"]+)\"", text))
    imported = set()
    for source in directory.rglob("*.swift"):
        for line in source.read_text().splitlines():
            found = re.match(r"\s*(?:@testable\s+|@_exported\s+|public\s+|internal\s+|package\s+)?import\s+(?:struct\s+|class\s+|enum\s+|func\s+)?([A-Za-z_][A-Za-z0-9_]*)", line)
            if found:
                imported.add(found.group(1))
    imported -= implicit
    imported.discard(name)
    undeclared = imported - declared
    unused = declared - imported
    if undeclared:
        failures.append(f"{name}: imports {sorted(undeclared)} without declaring them")
    if unused:
        failures.append(f"{name}: declares {sorted(unused)} but imports none of them")

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("imports match Package.swift")
