import Aggregation
import Foundation
import PlantRegistry
import PostgresClient
import Telemetry

/// Closed periods on PostgreSQL, as `SQLiteStore+Periods` keeps them on SQLite (the same split
/// of a commit's changes, `ClosedPeriods`), keyed by site: several sites share the database and
/// each closes its own scopes.
///
/// Several processes write at once, so nothing is trusted from memory: every batch transaction
/// reads the closures' version after taking the writers' lock shared, and `close`, `reopen`
/// and the changes they guard take it exclusively, so a closure never lands between a commit's
/// look and its writes.
extension PostgresStore {
    /// Reloads the closed periods of this store's sites when their version changed: one small
    /// read per commit, none per reading.
    func refreshClosedPeriods(_ db: PostgresConnection) throws {
        let row = try db.execute(
            "SELECT count(*), coalesce(max(id), 0) FROM closed_period WHERE site = ANY($1::text[])", [sitesLiteral])
        let version = [row.int(0, 0) ?? 0, row.int(0, 1) ?? 0]
        guard version != closedVersion else { return }
        knownClosures = ClosedPeriods(try loadClosedPeriods(db).map(\.period))
        closedVersion = version
    }

    var sitesLiteral: PostgresValue { PostgresArray.literal(sites.map { Optional($0) }) }

    /// The closures of `site` (of every site of this store without it), with their sites.
    func loadClosedPeriods(_ db: PostgresConnection, site: String? = nil) throws -> [(site: String, period: ClosedPeriod)] {
        try Self.loadClosedPeriods(db, sites: site.map { [$0] } ?? sites)
    }

    /// The closures of `sites` (every site's when nil), earliest first, with their sites: what
    /// the store's commit path holds against and what `PostgresReader` lists.
    static func loadClosedPeriods(_ db: PostgresConnection, sites: [String]?) throws -> [(site: String, period: ClosedPeriod)] {
        let rows = try db.execute(
            """
            SELECT id, label, scope, frozen, devices, start, "end", closed_at, "user", site FROM closed_period
            WHERE $1::text[] IS NULL OR site = ANY($1::text[]) ORDER BY start, id
            """, [sites.map { PostgresArray.literal($0.map { Optional($0) }) } ?? .null])
        return (0..<rows.count).compactMap { i in
            guard let scope = Scope(rows.string(i, 2) ?? "") else { return nil }
            let frozen = (rows.string(i, 3) ?? "").split(separator: " ").compactMap { Scope(String($0)) }
            let devices = (rows.string(i, 4) ?? "").split(separator: " ").map(String.init)
            let period = ClosedPeriod(
                id: rows.int(i, 0) ?? 0, label: rows.string(i, 1) ?? "", scope: scope, frozen: Set(frozen), devices: Set(devices),
                start: rows.int(i, 5) ?? 0, end: rows.int(i, 6) ?? 0, closedAtMs: rows.int(i, 7) ?? 0, user: rows.string(i, 8) ?? "")
            return (rows.string(i, 9) ?? "", period)
        }
    }

    /// Adds a commit's held changes to the late adjustments: the scope totals' (kept out of
    /// `scope_rollup`) and the frozen devices' minutes' (applied to the minutes as well), each
    /// table in one statement with its rows in key order.
    func hold(_ held: [RollupDelta.ScopeWindow: Double], series: HeldSeries, db: PostgresConnection) throws {
        let minutes = series.minutes.map { (p: $0.key.periodID, sid: seriesIDs[Int($0.key.series)], minute: $0.key.minute, m: $0.value) }
            .sorted { ($0.p, $0.sid, $0.minute) < ($1.p, $1.sid, $1.minute) }
        if !minutes.isEmpty {
            try db.execute(
                """
                INSERT INTO series_adjustment AS a (period_id, series_id, minute, n, sum, consumption, estimated)
                SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::int[], $5::float8[], $6::float8[], $7::float8[])
                ON CONFLICT (period_id, series_id, minute) DO UPDATE SET n = a.n + excluded.n, sum = a.sum + excluded.sum,
                    consumption = a.consumption + excluded.consumption, estimated = a.estimated + excluded.estimated
                """,
                [
                    PostgresArray.literal(minutes.map(\.p)), PostgresArray.literal(minutes.map(\.sid)),
                    PostgresArray.literal(minutes.map(\.minute)), PostgresArray.literal(minutes.map { Int64($0.m.count) }),
                    PostgresArray.literal(minutes.map { Optional($0.m.sum) }),
                    PostgresArray.literal(minutes.map { Optional($0.m.consumption) }),
                    PostgresArray.literal(minutes.map { Optional($0.m.estimated) }),
                ])
        }
        let states = series.states.map {
            (p: $0.key.periodID, sid: seriesIDs[Int($0.key.series)], minute: $0.key.minute, state: $0.key.state, ms: $0.value)
        }.sorted { ($0.p, $0.sid, $0.minute, $0.state) < ($1.p, $1.sid, $1.minute, $1.state) }
        if !states.isEmpty {
            try db.execute(
                """
                INSERT INTO state_adjustment AS a (period_id, series_id, minute, state, ms)
                SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::bigint[])
                ON CONFLICT (period_id, series_id, minute, state) DO UPDATE SET ms = a.ms + excluded.ms
                """,
                [
                    PostgresArray.literal(states.map(\.p)), PostgresArray.literal(states.map(\.sid)),
                    PostgresArray.literal(states.map(\.minute)), PostgresArray.literal(states.map { Optional($0.state) }),
                    PostgresArray.literal(states.map(\.ms)),
                ])
        }
        let scopes = held.filter { $0.value != 0 }.map { (site: scopeSite[$0.key.scope] ?? "", key: $0.key, value: $0.value) }
            .sorted {
                ($0.site, $0.key.scope.key, $0.key.period.rawValue, $0.key.start, $0.key.quantity)
                    < ($1.site, $1.key.scope.key, $1.key.period.rawValue, $1.key.start, $1.key.quantity)
            }
        guard !scopes.isEmpty else { return }
        try db.execute(
            """
            INSERT INTO scope_adjustment AS s (site, scope, quantity, period, start, value)
            SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::float8[])
            ON CONFLICT (site, scope, period, start, quantity) DO UPDATE SET value = s.value + excluded.value
            """,
            [
                PostgresArray.literal(scopes.map { Optional($0.site) }), PostgresArray.literal(scopes.map { Optional($0.key.scope.key) }),
                PostgresArray.literal(scopes.map { Optional($0.key.quantity) }),
                PostgresArray.literal(scopes.map { Optional($0.key.period.rawValue) }), PostgresArray.literal(scopes.map(\.key.start)),
                PostgresArray.literal(scopes.map { Optional($0.value) }),
            ])
    }

