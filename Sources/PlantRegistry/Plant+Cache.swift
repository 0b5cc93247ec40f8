import Foundation
import Glibc

/// Where the registry cache keeps its files: a loaded `Plant` per registry directory, so a
/// command at a large plant does not parse the YAML again while the files are unchanged.
///
/// Parsing is most of a short command's time at 40 times the example plant (about 150 ms of
/// CPU: Yams composing nodes, reading fields, the cross-checks); decoding the plant from JSON
/// is a fraction of that. The cache is only ever an accelerator: a missing, unreadable,
/// corrupt, older-format or mismatched file is ignored and the YAML parsed (then the file
/// rewritten); a directory that cannot be written just means no cache; a registry with
/// problems is never cached, so its problems print exactly as without a cache. Deleting the
/// directory at any time is safe.
public struct RegistryCache: Sendable {
    /// The directory of the cache files (created 0700 when first written).
    public var directory: String

    /// The layout of a cache file; bump it whenever anything `Plant` encodes changes, so a file
    /// written by another zhizao build is never misread (it sits under another name, too).
    static let format = 2

    /// How old (seconds) every registry file must be before its plant is cached; see `load`.
    static let settleSeconds: Int64 = 3

    public init(directory: String) { self.directory = directory }

    /// The running executable's size and modification time: a plant another build parsed is
    /// not served, even in the same format, since what the parser derives or accepts may have
    /// changed with it.
    static let build: String = {
        var st = stat()
        guard stat("/proc/self/exe", &st) == 0 else { return "" }
        return "\(st.st_size)-\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)"
    }()

    /// The cache of a command: `ZHIZAO_CACHE_DIR`, else systemd's `CACHE_DIRECTORY` (its first
    /// entry), else `$XDG_CACHE_HOME/zhizao`, else `$HOME/.cache/zhizao`; nil when none is set.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> RegistryCache? {
        func value(_ key: String) -> String? { environment[key].flatMap { $0.isEmpty ? nil : $0 } }
        if let dir = value("ZHIZAO_CACHE_DIR") { return RegistryCache(directory: dir) }
        if let dirs = value("CACHE_DIRECTORY"), let first = dirs.split(separator: ":").first {
            return RegistryCache(directory: String(first))
        }
        // The XDG base directory specification ignores a relative XDG_CACHE_HOME.
        if let xdg = value("XDG_CACHE_HOME"), xdg.hasPrefix("/") { return RegistryCache(directory: xdg + "/zhizao") }
        if let home = value("HOME") { return RegistryCache(directory: home + "/.cache/zhizao") }
        return nil
    }

    /// The cache file of a registry directory: named by the directory as given and as resolved
    /// (a plant's file names are the given spelling, which messages print).
    func file(registry: String, resolved: String) -> String {
        var digest = SHA256()
        digest.update(Array(resolved.utf8) + [0] + Array(registry.utf8))
        return directory + "/registry-v\(Self.format)-\(digest.finalizeHex().prefix(32)).json"
    }
}

/// Where a loaded registry came from.
public enum RegistrySource: Sendable, Equatable {
    case cache
    case yaml
}

/// One registry file as the cache key sees it: name, size and modification time.
struct RegistryFileStamp: Codable, Equatable {
    /// Relative to the registry directory.
    var path: String
    var size: Int64
    /// Nanoseconds since the epoch.
    var modifiedNs: Int64

    /// Every `*.yaml` file of the registry (the files `Plant.load` reads), in load order; nil
    /// when one cannot be examined.
    static func all(in directory: String) -> [RegistryFileStamp]? {
        var out: [RegistryFileStamp] = []
        for path in Plant.yamlFiles(in: directory) {
            var st = stat()
            guard stat(path, &st) == 0 else { return nil }
            out.append(
                RegistryFileStamp(
                    path: String(path.dropFirst(directory.count)), size: Int64(st.st_size),
                    modifiedNs: Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)))
        }
        return out
    }
}

