import Aggregation
import GRDB
import PlantRegistry

extension SQLiteStore {
    /// Re-adds each scope's day totals from its hour totals for the local days, in the scope's
    /// own site calendar, that hold one of `instants`.
    ///
    /// A ranged rebuild cuts at the first site's midnight; another site's day can straddle that
    /// cut (Berlin's day is still running at Shanghai's midnight), so its stored day total would
    /// keep the part before the cut and gain the rebooked part after it a second time. Hours
    /// align in every whole-hour zone, so the hour totals are right and the day is their sum.
    static func resumSiteDays(_ db: Database, plan: AggregationPlan, around instants: [Int64]) throws {
        let delete = try db.cachedStatement(sql: "DELETE FROM scope_rollup WHERE scope = ? AND period = 'day' AND start = ?")
        let insert = try db.cachedStatement(
            sql: """
                INSERT INTO scope_rollup(scope, quantity, period, start, value)
                SELECT scope, quantity, 'day', ?, SUM(value) FROM scope_rollup
                WHERE scope = ? AND period = 'hour' AND start >= ? AND start < ?
                GROUP BY scope, quantity HAVING SUM(value) != 0
                """)
        for (scope, site) in plan.scopeSites {
            let calendar = plan.calendars.indices.contains(site) ? plan.calendars[site] : plan.calendar
            for day in Set(instants.map { calendar.dayStart($0) }) {
                let next = calendar.dayStart(day + 25 * WindowCalendar.hourMs)
                try delete.execute(arguments: [scope.key, day])
                try insert.execute(arguments: [day, scope.key, day, next])
            }
        }
    }
}
