import Aggregation
import ArgumentParser
import Reporting

/// A command's defaults and help texts for `--from` and `--to`.
protocol TimeWindowDefaults {
    /// The start when `--from` is not given: nil makes `--from` required, "" leaves the start open.
    static var from: String? { get }
    /// The end when `--to` is not given: nil makes `--to` required, "" leaves the end open.
    static var to: String? { get }
    static var fromHelp: String { get }
    static var toHelp: String { get }
}

/// `--from T --to T`: the time window of every command that reads one, read the same way
/// everywhere (see `TimeArgument`), in the site's time zone.
struct TimeWindowOptions<Defaults: TimeWindowDefaults>: ParsableArguments {
    @Option var from: String
    @Option var to: String

    init() {
        _from = Self.option(Defaults.from, help: Defaults.fromHelp)
        _to = Self.option(Defaults.to, help: Defaults.toHelp)
    }

    private static func option(_ value: String?, help: String) -> Option<String> {
        let help = ArgumentHelp(help, valueName: "T")
        guard let value else { return Option(parsing: .unconditional, help: help) }
        return Option(wrappedValue: value, parsing: .unconditional, help: help)
    }

    /// [from, to) in epoch ms; exit 2 naming the accepted forms unless both are times and to is after from.
    func window(calendar: WindowCalendar) throws -> (from: Int64, to: Int64) {
        let start = try self.start(calendar)
        return (start, try end(after: start, calendar))
    }

    /// Like `window`, with an end left open (nil) where its default is "".
    func openWindow(calendar: WindowCalendar) throws -> (from: Int64?, to: Int64?) {
        let start = from.isEmpty ? nil : try self.start(calendar)
        return (start, to.isEmpty ? nil : try end(after: start ?? .min, calendar))
    }

    private func start(_ calendar: WindowCalendar) throws -> Int64 {
        guard let ms = TimeArgument.parse(from, calendar: calendar) else {
            throw fail("--from \(from) is not a time: use \(TimeArgument.help)", code: 2)
        }
        return ms
    }

    private func end(after start: Int64, _ calendar: WindowCalendar) throws -> Int64 {
        guard let ms = TimeArgument.parse(to, calendar: calendar), ms > start else {
            throw fail("--to \(to) is not a time after --from: use \(TimeArgument.help)", code: 2)
        }
        return ms
    }
}
