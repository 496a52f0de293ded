/// The ledger summed per hour and per attribution key: what cost reports read instead of
/// scanning every record. Summing rollups gives exactly the sums of their records.
public struct UsageRollup: Hashable, Sendable {
    /// Start of the hour (UTC) the records started in.
    public var bucketStart: UnixMicros
    public var tenant: String?
    public var agent: String?
    public var keyID: String?
    public var route: String?
    public var deployment: String?
    public var provider: String?
    public var model: String?
    public var tags: [String: String]
    public var currency: String
    public var requests: Int64
    public var errors: Int64
    public var usage: TokenUsage
    public var estimatedRequests: Int64
    public var costNanos: Int64
    /// Request-microseconds spent waiting on the deployment (summed latencies): capacity used.
    public var busyMicros: Int64

    public init(
        bucketStart: UnixMicros, tenant: String? = nil, agent: String? = nil, keyID: String? = nil, route: String? = nil,
        deployment: String? = nil, provider: String? = nil, model: String? = nil, tags: [String: String] = [:],
        currency: String = "USD", requests: Int64 = 0, errors: Int64 = 0, usage: TokenUsage = .none,
        estimatedRequests: Int64 = 0, costNanos: Int64 = 0, busyMicros: Int64 = 0
    ) {
        self.bucketStart = bucketStart
        self.tenant = tenant
        self.agent = agent
        self.keyID = keyID
        self.route = route
        self.deployment = deployment
        self.provider = provider
        self.model = model
        self.tags = tags
        self.currency = currency
        self.requests = requests
        self.errors = errors
        self.usage = usage
        self.estimatedRequests = estimatedRequests
        self.costNanos = costNanos
        self.busyMicros = busyMicros
    }

    /// The rollup one record contributes.
    public init(_ record: UsageRecord) {
        self.init(
            bucketStart: CalendarPeriod.hour(containing: record.startedAt).start, tenant: record.tenant,
            agent: record.agent, keyID: record.keyID, route: record.route, deployment: record.deployment,
            provider: record.provider, model: record.upstreamModel, tags: record.tags, currency: record.cost.currency,
            requests: 1, errors: record.status >= 400 ? 1 : 0, usage: record.usage,
            estimatedRequests: record.usage.isEstimated ? 1 : 0, costNanos: record.cost.nanos,
            busyMicros: record.latencyMicros)
        self.usage.isEstimated = false
    }

    /// The attributes that identify a rollup row.
    public struct Key: Hashable, Sendable {
        public var bucketStart: UnixMicros
        public var tenant, agent, keyID, route, deployment, provider, model: String?
        public var tags: [String: String]
        public var currency: String
    }

    public var key: Key {
        Key(
            bucketStart: bucketStart, tenant: tenant, agent: agent, keyID: keyID, route: route, deployment: deployment,
            provider: provider, model: model, tags: tags, currency: currency)
    }

    /// The same attributes with every count at zero.
    public var emptied: UsageRollup {
        UsageRollup(
            bucketStart: bucketStart, tenant: tenant, agent: agent, keyID: keyID, route: route, deployment: deployment,
            provider: provider, model: model, tags: tags, currency: currency)
    }

    /// A total order on the attributes: the order rows are written in (and read back, where an
    /// allocation depends on it).
    public static func lockOrder(_ lhs: UsageRollup, _ rhs: UsageRollup) -> Bool {
        func attributes(_ rollup: UsageRollup) -> [String] {
            [
                rollup.tenant ?? "", rollup.agent ?? "", rollup.keyID ?? "", rollup.route ?? "", rollup.deployment ?? "",
                rollup.provider ?? "", rollup.model ?? "", rollup.currency,
            ] + rollup.tags.sorted { $0.key < $1.key }.flatMap { [$0.key, $0.value] }
        }
        if lhs.bucketStart != rhs.bucketStart { return lhs.bucketStart.value < rhs.bucketStart.value }
        return attributes(lhs).lexicographicallyPrecedes(attributes(rhs))
    }

    /// Takes another rollup's counts away: what is left of a whole once its parts are counted.
    public mutating func subtract(_ other: UsageRollup) {
        requests -= other.requests
        errors -= other.errors
        usage.inputTokens -= other.usage.inputTokens
        usage.outputTokens -= other.usage.outputTokens
        usage.cachedInputTokens -= other.usage.cachedInputTokens
        usage.cacheWriteInputTokens -= other.usage.cacheWriteInputTokens
        usage.reasoningTokens -= other.usage.reasoningTokens
        estimatedRequests -= other.estimatedRequests
        costNanos -= other.costNanos
        busyMicros -= other.busyMicros
    }

    /// Nothing counted at all.
    public var isEmpty: Bool {
        requests == 0 && errors == 0 && usage.inputTokens == 0 && usage.outputTokens == 0 && usage.cachedInputTokens == 0
            && usage.cacheWriteInputTokens == 0 && usage.reasoningTokens == 0 && estimatedRequests == 0 && costNanos == 0
            && busyMicros == 0
    }

    /// Adds another rollup's counts (its attributes are assumed equal).
    public mutating func absorb(_ other: UsageRollup) {
        requests += other.requests
        errors += other.errors
        usage.inputTokens += other.usage.inputTokens
        usage.outputTokens += other.usage.outputTokens
        usage.cachedInputTokens += other.usage.cachedInputTokens
        usage.cacheWriteInputTokens += other.usage.cacheWriteInputTokens
        usage.reasoningTokens += other.usage.reasoningTokens
        estimatedRequests += other.estimatedRequests
        costNanos += other.costNanos
        busyMicros += other.busyMicros
    }
}
