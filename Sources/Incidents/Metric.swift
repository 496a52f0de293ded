/// What is watched on every series, each window.
public enum Metric: String, Sendable, CaseIterable, Comparable {
    case latencyP50 = "latency_p50"
    case latencyP95 = "latency_p95"
    case firstTokenP95 = "time_to_first_token_p95"
    case outputTokensPerSecond = "output_tokens_per_second"
    case errorRate = "error_rate"
    case timeoutRate = "timeout_rate"
    case overloadRate = "overload_rate"
    case refusalRate = "refusal_rate"
    case requests
    case cost
    case tokensPerRequest = "tokens_per_request"

    public static func < (lhs: Metric, rhs: Metric) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }

    /// The metric's value in a series' window; nil when there is too little to tell (fewer
    /// requests than `minimumRequests` for a rate or a percentile).
    func value(of cell: TrafficCell, minimumRequests: Int) -> Double? {
        switch self {
        case .requests: return Double(cell.requests)
        case .cost: return Double(cell.costNanos)
        default: break
        }
        guard cell.requests >= minimumRequests else { return nil }
        switch self {
        case .latencyP50: return cell.latency.quantile(0.5)
        case .latencyP95: return cell.latency.quantile(0.95)
        case .firstTokenP95: return cell.firstToken.total >= minimumRequests ? cell.firstToken.quantile(0.95) : nil
        case .outputTokensPerSecond:
            guard cell.outputTokens > 0, cell.generationMicros > 0 else { return nil }
            return Double(cell.outputTokens) / (Double(cell.generationMicros) / 1e6)
        case .errorRate: return Double(cell.errors) / Double(cell.requests)
        case .timeoutRate: return Double(cell.timeouts) / Double(cell.requests)
        case .overloadRate: return Double(cell.overloads) / Double(cell.requests)
        case .refusalRate: return Double(cell.refusals) / Double(cell.requests)
        case .tokensPerRequest: return Double(cell.tokens) / Double(cell.requests)
        case .requests, .cost: return nil
        }
    }

    /// Volume: a rise comes from whoever sends more, not from where it goes.
    var isVolume: Bool { self == .requests || self == .cost || self == .tokensPerRequest }

    /// A drop in traffic is news too, and for throughput only a drop is; for the rest only a rise is.
    var lowIsDeviation: Bool { self == .requests || self == .outputTokensPerSecond }
    var highIsDeviation: Bool { self != .outputTokensPerSecond }

    /// The band's narrowest half-width (before `sensitivity`) in the metric's unit, whatever the
    /// history's spread: with a flat history (every window 0 errors) an error rate must pass
    /// `sensitivity` points (4 %) for `consecutive` windows, with `min_requests` in each.
    var absoluteFloor: Double {
        switch self {
        case .latencyP50, .latencyP95, .firstTokenP95: 0.025
        case .outputTokensPerSecond: 2
        case .errorRate, .timeoutRate, .overloadRate, .refusalRate: 0.01
        case .requests: 2
        case .cost: 1_000
        case .tokensPerRequest: 2
        }
    }

    /// The requests in a cell that make up the deviation, for attribution: the slow ones (past
    /// the expected value), the failed or refused ones, the money, or simply the requests.
    func deviatingShare(of cell: TrafficCell, expected: Double) -> Double {
        switch self {
        case .latencyP50, .latencyP95: Double(cell.latency.count(above: expected))
        case .firstTokenP95: Double(cell.firstToken.count(above: expected))
        // The tokens short of what the expected rate would have made in the same time.
        case .outputTokensPerSecond:
            max(0, expected * Double(cell.generationMicros) / 1e6 - Double(cell.outputTokens))
        case .errorRate: Double(cell.errors)
        case .timeoutRate: Double(cell.timeouts)
        case .overloadRate: Double(cell.overloads)
        case .refusalRate: Double(cell.refusals)
        case .requests: Double(cell.requests)
        case .cost: Double(cell.costNanos)
        case .tokensPerRequest: Double(cell.tokens)
        }
    }

    /// A value as a person reads it.
    public func format(_ value: Double) -> String {
        switch self {
        case .latencyP50, .latencyP95, .firstTokenP95:
            value >= 1 ? "\(Self.rounded(value, places: 1)) s" : "\(Int((value * 1000).rounded())) ms"
        case .outputTokensPerSecond: "\(Self.rounded(value, places: 1)) tokens/s"
        case .errorRate, .timeoutRate, .overloadRate, .refusalRate: "\(Self.rounded(value * 100, places: 1)) %"
        case .requests: "\(Int(value.rounded())) requests"
        case .cost: "\(Self.rounded(value / 1e9, places: 6)) per window"
        case .tokensPerRequest: "\(Int(value.rounded())) tokens/request"
        }
    }

    /// Its name in a sentence.
    public var phrase: String {
        switch self {
        case .latencyP50: "median latency"
        case .latencyP95: "p95 latency"
        case .firstTokenP95: "p95 time to first token"
        case .outputTokensPerSecond: "output tokens/s"
        case .errorRate: "error rate"
        case .timeoutRate: "timeout rate"
        case .overloadRate: "overload rate"
        case .refusalRate: "refusal rate"
        case .requests: "request rate"
        case .cost: "cost rate"
        case .tokensPerRequest: "tokens per request"
        }
    }

    static func rounded(_ value: Double, places: Int) -> String {
        var scale = 1.0
        for _ in 0..<places { scale *= 10 }
        let whole = (value * scale).rounded() / scale
        return "\(whole)"
    }
}
