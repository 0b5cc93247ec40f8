import ArgumentParser
import Foundation
import Glibc

/// Output formats shared by the commands.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table
    case csv
    case json
}

/// Prints rows as an aligned table with a header rule, or as CSV with a header row.
///
/// On a terminal narrower than the table, each row is printed as a block of `name: value`
/// lines instead, so nothing wraps; piped output always keeps one line per row.
func printTable(_ header: [String], format: OutputFormat = .table, _ rows: [[String]]) {
    if format == .csv {
        print(header.map(csvField).joined(separator: ","))
        for row in rows { print(row.map(csvField).joined(separator: ",")) }
        return
    }
    var widths = header.map(\.count)
    for row in rows { for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) } }
    let total = widths.reduce(0, +) + 2 * max(0, widths.count - 1)
    if let columns = terminalColumns(), total > columns {
        let labelWidth = header.map(\.count).max() ?? 0
        for (n, row) in rows.enumerated() {
            if n > 0 { print("") }
            for (i, cell) in row.enumerated() where i < header.count {
                print(header[i].padding(toLength: labelWidth, withPad: " ", startingAt: 0) + "  " + cell)
            }
        }
        return
    }
    func line(_ cells: [String]) -> String {
        cells.enumerated().map { i, c in
            i == cells.count - 1 ? c : c.padding(toLength: widths[i], withPad: " ", startingAt: 0)
        }.joined(separator: "  ")
    }
    print(line(header))
    print(line(widths.map { String(repeating: "-", count: $0) }))
    for row in rows { print(line(row)) }
}

/// One CSV field, quoted when it holds a comma, quote or line break (RFC 4180).
func csvField(_ s: String) -> String {
    guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return s }
    return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
}

/// The terminal's width when standard output is one.
func terminalColumns() -> Int? {
    guard isatty(STDOUT_FILENO) == 1 else { return nil }
    var size = winsize()
    if ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 { return Int(size.ws_col) }
    return ProcessInfo.processInfo.environment["COLUMNS"].flatMap(Int.init)
}

/// Prints a value as pretty, key-sorted JSON.
func printJSON(_ value: some Encodable) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    let data = try encoder.encode(value)
    print(String(decoding: data, as: UTF8.self))
}

/// Epoch milliseconds in a given zone, with its offset (one formatter per zone and precision:
/// building a `DateFormatter` costs more than formatting a year of rows).
func localTime(_ ms: Int64, _ zone: TimeZone, precise: Bool = false) -> String {
    let key = "\(zone.identifier)|\(precise)"
    let f: DateFormatter
    if let cached = formatters[key] {
        f = cached
    } else {
        f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = zone
        f.dateFormat = precise ? "yyyy-MM-dd'T'HH:mm:ss.SSSxxx" : "yyyy-MM-dd'T'HH:mmxxx"
        formatters[key] = f
    }
    return f.string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
}

nonisolated(unsafe) private var formatters: [String: DateFormatter] = [:]  // CLI commands run on one thread

/// Prints a sentence for a person on standard error, so piped CSV or JSON stays data.
func note(_ message: String) {
    FileHandle.standardError.write(Data("\(message)\n".utf8))
}

/// An empty result: tables say so on stdout; CSV keeps its header row and JSON prints `[]`
/// on stdout, with the sentence on stderr, so scripts that append or parse never get prose.
func printEmpty(_ sentence: String, header: [String], format: OutputFormat) {
    switch format {
    case .table: print(sentence)
    case .csv: printTable(header, format: .csv, []); note(sentence)
    case .json: print("[]"); note(sentence)
    }
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
