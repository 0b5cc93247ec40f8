import Foundation

/// Output formats shared by the commands.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table
    case json
}

import ArgumentParser

/// Prints rows as an aligned table with a header rule.
func printTable(_ header: [String], _ rows: [[String]]) {
    var widths = header.map(\.count)
    for row in rows { for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) } }
    func line(_ cells: [String]) -> String {
        cells.enumerated().map { i, c in
            i == cells.count - 1 ? c : c.padding(toLength: widths[i], withPad: " ", startingAt: 0)
        }.joined(separator: "  ")
    }
    print(line(header))
    print(line(widths.map { String(repeating: "-", count: $0) }))
    for row in rows { print(line(row)) }
}

/// Prints a value as pretty, key-sorted JSON.
func printJSON(_ value: some Encodable) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    let data = try encoder.encode(value)
    print(String(decoding: data, as: UTF8.self))
}

/// Epoch milliseconds in the machine's local time zone with its offset.
func localTime(_ ms: Int64) -> String {
    let f = DateFormatter()
    f.locale = Locale(identifier: "en_US_POSIX")
    f.timeZone = .current
    f.dateFormat = "yyyy-MM-dd'T'HH:mm:ss.SSSxxx"
    return f.string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
}

/// Exits with a message on stderr and a non-zero code.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

func fail(_ message: String, code: Int32 = 1) -> ExitCode {
    FileHandle.standardError.write(Data("zhizao: \(message)\n".utf8))
    return ExitCode(code)
}

/// Default paths shared by every command, the daemon's defaults.
struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("SQLite database file (env ZHIZAO_DB).", valueName: "PATH"))
    var db: String = ProcessInfo.processInfo.environment["ZHIZAO_DB"] ?? "./zhizao.sqlite"
}

struct RegistryOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Device registry directory (env ZHIZAO_DEVICES).", valueName: "DIR"))
    var devices: String = ProcessInfo.processInfo.environment["ZHIZAO_DEVICES"] ?? "./Devices"
}
