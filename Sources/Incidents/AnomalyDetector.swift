/// One series: a dimension and one of its values (`route=chat`, `deployment=gpt-eu`).
public struct SeriesKey: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var dimension: Dimension
    public var value: String

    public init(_ dimension: Dimension, _ value: String) {
        self.dimension = dimension
        self.value = value
    }

    public var description: String { "\(dimension.rawValue)=\(value)" }

    public static func < (lhs: SeriesKey, rhs: SeriesKey) -> Bool {
        (lhs.dimension, lhs.value) < (rhs.dimension, rhs.value)
    }
}

/// How detection is tuned (`incidents:` in the file).
public struct DetectionSettings: Sendable, Equatable {
    /// Band half-width in robust standard deviations.
    public var sensitivity = 4.0
    /// Windows a metric must stay out of band before an incident opens.
    public var consecutive = 3
    /// Windows every signal must stay back in band before its incident resolves.
    public var resolveAfter = 3
    /// Fewer requests in a window say nothing about a rate or a percentile.
    public var minimumRequests = 10
    /// Windows of history a baseline keeps, and needs at least `minimumHistory` of to judge.
    public var history = 30
    public var minimumHistory = 5
    /// Series kept at most (bytes per series: README, "Incidents and probes").
    public var maximumSeries = 10_000

    public init() {}
}

/// Every series' metrics against their bands, once per window, off the request path.
public struct AnomalyDetector: Sendable {
    public let settings: DetectionSettings

    /// What one metric of one series did this window.
    public enum Reading: Sendable, Equatable {
        /// Too little traffic to tell (or too little history).
        case unknown
        case inBand(windows: Int)
        case outOfBand(windows: Int, expected: Double, observed: Double)
    }

    struct SeriesState {
        var baselines: [Metric: Baseline] = [:]
        var streak: [Metric: Int] = [:]
        var lastSeen = 0
    }

    private var series: [SeriesKey: SeriesState] = [:]
    private var window = 0
    public private(set) var seriesRefused = 0

    public init(settings: DetectionSettings) { self.settings = settings }

    public var seriesCount: Int { series.count }

    /// The series' totals this window, from the window's cells.
    public static func totals(_ cells: [TrafficKey: TrafficCell]) -> [SeriesKey: TrafficCell] {
        var totals: [SeriesKey: TrafficCell] = [:]
        for (key, cell) in cells {
            for dimension in Dimension.allCases {
                let value = key.value(dimension)
                guard !value.isEmpty else { continue }
                totals[SeriesKey(dimension, value), default: TrafficCell()].add(cell)
            }
        }
        return totals
    }

    /// Reads one window: each series' metrics against their bands (then the in-band values join
    /// the baselines). Series unseen for a whole history are forgotten.
    public mutating func observe(_ cells: [TrafficKey: TrafficCell]) -> [SeriesKey: [Metric: Reading]] {
        window += 1
        var readings: [SeriesKey: [Metric: Reading]] = [:]
        for (key, total) in Self.totals(cells) {
            if series[key] == nil {
                guard series.count < settings.maximumSeries else {
                    seriesRefused += 1
                    continue
                }
                series[key] = SeriesState()
            }
            readings[key] = read(key, total)
        }
        series = series.filter { window - $0.value.lastSeen <= settings.history }
        return readings
    }

    private mutating func read(_ key: SeriesKey, _ total: TrafficCell) -> [Metric: Reading] {
        var state = series[key]!
        state.lastSeen = window
        var readings: [Metric: Reading] = [:]
        for metric in Metric.allCases {
            guard let observed = metric.value(of: total, minimumRequests: settings.minimumRequests) else {
                readings[metric] = .unknown
                continue
            }
            var baseline = state.baselines[metric] ?? Baseline(capacity: settings.history)
            let band =
                baseline.count >= settings.minimumHistory
                ? baseline.band(sensitivity: settings.sensitivity, floor: metric.absoluteFloor) : nil
            let deviation = band.map { $0.deviation(observed) } ?? 0
            let outside = (metric.highIsDeviation && deviation > 1) || (metric.lowIsDeviation && deviation < -1)
            let streak = state.streak[metric] ?? 0
            if outside, let band {
                let windows = streak > 0 ? streak + 1 : 1
                state.streak[metric] = windows
                // Out of band for a whole history: a lasting shift (a slower model version, real
                // growth) is learned as the new normal, and its incident can resolve.
                if windows > settings.history { baseline.add(observed) }
                readings[metric] = .outOfBand(windows: windows, expected: band.median, observed: observed)
            } else {
                let windows = streak < 0 ? -streak + 1 : 1
                state.streak[metric] = -windows
                baseline.add(observed)
                readings[metric] = band == nil ? .unknown : .inBand(windows: windows)
            }
            state.baselines[metric] = baseline
        }
        series[key] = state
        return readings
    }
}
