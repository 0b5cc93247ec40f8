import Foundation
import Glibc
import ReadingStore
import Testing

/// `zhizao audit`: what each command that is not ingest changed, with who and what it replaced.
@Suite("Audit trail", .serialized)
struct AuditTrailTests {
    /// The host user running the tests, as the audit trail names it.
    static var user: String { String(cString: getpwuid(geteuid())!.pointee.pw_name) }

    /// `zhizao <args> --db <db> --devices <shipped>`, which must succeed.
    func zhizao(_ args: [String], db: String) throws -> String {
        let r = try ZhizaoBinary.run(args + ["--db", db, "--devices", ZhizaoBinary.shippedDevices])
        guard r.code == 0 else { throw TestFailure("zhizao \(args.joined(separator: " ")): \(r.stderr)") }
        return r.stdout
    }

    @Test func listsWhatValueAddedAndRebuildChanged() throws {
        let dir = try temporaryDirectory("audit")
        let db = dir + "/z.sqlite"
        _ = try SQLiteStore(path: db)
        #expect(try zhizao(["audit"], db: db).contains("no change on record"))
        _ = try zhizao(["value-added", "--period", "2026-11", "--scope", "site", "--yuan", "12500000"], db: db)
        _ = try zhizao(["value-added", "--period", "2026-11", "--scope", "site", "--yuan", "12800000"], db: db)
        _ = try zhizao(["rebuild", "--from", "2026-11-01", "--to", "2026-11-08"], db: db)

        let json = try zhizao(["audit", "--format", "json"], db: db)
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]])
        #expect(rows.count == 3)
        #expect(rows.map { $0["command"] as? String } == ["value-added", "value-added", "rebuild"])
        #expect(rows.allSatisfy { $0["user"] as? String == Self.user })
        #expect(rows[0]["subject"] as? String == "value_added site:sz-baoan 2026-11")
        #expect(rows[0]["before"] == nil && rows[0]["after"] as? String == "12500000.0 yuan")
        #expect(rows[1]["before"] as? String == "12500000.0 yuan" && rows[1]["after"] as? String == "12800000.0 yuan")
        #expect(rows[2]["subject"] as? String == "rollups from 2026-11-01 to 2026-11-08")
        #expect((rows[0]["at"] as? String)?.hasSuffix("+08:00") == true, "site time")

        // A window that ends before the first entry lists nothing; CSV has a header row.
        let none = try zhizao(["audit", "--to", "2020-01-01", "--format", "json"], db: db)
        #expect((try JSONSerialization.jsonObject(with: Data(none.utf8)) as? [Any])?.isEmpty == true, "\(none)")
        let csv = try zhizao(["audit", "--format", "csv"], db: db).split(separator: "\n")
        #expect(csv.first == "time (site),command,user,subject,before,after")
        #expect(csv.count == 4)

        // The HTML report closes with the same trail.
        _ = try zhizao(["report", "--from", "2026-11", "--to", "2026-12", "--out", dir + "/r.html"], db: db)
        let html = try String(contentsOfFile: dir + "/r.html", encoding: .utf8)
        #expect(html.contains("Changes on record (audit trail)"))
        #expect(html.contains("<td>value_added site:sz-baoan 2026-11</td><td>12500000.0 yuan</td><td>12800000.0 yuan</td>"))
    }
}
