public import PlantRegistry

/// A site's shifts laid on its local calendar: planned busy time of a window, and the shift
/// occurrence an hour belongs to.
public struct ShiftCalendar: Sendable {
    public let shifts: [Shift]
    public let calendar: WindowCalendar

    public init(site: Site, calendar: WindowCalendar) {
        shifts = site.shifts
        self.calendar = calendar
    }

    /// Shift occurrences (shift, start, end) overlapping [from, to).
    public func occurrences(from: Int64, to: Int64) -> [(shift: Shift, start: Int64, end: Int64)] {
        var out: [(Shift, Int64, Int64)] = []
        var day = calendar.dayStart(from - WindowCalendar.dayMs)
        while day < to {
            for s in shifts {
                // Wall-clock times of the site: on a daylight-saving day 06:00 is not midnight + 6 h.
                let start = calendar.localTime(day: day, minutes: s.startMinute)
                let end = calendar.localTime(day: day, minutes: s.startMinute + s.lengthMinutes)
                if end > from && start < to { out.append((s, start, end)) }
            }
            day = calendar.dayStart(day + 25 * WindowCalendar.hourMs)
        }
        return out.sorted { $0.1 < $1.1 }
    }

    /// ISO 22400 planned busy time (PBT) of [from, to): shift time minus planned downtime,
    /// prorated for shifts the window cuts; the whole window when the site has no shifts.
    public func plannedBusyMs(from: Int64, to: Int64) -> Double {
        guard !shifts.isEmpty else { return Double(to - from) }
        var total = 0.0
        for (s, start, end) in occurrences(from: from, to: to) {
            let overlap = Double(min(end, to) - max(start, from))
            let length = Double(end - start)
            total += overlap - s.plannedDowntimeMinutes * 60_000 * overlap / length
        }
        return max(0, total)
    }

    /// The start of the shift occurrence holding `ts`, or nil outside every shift.
    public func occurrenceStart(containing ts: Int64) -> (shift: Shift, start: Int64)? {
        for (s, start, end) in occurrences(from: ts, to: ts + 1) where start <= ts && ts < end { return (s, start) }
        return nil
    }
}

/// ISO 22400-2 OEE of a line over a window, from its stored totals.
public struct OEE: Codable, Sendable, Equatable {
    /// Actual production time, h (mean producing time of the line's key-process machines).
    public var aptH: Double
    /// Planned busy time, h.
    public var pbtH: Double
    /// Planned run time per item, s.
    public var priS: Double
    /// Produced quantity (good + scrap) and good quantity.
    public var pq: Double
    public var gq: Double
    /// APT / PBT.
    public var availability: Double?
    /// PRI × PQ / APT (may exceed 1).
    public var effectiveness: Double?
    /// GQ / PQ.
    public var quality: Double?
    public var oee: Double?
    /// SQ / PQ.
    public var scrapRatio: Double?

    enum CodingKeys: String, CodingKey {
        case aptH = "apt_h"
        case pbtH = "pbt_h"
        case priS = "pri_s"
        case pq = "pq"
        case gq = "gq"
        case availability, effectiveness, quality, oee
        case scrapRatio = "scrap_ratio"
    }

    public static func compute(
        producingMs: Double, machines: Int, plannedBusyMs: Double, priSeconds: Double,
        good: Double, scrap: Double
    ) -> OEE {
        let apt = machines > 0 ? producingMs / Double(machines) : 0
        let pq = good + scrap
        let availability = plannedBusyMs > 0 ? apt / plannedBusyMs : nil
        let effectiveness = apt > 0 ? priSeconds * 1000 * pq / apt : nil
        let quality = pq > 0 ? good / pq : nil
        var oee: Double?
        if let a = availability, let e = effectiveness, let q = quality { oee = a * e * q }
        return OEE(
            aptH: apt / 3_600_000, pbtH: plannedBusyMs / 3_600_000, priS: priSeconds, pq: pq, gq: good,
            availability: availability, effectiveness: effectiveness, quality: quality, oee: oee,
            scrapRatio: pq > 0 ? scrap / pq : nil)
    }
}
