import SwitchyardCore

/// What one combination of route, deployment, provider, tenant and agent did in one window:
/// counts, money, tokens and the shape of its latencies. Cells add up, so a series (a route, a
/// tenant) is the sum of the cells that carry its value.
public struct TrafficCell: Sendable, Equatable {
    public var requests = 0
    /// Failures on the provider's side or in reaching it (`ErrorClass.isServerSide`).
    public var errors = 0
    /// Of those, timeouts, and the provider saying it is over capacity (503, 529).
    public var timeouts = 0
    public var overloads = 0
    /// Answers the provider refused for their content.
    public var refusals = 0
    public var costNanos: Int64 = 0
    public var tokens = 0
    public var latency = LatencyHistogram()
    /// Time to the first token, for streams that had one.
    public var firstToken = LatencyHistogram()
    /// Output tokens of answered requests, and the time spent generating them (after the first
    /// token for streams; the whole answer otherwise), for output tokens per second.
    public var outputTokens = 0
    public var generationMicros: Int64 = 0

    public init() {}

    public mutating func add(_ record: UsageRecord) {
        requests += 1
        if record.errorClass?.isServerSide == true { errors += 1 }
        if record.errorClass == .upstreamTimeout { timeouts += 1 }
        if record.errorClass == .upstreamOverloaded { overloads += 1 }
        if record.status < 400, record.usage.outputTokens > 0 {
            outputTokens &+= record.usage.outputTokens
            generationMicros &+= max(0, record.latencyMicros - (record.timeToFirstTokenMicros ?? 0))
        }
        if record.errorClass == .contentFiltered { refusals += 1 }
        costNanos &+= max(0, record.cost.nanos)
        tokens &+= max(0, record.usage.inputTokens) &+ max(0, record.usage.outputTokens)
        latency.add(micros: record.latencyMicros)
        if let firstToken = record.timeToFirstTokenMicros { self.firstToken.add(micros: firstToken) }
    }

    public mutating func add(_ other: TrafficCell) {
        requests += other.requests
        errors += other.errors
        timeouts += other.timeouts
        overloads += other.overloads
        refusals += other.refusals
        outputTokens &+= other.outputTokens
        generationMicros &+= other.generationMicros
        costNanos &+= other.costNanos
        tokens &+= other.tokens
        latency.add(other.latency)
        firstToken.add(other.firstToken)
    }
}

/// Latencies in 64 buckets growing by a quarter from 1 ms (the last bound is ~21 minutes, past
/// any generation): a percentile within a bucket's width, in a fixed 256 bytes.
public struct LatencyHistogram: Sendable, Equatable {
    static let bucketCount = 64
    static let growth = 1.25
    /// Each bucket's upper bound in microseconds.
    static let bounds: [Int64] = (0..<bucketCount).map { Int64(1000 * pow125($0)) }

    public private(set) var counts = [UInt32](repeating: 0, count: LatencyHistogram.bucketCount)
    public private(set) var total = 0

    public init() {}

    private static func pow125(_ exponent: Int) -> Double {
        var value = 1.0
        for _ in 0..<exponent { value *= growth }
        return value
    }

    static func bucket(micros: Int64) -> Int {
        // Few buckets: a linear scan from the cheap end is as fast as a logarithm.
        var index = 0
        while index < bucketCount - 1 && micros > bounds[index] { index += 1 }
        return index
    }

    public mutating func add(micros: Int64) {
        counts[Self.bucket(micros: micros)] &+= 1
        total += 1
    }

    public mutating func add(_ other: LatencyHistogram) {
        guard other.total > 0 else { return }
        for index in counts.indices { counts[index] &+= other.counts[index] }
        total += other.total
    }

    /// The upper bound (seconds) of the bucket holding the `fraction` quantile; nil when empty.
    public func quantile(_ fraction: Double) -> Double? {
        guard total > 0 else { return nil }
        let rank = max(1, Int((fraction * Double(total)).rounded(.up)))
        var seen = 0
        for (index, count) in counts.enumerated() {
            seen += Int(count)
            if seen >= rank { return Double(Self.bounds[index]) / 1e6 }
        }
        return Double(Self.bounds[Self.bucketCount - 1]) / 1e6
    }

    /// How many latencies lie in buckets wholly above `seconds`.
    public func count(above seconds: Double) -> Int {
        let holding = Self.bucket(micros: Int64(seconds * 1e6))
        return counts[(holding + 1)...].reduce(0) { $0 + Int($1) }
    }
}

extension ErrorClass {
    /// A failure of the provider or of reaching it, which says something about the deployment;
    /// a client's own mistakes and the gateway's own outcomes (refusals, no healthy deployment,
    /// which an ejection itself causes) do not.
    public var isServerSide: Bool {
        switch self {
        case .upstreamUnavailable, .upstreamTimeout, .upstreamError, .upstreamOverloaded, .upstreamAuthentication,
            .streamInterrupted:
            true
        default: false
        }
    }
}
