public import Aggregation
import Foundation
import GRDB
public import PlantRegistry
import Telemetry

/// Closed periods: closing a reported period, holding late changes to its figures beside them
/// (`scope_adjustment`), and reopening it, which folds them in.
///
/// Frozen are the scope totals (`scope_rollup`) of the closed scope and the scopes within it,
/// over the closed local days: what `indicators` and `report` read. Per-series rollups stay live
/// (the aggregator books later readings against them, and a rebuild recomputes them), so after a
/// reopen every figure equals a rebuild of the same readings; what late readings added to a
/// frozen device's minutes is recorded apart (`series_adjustment`, `state_adjustment`) for
/// `query` to take out, and dropped on reopen (the minutes hold it already).
extension SQLiteStore {
    /// Reloads the closed periods when their version changed since the last look: one small
    /// read per commit, none per reading.
    func refreshClosedPeriods(_ db: Database) throws {
        let version = try Self.closedVersion(db)
        guard version != closedVersion else { return }
        closedPeriods = ClosedPeriods(try Self.loadClosedPeriods(db))
        closedVersion = version
    }

    /// Row count and highest id of `closed_period`: ids are never reused (AUTOINCREMENT), so
    /// every close raises the id and every reopen lowers the count.
    static func closedVersion(_ db: Database) throws -> [Int64] {
        let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT count(*) AS n, coalesce(max(id), 0) AS top FROM closed_period"))
        return [row?["n"] ?? 0, row?["top"] ?? 0]
    }

    static func loadClosedPeriods(_ db: Database) throws -> [ClosedPeriod] {
        guard try db.tableExists("closed_period") else { return [] }
        return try Row.fetchAll(
            db, sql: "SELECT id, label, scope, frozen, devices, start, end, closed_at, user FROM closed_period ORDER BY start, id"
        ).compactMap { row in
            guard let scope = Scope(row["scope"] as String) else { return nil }
            let frozen = (row["frozen"] as String).split(separator: " ").compactMap { Scope(String($0)) }
            let devices = (row["devices"] as String).split(separator: " ").map(String.init)
            return ClosedPeriod(
                id: row["id"], label: row["label"], scope: scope, frozen: Set(frozen), devices: Set(devices),
                start: row["start"], end: row["end"], closedAtMs: row["closed_at"], user: row["user"])
        }
    }

    /// Adds a commit's held changes to the late adjustments: the scope totals' (kept out of
    /// `scope_rollup`) and the frozen devices' minutes' (applied to the minutes as well).
    static func hold(_ held: [RollupDelta.ScopeWindow: Double], series: HeldSeries, seriesIDs: [Int64], db: Database) throws {
        if !series.minutes.isEmpty {
            let minute = try db.cachedStatement(
                sql: """
                    INSERT INTO series_adjustment(period_id, series_id, minute, n, sum, consumption, estimated) VALUES (?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT(period_id, series_id, minute) DO UPDATE SET n = n + excluded.n, sum = sum + excluded.sum,
                        consumption = consumption + excluded.consumption, estimated = estimated + excluded.estimated
                    """)
            for (key, m) in series.minutes {
                try minute.execute(arguments: [
                    key.periodID, seriesIDs[Int(key.series)], key.minute, m.count, m.sum, m.consumption, m.estimated,
                ])
            }
        }
        if !series.states.isEmpty {
            let state = try db.cachedStatement(
                sql: """
                    INSERT INTO state_adjustment(period_id, series_id, minute, state, ms) VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT(period_id, series_id, minute, state) DO UPDATE SET ms = ms + excluded.ms
                    """)
            for (key, ms) in series.states {
                try state.execute(arguments: [key.periodID, seriesIDs[Int(key.series)], key.minute, key.state, ms])
            }
        }
        guard !held.isEmpty else { return }
        let insert = try db.cachedStatement(
            sql: """
                INSERT INTO scope_adjustment(scope, quantity, period, start, value) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT(scope, period, start, quantity) DO UPDATE SET value = value + excluded.value
                """)
        for (key, value) in held {
            try insert.execute(arguments: [key.scope.key, key.quantity, key.period.rawValue, key.start, value])
        }
    }

