/// A metric's recent values on one series, and the band they set: the median, and a half-width
/// of `sensitivity` robust standard deviations (1.4826 × the median absolute deviation), never
/// narrower than a tenth of the median or the metric's floor.
///
/// Median and MAD rather than mean and standard deviation: one bad window (a burst, a cold
/// start) moves neither, so the band neither widens to swallow the next incident nor is dragged
/// by the last one. Values seen while a series is out of band are not added: the baseline does
/// not learn the incident. No hour-of-week season: a history of `capacity` windows (30 minutes
/// by default) follows a daily rhythm's slope, and a fleet's weekly shape is left to a later
/// seasonal term (see the README).
public struct Baseline: Sendable {
    public let capacity: Int
    private var values: [Double] = []
    private var next = 0

    public init(capacity: Int) { self.capacity = max(1, capacity) }

    public var count: Int { values.count }

    public mutating func add(_ value: Double) {
        if values.count < capacity {
            values.append(value)
        } else {
            values[next] = value
        }
        next = (next + 1) % capacity
    }

    public struct Band: Sendable, Equatable {
        public var median: Double
        public var halfWidth: Double

        public func deviation(_ value: Double) -> Double { (value - median) / halfWidth }
    }

    public func band(sensitivity: Double, floor: Double) -> Band? {
        guard !values.isEmpty else { return nil }
        let median = Self.median(values)
        let spread = 1.4826 * Self.median(values.map { abs($0 - median) })
        return Band(median: median, halfWidth: sensitivity * max(spread, 0.1 * abs(median), floor))
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }
}
