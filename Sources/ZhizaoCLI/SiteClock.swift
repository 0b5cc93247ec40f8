import ArgumentParser
import Foundation
import PlantRegistry

/// `--utc`: the one flag every command that prints times shares.
struct TimeOptions: ParsableArguments {
    @Flag(help: "Print times in UTC (+00:00) instead of site time. Times you type are still read in site time.")
    var utc = false
}

/// How a command prints times: in the site time of the row's device (the registry's site time
/// zone), or in UTC with `--utc`, always with the offset, and the heading saying which.
///
/// The server's own time zone never matters: a shift supervisor comparing `readings` with
/// `indicators` sees the same minute the same way.
struct SiteClock {
    static let utcZone = TimeZone(identifier: "UTC")!

    let utc: Bool
    /// The zone of each site, by id.
    let siteZones: [String: TimeZone]
    /// The zone of each device's site.
    let deviceZones: [String: TimeZone]
    /// The zone of rows without a device (the registry's first site); UTC without a registry.
    let defaultZone: TimeZone

    /// A clock for `plant`; without a registry (nil) every time is UTC.
    init(plant: Plant?, utc: Bool) {
        self.utc = utc
        var sites: [String: TimeZone] = [:]
        for s in plant?.sites ?? [] { sites[s.id] = TimeZone(identifier: s.timeZone) ?? Self.utcZone }
        siteZones = sites
        var devices: [String: TimeZone] = [:]
        for d in plant?.devices ?? [] { devices[d.id] = sites[d.site] }
        deviceZones = devices
        defaultZone = plant?.sites.first.flatMap { sites[$0.id] } ?? Self.utcZone
    }

    /// The registry for commands that can do without one (`readings`, `status`, `quarantine`):
    /// when it cannot be read, nil, and stderr says that times are in UTC and how to fix it.
    static func optionalPlant(_ registry: RegistryOptions) -> Plant? {
        do { return try registry.loadPlant() } catch {
            note(
                "zhizao: the registry in \(registry.devices) cannot be read, so times are in UTC; "
                    + "pass --devices DIR for site time (`zhizao devices validate` says what is wrong)")
            return nil
        }
    }

    /// The zone a device's times print in (the default zone for a device the registry lacks).
    func zone(device: String? = nil) -> TimeZone {
        if utc { return Self.utcZone }
        return device.flatMap { deviceZones[$0] } ?? defaultZone
    }

    /// The zone of a site's rows.
    func zone(site: String) -> TimeZone { utc ? Self.utcZone : siteZones[site] ?? defaultZone }

    /// A time to the millisecond in the device's zone, with its offset.
    func time(_ ms: Int64, device: String? = nil) -> String { localTime(ms, zone(device: device), precise: true) }

    /// What a time column's heading says: `UTC`, or `site time Asia/Shanghai` (each site's
    /// zone when sites differ); no comma, so CSV headers stay unquoted.
    var heading: String {
        if utc || siteZones.isEmpty { return "UTC" }
        let zones = Set(siteZones.values.map(\.identifier))
        return zones.count == 1 ? "site time \(zones.first!)" : "site time of each device's site"
    }

    /// A heading for a single zone: `UTC` or `site time <zone>`.
    static func heading(_ zone: TimeZone) -> String {
        zone.identifier == utcZone.identifier ? "UTC" : "site time \(zone.identifier)"
    }
}