    /// The site a scope belongs to (`useSites(of:)` or the aggregation plan named it).
    func site(of scope: Scope) throws -> String {
        if let site = scopeSite[scope] { return site }
        if case .site(let id) = scope { return id }
        throw StoreError("\(scope.key) is not a scope of this registry's sites (\(sites.joined(separator: ", ")))")
    }

    /// Runs `body` in one transaction holding the writers' lock: exclusively when it may change
    /// closures (commits wait for it), shared otherwise.
    func administer<T>(exclusive: Bool, context: String, _ body: (PostgresConnection) throws -> T) throws -> T {
        do {
            let db = try open()
            return try db.transaction {
                try db.execute(
                    exclusive ? "SELECT pg_advisory_xact_lock($1)" : "SELECT pg_advisory_xact_lock_shared($1)",
                    [.int(PostgresSchema.writersLockKey)])
                return try body(db)
            }
        } catch let error as PeriodClosedError {
            throw error
        } catch {
            throw Self.storeError(error, context: context)
        }
    }

    @discardableResult
    public func close(
        scope: Scope, frozen: [Scope], devices: [String], start: Int64, end: Int64, label: String, by actor: AuditActor,
        nowMs: Int64 = Int64(Date().timeIntervalSince1970 * 1000)
    ) throws -> ClosedPeriod {
        let site = try site(of: scope)
        return try administer(exclusive: true, context: "cannot close \(label) in \(redactedTarget)") { db in
            let existing = ClosedPeriods(try loadClosedPeriods(db, site: site).map(\.period))
                .overlapping(from: start, to: end, scopes: Set(frozen))
            if !existing.isEmpty { throw PeriodClosedError(periods: existing, action: .close) }
            guard end <= nowMs else {
                throw StoreError(
                    "\(label) has not ended yet (it ends \(Timestamp.formatRFC3339UTC(end))): close a period once it is over")
            }
            let at = Int64(Date().timeIntervalSince1970 * 1000)
            let inserted = try db.execute(
                """
                INSERT INTO closed_period (site, label, scope, frozen, devices, start, "end", closed_at, "user")
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id
                """,
                [
                    .text(site), .text(label), .text(scope.key), .text(frozen.map(\.key).joined(separator: " ")),
                    .text(devices.joined(separator: " ")), .int(start), .int(end), .int(at), .text(actor.user),
                ])
            let period = ClosedPeriod(
                id: inserted.int(0, 0) ?? 0, label: label, scope: scope, frozen: Set(frozen), devices: Set(devices), start: start,
                end: end, closedAtMs: at, user: actor.user)
            let totals = try dayTotals(db, table: "scope_rollup", site: site, scope: scope, from: start, to: end)
            try Self.insertAudit(
                [
                    actor.entry(
                        "period \(period.name)", before: nil,
                        after:
                            "closed; frozen \(frozen.map(\.key).joined(separator: ", ")); \(scope.key): \(SQLiteStore.describe(totals, empty: "no figures"))",
                        atMs: at)
                ], db: db)
            return period
        }
    }

    @discardableResult
    public func reopen(from: Int64, to: Int64, scopes: Set<Scope>?, by actor: AuditActor) throws -> [ReopenedPeriod] {
        try administer(exclusive: true, context: "cannot reopen in \(redactedTarget)") { db in
            try reopen(
                loadClosedPeriods(db).filter { $0.period.overlaps(from: from, to: to) && (scopes.map($0.period.isRelated) ?? true) },
                db: db, by: actor)
        }
    }

