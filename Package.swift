// swift-tools-version: 6.1
import PackageDescription

// Linux only: the daemon speaks to systemd, polls sockets through Glibc and is tested on Debian;
// no Apple platform is claimed because none is built or tested.
let package = Package(
    name: "zhizao",
    products: [
        .executable(name: "zhizao", targets: ["zhizao"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        // libmosquitto, the MQTT client library; only MQTTClient imports it.
        .systemLibrary(
            name: "CMosquitto",
            pkgConfig: "libmosquitto",
            providers: [.apt(["libmosquitto-dev"])]
        ),
        // A Swift face on libmosquitto with an external, caller-driven loop.
        .target(name: "MQTTClient", dependencies: ["CMosquitto"]),
        // libpq, PostgreSQL's client library; only PostgresClient imports it.
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),
        // A small synchronous Swift face on libpq: connect, run statements, classify errors.
        .target(name: "PostgresClient", dependencies: ["CLibPQ"]),
        // Readings, timestamps and rejection reasons shared by decoders and store.
        .target(name: "Telemetry"),
        // The plant model and device profiles loaded and validated from `Devices/`.
        .target(name: "PlantRegistry", dependencies: ["Telemetry", "Yams"]),
        // Payload bytes + topic + profile -> readings or rejections.
        .target(name: "PayloadDecoders", dependencies: ["Telemetry", "PlantRegistry", "Sparkplug"]),
        // Counter, gauge and state semantics, windows in site time, rollup changes, indicator formulas.
        .target(name: "Aggregation", dependencies: ["Telemetry", "PlantRegistry"]),
        // Durable storage of readings, rollups, quarantine and counters (SQLite through GRDB, or PostgreSQL).
        .target(
            name: "ReadingStore",
            dependencies: [
                "Telemetry", "PlantRegistry", "Aggregation", "PostgresClient",
                .product(name: "GRDB", package: "GRDB.swift"),
            ]),
        // Indicator rows per scope and window (shifts, OEE, value added, baselines) read from the stored totals.
        .target(name: "Reporting", dependencies: ["Aggregation", "PlantRegistry", "ReadingStore", "Telemetry"]),
        // Sparkplug B payloads (protobuf code generated from Schemas/sparkplug_b.proto, committed)
        // and topics; the primary-host session builds on it.
        .target(name: "Sparkplug", dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        // `zhizao simulate`: the example plant played through the broker by simulated gateways.
        .target(name: "GatewaySimulator", dependencies: ["MQTTClient", "PlantRegistry", "Telemetry", "Sparkplug"]),
        // The ingest loop and the `zhizao run` service.
        .target(
            name: "IngestDaemon",
            dependencies: [
                "MQTTClient", "Telemetry", "PlantRegistry", "PayloadDecoders", "ReadingStore", "Aggregation",
                "Yams",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]),
        // The `zhizao` commands.
        .target(
            name: "ZhizaoCLI",
            dependencies: [
                "IngestDaemon", "PlantRegistry", "ReadingStore", "Telemetry", "GatewaySimulator", "MQTTClient", "Aggregation",
                "Reporting", "Sparkplug",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .executableTarget(name: "zhizao", dependencies: ["ZhizaoCLI"]),
        .testTarget(
            name: "UnitTests",
            dependencies: [
                "Telemetry", "PlantRegistry", "PayloadDecoders", "ReadingStore", "IngestDaemon", "MQTTClient",
                "GatewaySimulator", "Aggregation", "Sparkplug", "Reporting", "ZhizaoCLI",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "InMemoryLogging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "Telemetry", "ReadingStore", "MQTTClient", "Aggregation", "PlantRegistry", "GatewaySimulator", "Sparkplug",
                "PostgresClient",
            ]),
    ]
)

// Micro-benchmarks of the hot path (ordo-one/benchmark), only when asked for, so the product's
// build and CI never resolve or compile the benchmark harness:
//   ZHIZAO_BENCHMARKS=1 swift package benchmark
if Context.environment["ZHIZAO_BENCHMARKS"] != nil {
    package.dependencies.append(
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]))
    package.targets.append(
        .executableTarget(
            name: "HotPathBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "GRDB", package: "GRDB.swift"),
                "Telemetry", "PlantRegistry", "PayloadDecoders", "ReadingStore", "Aggregation",
            ],
            path: "Benchmarks/HotPathBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]))
}

for target in package.targets where target.type != .system {
    var settings = target.swiftSettings ?? []
    settings.append(contentsOf: [
        .swiftLanguageMode(.v6),
        .enableUpcomingFeature("ExistentialAny"),
        .enableUpcomingFeature("MemberImportVisibility"),
    ])
    target.swiftSettings = settings
}