    /// Closes [start, end) (whole local days) for `scope` and the scopes within it (`frozen`,
    /// whose `devices` keep their own minutes as closed too), audited with the totals it freezes.
    /// Refused if a related scope has a closure sharing days with it, or if the period has not
    /// ended by `nowMs`.
    @discardableResult
    public func close(
        scope: Scope, frozen: [Scope], devices: [String], start: Int64, end: Int64, label: String, by actor: AuditActor,
        nowMs: Int64 = Int64(Date().timeIntervalSince1970 * 1000)
    ) throws -> ClosedPeriod {
        try db.write { db in
            let existing = ClosedPeriods(try Self.loadClosedPeriods(db)).overlapping(from: start, to: end, scopes: Set(frozen))
            if !existing.isEmpty { throw PeriodClosedError(periods: existing, action: .close) }
            guard end <= nowMs else {
                throw StoreError(
                    "\(label) has not ended yet (it ends \(Timestamp.formatRFC3339UTC(end))): close a period once it is over")
            }
            let at = Int64(Date().timeIntervalSince1970 * 1000)
            try db.execute(
                sql: """
                    INSERT INTO closed_period(label, scope, frozen, devices, start, end, closed_at, user) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    label, scope.key, frozen.map(\.key).joined(separator: " "), devices.joined(separator: " "), start, end, at,
                    actor.user,
                ])
            let period = ClosedPeriod(
                id: db.lastInsertedRowID, label: label, scope: scope, frozen: Set(frozen), devices: Set(devices), start: start,
                end: end, closedAtMs: at, user: actor.user)
            let totals = try Self.dayTotals(db, table: "scope_rollup", scope: scope, from: start, to: end)
            try Self.insertAudit(
                db,
                [
                    actor.entry(
                        "period \(period.name)", before: nil,
                        after:
                            "closed; frozen \(frozen.map(\.key).joined(separator: ", ")); \(scope.key): \(Self.describe(totals, empty: "no figures"))",
                        atMs: at)
                ])
            return period
        }
    }

    /// Reopens the closures sharing time with [from, to) (of scopes related to `scopes`, or all),
    /// folding their late adjustments into the figures; audited with what was folded.
    @discardableResult
    public func reopen(from: Int64, to: Int64, scopes: Set<Scope>?, by actor: AuditActor) throws -> [ReopenedPeriod] {
        try db.write { db in
            let periods = ClosedPeriods(try Self.loadClosedPeriods(db)).overlapping(from: from, to: to, scopes: scopes)
            return try Self.reopen(periods, db: db, by: actor)
        }
    }

    /// Inside a transaction that would change figures of [from, to): refuses while a closure of
    /// a related scope (or any, when `scopes` is nil) covers part of it, unless `reopen`, in
    /// which case those closures are reopened (audited) first.
    static func guardClosed(
        _ db: Database, from: Int64, to: Int64, scopes: Set<Scope>?, reopen: Bool, action: PeriodClosedError.Action,
        by actor: AuditActor
    ) throws {
        let periods = ClosedPeriods(try loadClosedPeriods(db)).overlapping(from: from, to: to, scopes: scopes)
        guard !periods.isEmpty else { return }
        guard reopen else { throw PeriodClosedError(periods: periods, action: action) }
        try Self.reopen(periods, db: db, by: actor)
    }

    @discardableResult
    private static func reopen(_ periods: [ClosedPeriod], db: Database, by actor: AuditActor) throws -> [ReopenedPeriod] {
        var out: [ReopenedPeriod] = []
        for p in periods {
            let folded = try dayTotals(db, table: "scope_adjustment", scope: p.scope, from: p.start, to: p.end)
            var rows = 0
            for scope in p.frozen.sorted() {
                let range: StatementArguments = [scope.key, p.start, p.end]
                try db.execute(
                    sql: """
                        INSERT INTO scope_rollup(scope, quantity, period, start, value)
                        SELECT scope, quantity, period, start, value FROM scope_adjustment WHERE scope = ? AND start >= ? AND start < ?
                        ON CONFLICT(scope, period, start, quantity) DO UPDATE SET value = value + excluded.value
                        """, arguments: range)
                rows += db.changesCount
                try db.execute(sql: "DELETE FROM scope_adjustment WHERE scope = ? AND start >= ? AND start < ?", arguments: range)
            }
            // The devices' minutes hold the late readings already: only the record of them goes.
            for table in ["series_adjustment", "state_adjustment", "closed_period"] {
                try db.execute(sql: "DELETE FROM \(table) WHERE \(table == "closed_period" ? "id" : "period_id") = ?", arguments: [p.id])
            }
            try insertAudit(
                db,
                [
                    actor.entry(
                        "period \(p.name)", before: "closed \(Timestamp.formatRFC3339UTC(p.closedAtMs)) by \(p.user)",
                        after:
                            "reopened; folded \(rows) late adjustment row(s); \(p.scope.key): \(describe(folded, empty: "nothing pending"))"
                    )
                ])
            out.append(ReopenedPeriod(period: p, folded: folded, rows: rows))
        }
        return out
    }

    /// A scope's day rows of `table` (`scope_rollup` or `scope_adjustment`) in [from, to), summed per quantity.
    static func dayTotals(_ db: Database, table: String, scope: Scope, from: Int64, to: Int64) throws -> [String: Double] {
        var out: [String: Double] = [:]
        for row in try Row.fetchAll(
            db,
            sql: """
                SELECT quantity, sum(value) AS v FROM \(table) WHERE scope = ? AND period = 'day' AND start >= ? AND start < ?
                GROUP BY quantity
                """, arguments: [scope.key, from, to])
        {
            out[row["quantity"]] = row["v"]
        }
        return out
    }

    /// `consumption.electricity 1234.5, good 300`, sorted by quantity, for the audit trail.
    static func describe(_ totals: [String: Double], empty: String) -> String {
        totals.isEmpty ? empty : totals.sorted { $0.key < $1.key }.map { "\($0.key) \(figure($0.value))" }.joined(separator: ", ")
    }

    private static func figure(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(format: "%.6g", v)
    }
}

/// A closure undone by `reopen`, with the late adjustments folded into its figures.
public struct ReopenedPeriod: Sendable {
    public var period: ClosedPeriod
    /// The closed scope's folded adjustments over the period, per quantity (day rows).
    public var folded: [String: Double]
    /// Adjustment rows (hour and day, every frozen scope) folded in.
    public var rows: Int
}

/// A change refused because it would alter the figures of a closed period (or a closure that
/// would overlap one already made).
public struct PeriodClosedError: Error, CustomStringConvertible, Sendable {
    /// What was refused.
    public enum Action: String, Sendable {
        case close
        case rebuild
        case valueAdded = "value-added"
    }

    public let periods: [ClosedPeriod]
    public let action: Action

    public var description: String {
        let names = periods.map(\.name).joined(separator: ", ")
        switch action {
        case .close: return "already closed: \(names); reopen it first (`zhizao reopen`) or close another period"
        case .rebuild, .valueAdded: return "closed period \(names): its reported figures would change"
        }
    }
}