/// A cache file's content.
struct RegistryCacheFile: Codable {
    var format: Int
    /// The zhizao binary that wrote it (`RegistryCache.build`).
    var build: String
    /// The registry directory as given and as resolved.
    var registry: String
    var resolved: String
    var files: [RegistryFileStamp]
    var plant: Plant
}

extension Plant {
    /// Loads the registry in `directory` from `cache` when its files are unchanged since the
    /// cache was written, else parses and validates the YAML (`load(directory:)`) and caches the
    /// result; says which happened. Throws exactly as `load(directory:)` does.
    ///
    /// The key is each file's relative name, size and modification time in nanoseconds (as
    /// git's index and make decide what changed), not the content digest: reading the 600 KB of
    /// YAML at 40 times the example plant and hashing it with this module's SHA-256 costs
    /// 4-7 ms, the stat calls 0.1 ms. The digest is kept in the cached plant
    /// (`registryDigest`). A file rewritten within the timestamp granularity of its previous
    /// write keeps its time (git's "racily clean" entries), so a plant is cached only when every
    /// file was last modified `settleSeconds` before the load began: any later change then
    /// carries a newer time. A change that restores size and time (`touch -r`) goes unseen, as
    /// by make; `zhizao devices validate` always parses.
    public static func load(directory: String, cache: RegistryCache?) throws(RegistryError) -> (plant: Plant, source: RegistrySource) {
        let started = wallClockNs()
        guard let cache,
            let resolved = realpath(directory, nil).map({ p in
                defer { free(p) }
                return String(cString: p)
            }),
            let stamps = RegistryFileStamp.all(in: directory), !stamps.isEmpty
        else { return (try load(directory: directory), .yaml) }
        let file = cache.file(registry: directory, resolved: resolved)
        if let cached = cache.read(file), cached.format == RegistryCache.format, cached.build == RegistryCache.build,
            cached.registry == directory, cached.resolved == resolved, cached.files == stamps
        {
            return (cached.plant, .cache)
        }
        let plant = try load(directory: directory)
        let settled = started - RegistryCache.settleSeconds * 1_000_000_000
        if stamps.allSatisfy({ $0.modifiedNs < settled }), RegistryFileStamp.all(in: directory) == stamps {
            cache.write(
                RegistryCacheFile(
                    format: RegistryCache.format, build: RegistryCache.build, registry: directory, resolved: resolved, files: stamps,
                    plant: plant),
                to: file)
        }
        return (plant, .yaml)
    }

    private static func wallClockNs() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }
}

extension RegistryCache {
    /// The decoded file, or nil when it is missing, unreadable, not ours or not a cache file.
    /// Only a regular file owned by this user and writable by no one else is trusted: the
    /// directory may be one a user pointed at a shared place.
    func read(_ file: String) -> RegistryCacheFile? {
        let fd = open(file, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG, st.st_uid == geteuid(), st.st_mode & 0o022 == 0,
            let data = try? handle.readToEnd()
        else { return nil }
        return try? JSONDecoder().decode(RegistryCacheFile.self, from: data)
    }

    /// Writes the file through a temporary file renamed over it (commands and tests run side by
    /// side); any failure leaves no cache and is not reported: the next load parses again.
    func write(_ content: RegistryCacheFile, to file: String) {
        if mkdir(directory, 0o700) != 0 && errno == ENOENT {
            try? FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        // The file first: where it cannot be written, the plant is not even encoded.
        let temporary = "\(file).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        let data = (try? JSONEncoder().encode(content)) ?? Data()
        let written =
            !data.isEmpty
            && data.withUnsafeBytes { bytes in
                var offset = 0
                while offset < bytes.count {
                    let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                    if n < 0 && errno == EINTR { continue }
                    guard n > 0 else { return false }
                    offset += n
                }
                return true
            }
        if close(fd) != 0 || !written || rename(temporary, file) != 0 { unlink(temporary) }
    }
}
