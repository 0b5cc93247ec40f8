public import PlantRegistry
public import Telemetry

extension AggregationPlan {
    /// The calendar of the site a series' device belongs to.
    public func calendar(series sp: SeriesPlan) -> WindowCalendar { calendars.indices.contains(sp.site) ? calendars[sp.site] : calendar }

    /// The calendar of the site a key-process machine belongs to.
    public func calendar(machine m: MachinePlan) -> WindowCalendar { calendars.indices.contains(m.site) ? calendars[m.site] : calendar }

    /// What feeds a scope's totals: each series booked into it, with the quantity it adds to
    /// (`consumption.<carrier>`, `good`, `scrap`, the metering tree's `unmetered.…`) and the factor
    /// to that quantity's unit times the booking's weight in the tree (−1 for a meter below a
    /// node's whole meter in its unmetered use).
    ///
    /// The same bookings the aggregator makes, so a window's ragged edges read from per-series
    /// minutes add up exactly as its stored hours and days do.
    public func feeds(_ scope: Scope) -> [(series: SeriesIndex, quantity: String, factor: Double)] {
        series.indices.flatMap { i in
            series[i].targets.filter { $0.scope == scope && $0.weight != 0 }.map {
                (SeriesIndex(i), $0.quantity, series[i].unitFactor * $0.weight)
            }
        }
    }

    /// The key-process machines whose producing, NC and unknown time a scope totals.
    public func machines(in scope: Scope) -> [MachinePlan] { machines.filter { $0.scopes.contains(scope) } }
}

extension AggregationPlan {
    /// The site (index in the registry) of every scope the plan books into.
    public var scopeSites: [Scope: Int] {
        var out: [Scope: Int] = [:]
        for sp in series { for target in sp.targets { out[target.scope] = sp.site } }
        for m in machines { for scope in m.scopes { out[scope] = m.site } }
        return out
    }
}
