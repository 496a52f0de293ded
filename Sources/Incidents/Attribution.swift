/// Where a series' deviation concentrates: for each other dimension, each value's share of the
/// deviating requests (the slow ones, the failures, the money) against its share of the series'
/// traffic. A value that carries most of the deviation (`minimumShare`) and more of it than of
/// the traffic is where it is; when no value does, the deviation is broad.
public struct Attribution: Sendable, Equatable {
    public var dimension: Dimension
    public var value: String
    /// Its share of the deviating requests, and of all the series' requests.
    public var deviationShare: Double
    public var trafficShare: Double

    public static let minimumShare = 0.6

    public var key: SeriesKey { SeriesKey(dimension, value) }

    /// The concentration of `metric`'s deviation on `series` in this window's cells, where
    /// `expected` is the band's middle (a latency: requests slower than it deviate).
    public static func locate(
        _ series: SeriesKey, metric: Metric, expected: Double, cells: [TrafficKey: TrafficCell]
    ) -> Attribution? {
        // On a tie, deployments and providers first: a provider-side cause explains a tenant's
        // slow requests too, when both concentrate.
        let dimensions = [Dimension.deployment, .provider, .tenant, .agent, .route].filter { $0 != series.dimension }
        return mostLifted(
            candidates(dimensions, in: series, metric: metric, expected: expected, cells: cells)
                .filter { $0.deviationShare >= minimumShare && $0.deviationShare > $0.trafficShare })
    }

    /// The candidate carrying the most more of the deviation than of the traffic; the first of equals.
    static func mostLifted(_ candidates: [Attribution]) -> Attribution? {
        var best: Attribution?
        for candidate in candidates where best.map({ candidate.lift > $0.lift + 1e-9 }) ?? true { best = candidate }
        return best
    }

    /// Every value of `dimensions` within `series` with its shares, in a fixed order; a dimension
    /// whose one value carries all the traffic says nothing about where, and is left out.
    static func candidates(
        _ dimensions: [Dimension], in series: SeriesKey, metric: Metric, expected: Double, cells: [TrafficKey: TrafficCell]
    ) -> [Attribution] {
        let inSeries = cells.filter { $0.key.value(series.dimension) == series.value }
        let requests = inSeries.values.reduce(0) { $0 + $1.requests }
        let deviating = inSeries.values.reduce(0.0) { $0 + metric.deviatingShare(of: $1, expected: expected) }
        guard requests > 0, deviating > 0 else { return [] }
        var found: [Attribution] = []
        for dimension in dimensions {
            var byValue: [String: (requests: Int, deviating: Double)] = [:]
            for (key, cell) in inSeries where !key.value(dimension).isEmpty {
                byValue[key.value(dimension), default: (0, 0)].requests += cell.requests
                byValue[key.value(dimension), default: (0, 0)].deviating += metric.deviatingShare(of: cell, expected: expected)
            }
            guard byValue.count > 1 else { continue }
            for (value, counts) in byValue.sorted(by: { $0.key < $1.key }) {
                found.append(
                    Attribution(
                        dimension: dimension, value: value, deviationShare: counts.deviating / deviating,
                        trafficShare: Double(counts.requests) / Double(requests)))
            }
        }
        return found
    }

    /// Where a surge in volume (requests, cost, tokens) comes from: the agent or tenant, within
    /// the series, whose own series rose by most of the series' rise (`readings` of this window).
    /// A tenant's or an agent's own surge is its own: only an agent within a tenant is looked for.
    public static func locateSurge(
        _ series: SeriesKey, metric: Metric, excess: Double, cells: [TrafficKey: TrafficCell],
        readings: [SeriesKey: [Metric: AnomalyDetector.Reading]]
    ) -> Attribution? {
        guard excess > 0 else { return nil }
        let dimensions: [Dimension] =
            switch series.dimension {
            case .agent: []
            case .tenant: [.agent]
            case .route, .deployment, .provider: [.agent, .tenant]
            }
        let inSeries = cells.filter { $0.key.value(series.dimension) == series.value }
        let requests = inSeries.values.reduce(0) { $0 + $1.requests }
        guard requests > 0 else { return nil }
        for dimension in dimensions {
            var trafficByValue: [String: Int] = [:]
            for (key, cell) in inSeries where !key.value(dimension).isEmpty {
                trafficByValue[key.value(dimension), default: 0] += cell.requests
            }
            let candidates = trafficByValue.compactMap { value, traffic -> Attribution? in
                guard case .outOfBand(_, let expected, let observed) = readings[SeriesKey(dimension, value)]?[metric] else {
                    return nil
                }
                return Attribution(
                    dimension: dimension, value: value, deviationShare: min(1, (observed - expected) / excess),
                    trafficShare: Double(traffic) / Double(requests))
            }
            if let best = candidates.filter({ $0.deviationShare >= minimumShare }).max(by: {
                ($0.deviationShare, $1.value) < ($1.deviationShare, $0.value)
            }) {
                return best
            }
        }
        return nil
    }

    /// The value of `dimensions` within `series` that carries the most more of the deviation than
    /// of the traffic, whatever its share: what an ejection must not punish a deployment for (a
    /// tenant whose own requests are slow).
    public static func heaviest(
        of dimensions: [Dimension], in series: SeriesKey, metric: Metric, expected: Double, cells: [TrafficKey: TrafficCell]
    ) -> Attribution? {
        mostLifted(candidates(dimensions, in: series, metric: metric, expected: expected, cells: cells))
    }

    /// How much more of the deviation than of the traffic it carries.
    var lift: Double { deviationShare - trafficShare }
}
