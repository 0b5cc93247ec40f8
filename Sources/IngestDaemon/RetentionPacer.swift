import Aggregation
import Logging
import ReadingStore

/// When the ingest loop prunes, and how much: one bounded step (`stepRows` rows, a short
/// transaction) at most every `stepIntervalNs` while rows older than the horizons remain, then a
/// look every `idleIntervalNs` (the horizons move once a local day), so retention never holds
/// the write lock for long nor takes a large share of the loop's time.
struct RetentionPacer {
    var policy: RetentionPolicy
    /// The site's calendar: horizons are local midnights.
    var calendar: WindowCalendar
    var stepRows: Int
    var stepIntervalNs: UInt64
    var idleIntervalNs: UInt64 = 60_000_000_000
    /// What the current pass (steps until nothing is left) has removed so far.
    private(set) var pass = PruneProgress()
    private var nextStepNs: UInt64 = 0

    init(policy: RetentionPolicy, calendar: WindowCalendar, stepRows: Int, stepIntervalNs: UInt64) {
        self.policy = policy
        self.calendar = calendar
        self.stepRows = stepRows
        self.stepIntervalNs = stepIntervalNs
    }

    /// A step is wanted now.
    func isDue(nowNs: UInt64) -> Bool { !policy.keepsEverything && nowNs >= nextStepNs }

    /// Books a step's result; returns the pass's totals when this step finished a pass that
    /// removed something (worth a log line), else nil.
    mutating func record(_ step: PruneProgress, nowNs: UInt64) -> PruneProgress? {
        pass.readings += step.readings
        pass.minutes += step.minutes
        nextStepNs = nowNs &+ (step.done ? idleIntervalNs : stepIntervalNs)
        guard step.done else { return nil }
        defer { pass = PruneProgress() }
        return pass.readings + pass.minutes > 0 ? pass : nil
    }

    /// A step failed: try again after the idle interval (the commit path reports a locked or
    /// full database on its own).
    mutating func failed(nowNs: UInt64) { nextStepNs = nowNs &+ idleIntervalNs }
}