    /// Inside an exclusive `administer` transaction that would change figures of [from, to):
    /// refuses while a closure of a related scope (or any, when `scopes` is nil) covers part of
    /// it, unless `reopen`, in which case those closures are reopened (audited) first.
    func guardClosed(
        _ db: PostgresConnection, from: Int64, to: Int64, scopes: Set<Scope>?, reopen: Bool, action: PeriodClosedError.Action,
        by actor: AuditActor
    ) throws {
        let periods = try loadClosedPeriods(db).filter {
            $0.period.overlaps(from: from, to: to) && (scopes.map($0.period.isRelated) ?? true)
        }
        guard !periods.isEmpty else { return }
        guard reopen else { throw PeriodClosedError(periods: periods.map(\.period), action: action) }
        try self.reopen(periods, db: db, by: actor)
    }

    @discardableResult
    private func reopen(_ periods: [(site: String, period: ClosedPeriod)], db: PostgresConnection, by actor: AuditActor) throws
        -> [ReopenedPeriod]
    {
        var out: [ReopenedPeriod] = []
        for (site, p) in periods {
            let folded = try dayTotals(db, table: "scope_adjustment", site: site, scope: p.scope, from: p.start, to: p.end)
            let frozen = PostgresArray.literal(p.frozen.map(\.key).sorted().map { Optional($0) })
            let range: [PostgresValue] = [.text(site), frozen, .int(p.start), .int(p.end)]
            let rows = try db.execute(
                """
                INSERT INTO scope_rollup AS s (site, scope, quantity, period, start, value)
                SELECT site, scope, quantity, period, start, value FROM scope_adjustment
                WHERE site = $1 AND scope = ANY($2::text[]) AND start >= $3 AND start < $4 ORDER BY site, scope, period, start, quantity
                ON CONFLICT (site, scope, period, start, quantity) DO UPDATE SET value = s.value + excluded.value
                """, range
            ).affected
            try db.execute("DELETE FROM scope_adjustment WHERE site = $1 AND scope = ANY($2::text[]) AND start >= $3 AND start < $4", range)
            // The devices' minutes hold the late readings already: only the record of them goes.
            try db.execute("DELETE FROM series_adjustment WHERE period_id = $1", [.int(p.id)])
            try db.execute("DELETE FROM state_adjustment WHERE period_id = $1", [.int(p.id)])
            try db.execute("DELETE FROM closed_period WHERE id = $1", [.int(p.id)])
            try Self.insertAudit(
                [
                    actor.entry(
                        "period \(p.name)", before: "closed \(Timestamp.formatRFC3339UTC(p.closedAtMs)) by \(p.user)",
                        after:
                            "reopened; folded \(rows) late adjustment row(s); \(p.scope.key): \(SQLiteStore.describe(folded, empty: "nothing pending"))"
                    )
                ], db: db)
            out.append(ReopenedPeriod(period: p, folded: folded, rows: rows))
        }
        return out
    }

    /// A scope's day rows of `table` (`scope_rollup` or `scope_adjustment`) in [from, to), summed per quantity.
    func dayTotals(_ db: PostgresConnection, table: String, site: String, scope: Scope, from: Int64, to: Int64) throws -> [String: Double] {
        let rows = try db.execute(
            """
            SELECT quantity, sum(value) FROM \(table) WHERE site = $1 AND scope = $2 AND period = 'day' AND start >= $3 AND start < $4
            GROUP BY quantity
            """, [.text(site), .text(scope.key), .int(from), .int(to)])
        var out: [String: Double] = [:]
        for i in 0..<rows.count { out[rows.string(i, 0) ?? ""] = rows.double(i, 1) ?? 0 }
        return out
    }

    public func setValueAdded(
        scope: Scope, monthStart: Int64, monthEnd: Int64, period: String, yuan: Double, by actor: AuditActor, reopen: Bool = false
    ) throws {
        let site = try site(of: scope)
        try administer(exclusive: true, context: "cannot record value added in \(redactedTarget)") { db in
            try guardClosed(db, from: monthStart, to: monthEnd, scopes: [scope], reopen: reopen, action: .valueAdded, by: actor)
            let before = try db.execute(
                "SELECT yuan FROM value_added WHERE site = $1 AND scope = $2 AND month = $3",
                [.text(site), .text(scope.key), .int(monthStart)]
            ).rows.first.flatMap { $0[0] }.flatMap(Double.init)
            try db.execute(
                """
                INSERT INTO value_added (site, scope, month, yuan) VALUES ($1, $2, $3, $4)
                ON CONFLICT (site, scope, month) DO UPDATE SET yuan = excluded.yuan
                """, [.text(site), .text(scope.key), .int(monthStart), .double(yuan)])
            try Self.insertAudit(
                [actor.entry("value_added \(scope.key) \(period)", before: before.map { "\($0) yuan" }, after: "\(yuan) yuan")], db: db)
        }
    }
}
