import Foundation
import ReadingStore
import Testing

/// Site time whatever the server's zone, and empty results that keep their format, against
/// the real daemon and broker.
@Suite("Site time and empty results", .serialized)
struct SiteTimeTests {
    /// 2025-12-01T11:12:00.250Z: 19:12 in Shanghai, the example site's zone.
    static let eventMs: Int64 = 1_764_587_520_250

    @Test(arguments: Backend.allCases)
    func everyCommandPrintsSiteTimeWhateverTheServerZoneAndUTCWhenAsked(backend: Backend) throws {
        let broker = try TestBroker()
        let dir = try temporaryDirectory("sitetime")
        let daemon = try DaemonProcess(broker: broker, database: try backend.newStore(in: dir), logPath: dir + "/daemon.log")
        try daemon.start()
        try Publisher.publish(
            broker, topic: "zhizao/v1/ws-assembly/edge",
            #"{"device":"prs-401","ts":\#(Self.eventMs),"seq":1,"metrics":{"state":"producing"}}"#)
        // Ten minutes later: state time is counted between two readings.
        try Publisher.publish(
            broker, topic: "zhizao/v1/ws-assembly/edge",
            #"{"device":"prs-401","ts":\#(Self.eventMs + 600_000),"seq":2,"metrics":{"state":"idle"}}"#)
        try Publisher.publish(
            broker, topic: "zhizao/v1/ws-assembly/edge",
            #"{"device":"prs-999","ts":\#(Self.eventMs),"metrics":{"state":"producing"}}"#)
        try waitUntil(timeout: 20, "two readings and one quarantined message") {
            let s = try daemon.status()
            return s.readingsStored >= 2 && s.messagesQuarantined >= 1
        }
        #expect(daemon.terminate() == 0)
        let devices = ["--db", daemon.database, "--devices", ZhizaoBinary.shippedDevices]
        for zone in ["UTC", "America/New_York"] {
            let readings = try ZhizaoBinary.run(["readings", "--device", "prs-401", "--limit", "2"] + devices, environment: ["TZ": zone])
            #expect(readings.code == 0, "\(readings.stderr)")
            #expect(readings.stdout.contains("time (site time Asia/Shanghai)"), "TZ=\(zone): the heading names the zone")
            #expect(readings.stdout.contains("2025-12-01T19:12:00.250+08:00"), "TZ=\(zone): \(readings.stdout)")
            let status = try ZhizaoBinary.run(["status"] + devices, environment: ["TZ": zone])
            #expect(
                status.stdout.contains("last reading (site time Asia/Shanghai)") && status.stdout.contains("2025-12-01T19:22:00.250+08:00"))
            let quarantine = try ZhizaoBinary.run(["quarantine"] + devices, environment: ["TZ": zone])
            #expect(quarantine.stdout.contains("received (site time Asia/Shanghai)") && quarantine.stdout.contains("+08:00"))
            #expect(!quarantine.stdout.contains("(local)") && !readings.stdout.contains("(local)"))
            let query = try ZhizaoBinary.run(
                [
                    "query", "--device", "prs-401", "--metric", "state", "--from", "2025-12-01",
                    "--to", "2025-12-02", "--every", "1d", "--format", "csv",
                ] + devices, environment: ["TZ": zone])
            #expect(query.stdout.hasPrefix("from (site time Asia/Shanghai),"), "\(query.stdout)")
            #expect(query.stdout.contains("\n2025-12-01T00:00+08:00,600"), "ten minutes producing that local day: \(query.stdout)")
        }
        let utc = try ZhizaoBinary.run(["readings", "--utc"] + devices, environment: ["TZ": "America/New_York"])
        #expect(utc.stdout.contains("time (UTC)") && utc.stdout.contains("2025-12-01T11:12:00.250+00:00"), "\(utc.stdout)")
        let utcQuery = try ZhizaoBinary.run(
            [
                "query", "--device", "prs-401", "--metric", "state", "--from", "2025-12-01",
                "--to", "2025-12-02", "--every", "1d", "--format", "csv", "--utc",
            ] + devices)
        #expect(
            utcQuery.stdout.hasPrefix("from (UTC),") && utcQuery.stdout.contains("\n2025-11-30T16:00+00:00,"),
            "the site's day, shown in UTC")
        // Without a registry there is no site: UTC, said so on stderr, still exit 0.
        let noRegistry = try ZhizaoBinary.run(["readings", "--db", daemon.database, "--devices", dir + "/missing"])
        #expect(noRegistry.code == 0 && noRegistry.stdout.contains("time (UTC)") && noRegistry.stderr.contains("--devices"))
        let badLimit = try ZhizaoBinary.run(["readings", "--limit", "0"] + devices)
        #expect(badLimit.code != 0 && badLimit.stderr.contains("--limit"))
    }

    @Test func emptyResultsKeepTheirFormat() throws {
        let dir = try temporaryDirectory("empty")
        _ = try SQLiteStore(path: dir + "/z.sqlite")
        let args = ["--db", dir + "/z.sqlite", "--devices", ZhizaoBinary.shippedDevices]
        let csv = try ZhizaoBinary.run(["indicators", "--scope", "line:line-motor", "--format", "csv"] + args)
        #expect(csv.code == 0)
        let header = [
            "scope,from (site time Asia/Shanghai),electricity kWh,energy kgce,good units,kWh/unit,kgce/unit,kgCO2/unit,CO2 scopes,water m3/unit,",
            "static ctrl rate %,operational ctrl rate %,availability %,effectiveness %,quality %,OEE %,",
            "kWh estimated %,kgce estimated %,key-process unknown %,pending adj. kWh,pending adj. kgce,pending adj. good units",
        ].joined()
        #expect(csv.stdout.split(separator: "\n") == [Substring(header)], "only the header row: \(csv.stdout)")
        #expect(csv.stderr.contains("no figures stored"))
        let json = try ZhizaoBinary.run(["indicators", "--format", "json"] + args)
        #expect(
            json.code == 0 && json.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "[]"
                && json.stderr.contains("no figures stored"))
        let table = try ZhizaoBinary.run(["indicators"] + args)
        #expect(table.code == 0 && table.stdout.contains("no figures stored"))
        let query = try ZhizaoBinary.run(["query", "--device", "cnc-101", "--metric", "power", "--format", "csv"] + args)
        #expect(query.code == 0 && query.stdout == "from (site time Asia/Shanghai),min kW,mean kW,max kW,last kW,readings\n")
        #expect(query.stderr.contains("no data"))
        let queryJSON = try ZhizaoBinary.run(["query", "--device", "cnc-101", "--metric", "state", "--format", "json"] + args)
        #expect(queryJSON.code == 0 && queryJSON.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "[]")
    }
}
