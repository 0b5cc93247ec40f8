import Foundation
import Glibc
import Telemetry
import Testing

@testable import PlantRegistry

/// The registry cache: a plant served from it is the plant the YAML gives, and a changed,
/// corrupt or unwritable cache never serves anything else.
@Suite("Registry cache")
struct RegistryCacheTests {
    /// A fresh cache directory (not yet created: the first write creates it).
    static func cacheDirectory() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("zhizao-cache-\(UUID().uuidString)").path + "/cache"
    }

    /// A copy of `source` whose files were last modified an hour ago (a plant is cached only
    /// once its files have settled; see `Plant.load(directory:cache:)`).
    static func settledCopy(of source: String) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("zhizao-reg-\(UUID().uuidString)").path
        try FileManager.default.copyItem(atPath: source, toPath: dir)
        try setModified(in: dir, to: Date(timeIntervalSinceNow: -3600))
        return dir
    }

    static func setModified(in dir: String, to date: Date) throws {
        for file in Plant.yamlFiles(in: dir) {
            try FileManager.default.setAttributes([.modificationDate: date], ofItemAtPath: file)
        }
    }

    static func cacheFiles(_ cache: RegistryCache) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: cache.directory)) ?? []).filter { $0.hasSuffix(".json") }
    }

    /// Loads through the cache twice: the first parses (and writes the cache), the second is
    /// served from it; both equal the plant parsed without a cache, derived tables included
    /// (`==` compares every stored property; a dump would not do: a dictionary's printed order
    /// depends on how it was filled).
    func expectCachedEqualsParsed(_ dir: String) throws {
        let cache = RegistryCache(directory: Self.cacheDirectory())
        let parsed = try Plant.load(directory: dir)
        let first = try Plant.load(directory: dir, cache: cache)
        #expect(first.source == .yaml && first.plant == parsed)
        #expect(Self.cacheFiles(cache).count == 1)
        let second = try Plant.load(directory: dir, cache: cache)
        #expect(second.source == .cache)
        #expect(second.plant == parsed)
        // `SeriesKey` equality leaves out the site; the cached plant has it too.
        #expect(second.plant.series.map(\.site) == parsed.series.map(\.site))
        #expect(second.plant.registryDigest == parsed.registryDigest && parsed.registryDigest.count == 64)
    }

    @Test func theExamplePlantFromTheCacheIsThePlantFromTheYAML() throws {
        let dir = try Self.settledCopy(of: Fixtures.shippedDevices)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let plant = try Plant.load(directory: dir)
        // What the derivation rebuilds is there to compare: every decoder's tables.
        #expect(plant.gateways.contains { !$0.sparkplugDevices.isEmpty } && plant.gateways.contains { !$0.neuronDevices.isEmpty })
        #expect(plant.devices.contains { $0.metrics.contains { $0.source != nil } })
        try expectCachedEqualsParsed(dir)
    }

    /// The fixtures set what the example leaves at its defaults (reset and rollover fractions,
    /// expected intervals, units converted to canonical ones, two sites): the cache omits a
    /// metric's default fields and must restore every other one.
    @Test(arguments: ["two-sites", "metering-tree"])
    func aFixtureFromTheCacheIsThePlantFromTheYAML(_ name: String) throws {
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/\(name)").path
        let dir = try Self.settledCopy(of: source)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let metrics = try Plant.load(directory: dir).devices.flatMap(\.metrics)
        if name == "two-sites" {
            #expect(metrics.contains { $0.resetBelow != 0.1 || $0.rolloverMargin != 0.1 || $0.expectedIntervalMs != 900_000 })
        }
        try expectCachedEqualsParsed(dir)
    }

    @Test func aScaledPlantFromTheCacheIsThePlantFromTheYAML() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("zhizao-x3-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try ScaledRegistry(directory: Fixtures.shippedDevices, copies: 3).write(to: dir)
        try Self.setModified(in: dir, to: Date(timeIntervalSinceNow: -3600))
        try expectCachedEqualsParsed(dir)
    }

    @Test func theFixtureWithStatusTopicsAndTemplatesRoundTrips() throws {
        let status = Fixtures.nativeGateway.replacingOccurrences(
            of: "topic: zz/native/#", with: "topic: zz/native/#\nstatus_topic: zz/status/native")
        let dir = try Fixtures.registry(["gateways/native.yaml": status])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Self.setModified(in: dir, to: Date(timeIntervalSinceNow: -3600))
        #expect(try Plant.load(directory: dir).statusTopics.count == 1)
        try expectCachedEqualsParsed(dir)
    }

    /// Every stored property is either encoded or rebuilt by `Plant.init(linking:)`: a property
    /// added without deciding which would silently drop out of cached plants.
    @Test func everyStoredPropertyIsEncodedOrDerived() throws {
        let plant = try Fixtures.plant()
        func labels(_ value: Any) -> Set<String> { Set(Mirror(reflecting: value).children.compactMap(\.label)) }
        func keys<K: CodingKey & CaseIterable>(_: K.Type) -> Set<String> { Set(K.allCases.map(\.stringValue)) }
        #expect(labels(plant) == keys(Plant.CodingKeys.self).union(["series", "deviceByID", "binding", "statusTopics"]))
        #expect(labels(plant.gateways[0]) == keys(Gateway.CodingKeys.self).union(["neuronDevices", "sparkplugDevices", "deviceIndices"]))
        #expect(labels(plant.devices[0]) == keys(Device.CodingKeys.self).union(["metricBySource"]))
        #expect(labels(plant.devices[0].metrics[0]) == keys(Metric.CodingKeys.self).union(["series"]))
    }

    @Test func aChangedFileIsParsedAgain() throws {
        let dir = try Self.settledCopy(of: try Fixtures.registry())
        let cache = RegistryCache(directory: Self.cacheDirectory())
        _ = try Plant.load(directory: dir, cache: cache)
        #expect(try Plant.load(directory: dir, cache: cache).source == .cache)
        let file = dir + "/plant.yaml"
        let text = try String(contentsOfFile: file, encoding: .utf8)
        // Longer content, an hour-old time as before.
        try text.replacingOccurrences(of: "name: Test site", with: "name: Test site two").write(
            toFile: file, atomically: true, encoding: .utf8)
        try Self.setModified(in: dir, to: Date(timeIntervalSinceNow: -3600))
        var loaded = try Plant.load(directory: dir, cache: cache)
        #expect(loaded.source == .yaml && loaded.plant.sites[0].name == "Test site two")
        #expect(try Plant.load(directory: dir, cache: cache).plant.sites[0].name == "Test site two")
        // The same size, another time: still seen.
        try text.replacingOccurrences(of: "name: Test site", with: "name: Test zite").write(toFile: file, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -1800)], ofItemAtPath: file)
        loaded = try Plant.load(directory: dir, cache: cache)
        #expect(loaded.source == .yaml && loaded.plant.sites[0].name == "Test zite")
        #expect(loaded.plant == (try Plant.load(directory: dir)))
    }

    @Test func anAddedOrRemovedFileIsParsedAgain() throws {
        let dir = try Self.settledCopy(of: try Fixtures.registry())
        let cache = RegistryCache(directory: Self.cacheDirectory())
        _ = try Plant.load(directory: dir, cache: cache)
        try FileManager.default.removeItem(atPath: dir + "/gateways/plain.yaml")
        let loaded = try Plant.load(directory: dir, cache: cache)
        #expect(loaded.source == .yaml && !loaded.plant.gateways.contains { $0.id == "gw-plain" })
    }

    @Test func filesChangedJustBeforeTheLoadAreNotCached() throws {
        let dir = try Self.settledCopy(of: try Fixtures.registry())
        let cache = RegistryCache(directory: Self.cacheDirectory())
        // A modification time not older than the load: a rewrite within the same timestamp
        // tick would keep it, so the plant read now must not be served later.
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: 3600)], ofItemAtPath: dir + "/plant.yaml")
        #expect(try Plant.load(directory: dir, cache: cache).source == .yaml)
        #expect(Self.cacheFiles(cache).isEmpty)
        #expect(try Plant.load(directory: dir, cache: cache).source == .yaml)
    }

    @Test func aCorruptCacheFileIsIgnoredAndRewritten() throws {
        let dir = try Self.settledCopy(of: try Fixtures.registry())
        let cache = RegistryCache(directory: Self.cacheDirectory())
        let parsed = try Plant.load(directory: dir, cache: cache).plant
        let name = try #require(Self.cacheFiles(cache).first)
        let path = cache.directory + "/" + name
        let good = try Data(contentsOf: URL(fileURLWithPath: path))
        for bad in [Data("{\"format\": 1, \"plant\": ".utf8), Data(good.prefix(good.count / 2)), Data([0xff, 0x00, 0x7b])] {
            try bad.write(to: URL(fileURLWithPath: path))
            let loaded = try Plant.load(directory: dir, cache: cache)
            #expect(loaded.source == .yaml && loaded.plant == parsed)
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)).count == good.count, "rewritten")
            #expect(try Plant.load(directory: dir, cache: cache).source == .cache)
        }
        // Rewritten through JSONSerialization as it is: still served (the control for what follows).
        var bumped = try #require(try JSONSerialization.jsonObject(with: good) as? [String: Any])
        try JSONSerialization.data(withJSONObject: bumped).write(to: URL(fileURLWithPath: path))
        #expect(try Plant.load(directory: dir, cache: cache).source == .cache)
        // Another format's file, well formed: ignored.
        bumped["format"] = RegistryCache.format + 1
        try JSONSerialization.data(withJSONObject: bumped).write(to: URL(fileURLWithPath: path))
        #expect(try Plant.load(directory: dir, cache: cache).source == .yaml)
        // Written by another build in this format: ignored too.
        bumped["format"] = RegistryCache.format
        bumped["build"] = "1-2.3"
        try JSONSerialization.data(withJSONObject: bumped).write(to: URL(fileURLWithPath: path))
        #expect(try Plant.load(directory: dir, cache: cache).source == .yaml)
        // A device naming a gateway the plant does not have: a decoding error, not a trap.
        var plant = try #require(bumped["plant"] as? [String: Any])
        #expect(try JSONDecoder().decode(Plant.self, from: JSONSerialization.data(withJSONObject: plant)) == parsed)
        var devices = try #require(plant["devices"] as? [[String: Any]])
        devices[0]["gateway"] = 99
        plant["devices"] = devices
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(Plant.self, from: JSONSerialization.data(withJSONObject: plant)) }
    }

    @Test func aCacheFileOthersCanWriteIsNotTrusted() throws {
        let dir = try Self.settledCopy(of: try Fixtures.registry())
        let cache = RegistryCache(directory: Self.cacheDirectory())
        _ = try Plant.load(directory: dir, cache: cache)
        let path = cache.directory + "/" + (try #require(Self.cacheFiles(cache).first))
        var st = stat()
        #expect(stat(path, &st) == 0 && st.st_mode & 0o777 == 0o600)
        #expect(stat(cache.directory, &st) == 0 && st.st_mode & 0o777 == 0o700)
        #expect(chmod(path, 0o666) == 0)
        #expect(try Plant.load(directory: dir, cache: cache).source == .yaml)
    }

    @Test func anUnwritableCacheDirectoryStillLoads() throws {
        let dir = try Self.settledCopy(of: try Fixtures.registry())
        // Below a regular file no directory can be made, whoever runs the test.
        let blocker = FileManager.default.temporaryDirectory.appendingPathComponent("zhizao-blocker-\(UUID().uuidString)").path
        #expect(FileManager.default.createFile(atPath: blocker, contents: Data()))
        defer { try? FileManager.default.removeItem(atPath: blocker) }
        let cache = RegistryCache(directory: blocker + "/cache")
        let parsed = try Plant.load(directory: dir)
        for _ in 0..<2 {
            let loaded = try Plant.load(directory: dir, cache: cache)
            #expect(loaded.source == .yaml && loaded.plant == parsed)
        }
    }

    @Test func aRegistryWithProblemsIsNotCachedAndReportsThem() throws {
        let bad = Fixtures.nativeGateway.replacingOccurrences(of: "process: turning", with: "process: turnin")
        let dir = try Self.settledCopy(of: try Fixtures.registry(["gateways/native.yaml": bad]))
        let cache = RegistryCache(directory: Self.cacheDirectory())
        let expected = Plant.loadReporting(directory: dir).1
        #expect(!expected.isEmpty && expected.allSatisfy { $0.line > 0 })
        for _ in 0..<2 {
            #expect(throws: RegistryError.self) { try Plant.load(directory: dir, cache: cache) }
            do { _ = try Plant.load(directory: dir, cache: cache) } catch { #expect(error.problems == expected) }
        }
        #expect(Self.cacheFiles(cache).isEmpty)
    }

    @Test func theCacheDirectoryComesFromTheEnvironmentInOrder() {
        let all = [
            "ZHIZAO_CACHE_DIR": "/z", "CACHE_DIRECTORY": "/var/cache/zhizao:/var/cache/other", "XDG_CACHE_HOME": "/x",
            "HOME": "/home/u",
        ]
        #expect(RegistryCache.fromEnvironment(all)?.directory == "/z")
        var env = all
        env["ZHIZAO_CACHE_DIR"] = ""
        #expect(RegistryCache.fromEnvironment(env)?.directory == "/var/cache/zhizao")
        env["CACHE_DIRECTORY"] = nil
        #expect(RegistryCache.fromEnvironment(env)?.directory == "/x/zhizao")
        env["XDG_CACHE_HOME"] = "relative"
        #expect(RegistryCache.fromEnvironment(env)?.directory == "/home/u/.cache/zhizao")
        env["HOME"] = nil
        #expect(RegistryCache.fromEnvironment(env) == nil)
    }
}
