import Foundation
import GRDB

extension StoreReader {
    /// One summary per (topic, reason) for messages received at or after `sinceMs`, by topic.
    ///
    /// One grouped scan of the quarantine table, so a gateway that has flooded it for a day
    /// costs one query, not a row per message.
    public func quarantineSummaries(reasons: [String], sinceMs: Int64) throws -> [QuarantineSummary] {
        guard !reasons.isEmpty else { return [] }
        return try db.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    WITH g AS (
                        SELECT topic, reason, COUNT(*) AS n, MIN(received_at) AS first, MAX(received_at) AS last, MAX(id) AS newest
                        FROM quarantine WHERE received_at >= ? AND reason IN (\(reasons.map { _ in "?" }.joined(separator: ",")))
                        GROUP BY topic, reason)
                    SELECT g.topic, g.reason, g.n, g.first, g.last, q.payload, q.payload_bytes
                    FROM g JOIN quarantine q ON q.id = g.newest ORDER BY g.topic, g.reason
                    """, arguments: StatementArguments([sinceMs] as [Int64]) + StatementArguments(reasons)
            ).map { row in
                QuarantineSummary(
                    topic: row[0], reason: row[1], messages: row[2], firstReceivedAtMs: row[3], lastReceivedAtMs: row[4],
                    samplePayload: [UInt8]((row[5] as Data?) ?? Data()), samplePayloadBytes: row[6])
            }
        }
    }
}
