import ArgumentParser
import Foundation
import Glibc
import PlantRegistry

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
    for line in tableLines(header, rows, columns: terminalColumns()) { print(line) }
}

/// The lines of an aligned table, padded by display width (a CJK character takes two
/// terminal columns), or blocks of `name  value` lines when wider than `columns`.
func tableLines(_ header: [String], _ rows: [[String]], columns: Int?) -> [String] {
    var widths = header.map(displayWidth)
    for row in rows { for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], displayWidth(cell)) } }
    let total = widths.reduce(0, +) + 2 * max(0, widths.count - 1)
    if let columns, total > columns {
        let labelWidth = header.map(displayWidth).max() ?? 0
        var out: [String] = []
        for (n, row) in rows.enumerated() {
            if n > 0 { out.append("") }
            for (i, cell) in row.enumerated() where i < header.count {
                out.append(pad(header[i], to: labelWidth) + "  " + cell)
            }
        }
        return out
    }
    func line(_ cells: [String]) -> String {
        cells.enumerated().map { i, c in i == cells.count - 1 ? c : pad(c, to: widths[i]) }.joined(separator: "  ")
    }
    return [line(header), line(widths.map { String(repeating: "-", count: $0) })] + rows.map(line)
}

/// `text` followed by spaces up to `width` terminal columns.
func pad(_ text: String, to width: Int) -> String {
    text + String(repeating: " ", count: max(0, width - displayWidth(text)))
}

/// How many terminal columns `text` takes: East Asian wide and fullwidth characters (Han,
/// kana, Hangul, fullwidth forms and punctuation such as `：`) take two, others one, combining
/// marks none (per grapheme cluster, by its first scalar).
func displayWidth(_ text: String) -> Int {
    text.reduce(0) { sum, character in
        guard let v = character.unicodeScalars.first?.value else { return sum }
        let wide =
            (0x1100...0x115F).contains(v) || (0x2E80...0x303E).contains(v) || (0x3041...0x33FF).contains(v)
            || (0x3400...0x4DBF).contains(v) || (0x4E00...0x9FFF).contains(v) || (0xA000...0xA4CF).contains(v)
            || (0xAC00...0xD7A3).contains(v) || (0xF900...0xFAFF).contains(v) || (0xFE30...0xFE4F).contains(v)
            || (0xFF00...0xFF60).contains(v) || (0xFFE0...0xFFE6).contains(v) || (0x20000...0x3FFFD).contains(v)
        return sum + (wide ? 2 : 1)
    }
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
    case .csv:
        printTable(header, format: .csv, [])
        note(sentence)
    case .json:
        print("[]")
        note(sentence)
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
    @Option(
        name: .long,
        help: ArgumentHelp(
            "SQLite database file, or a postgresql://user@host:port/dbname URL (env ZHIZAO_DB; the password from "
                + "ZHIZAO_DB_PASSWORD_FILE, PGPASSFILE or PGPASSWORD, never the URL).", valueName: "PATH|URL"))
    var db: String = ProcessInfo.processInfo.environment["ZHIZAO_DB"] ?? "./zhizao.sqlite"
}

struct RegistryOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Device registry directory (env ZHIZAO_DEVICES).", valueName: "DIR"))
    var devices: String = ProcessInfo.processInfo.environment["ZHIZAO_DEVICES"] ?? "./Devices"

    /// The registry, through the registry cache (`RegistryCache.fromEnvironment`) while its
    /// files are unchanged; its problems are thrown as `Plant.load(directory:)` throws them.
    func loadPlant() throws(RegistryError) -> Plant {
        try Plant.load(directory: devices, cache: RegistryCache.fromEnvironment()).plant
    }
}
