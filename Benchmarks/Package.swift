// swift-tools-version:6.1
// Microbenchmarks of the hot functions, with allocation counts (ordo-one/benchmark).
// A separate package so the main build and CI do not compile the benchmark toolchain.
//   cd Benchmarks && swift package benchmark
import PackageDescription

let package = Package(
    name: "SwitchyardBenchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "switchyard", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "HotPath",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "SwitchyardCore", package: "switchyard"),
                .product(name: "WireFormats", package: "switchyard"),
                .product(name: "Routing", package: "switchyard"),
            ],
            path: "Benchmarks/HotPath",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        )
    ]
)
