import SwitchyardCore

/// A synthetic but realistic ledger for tests and benchmarks: several tenants, agents and
/// providers over a period, with daily and weekly traffic patterns, caller tags (customer,
/// feature, task outcome) and whatever price changes the deployments' schedules contain.
/// Deterministic for a seed.
public struct LedgerGenerator: Sendable {
    public struct Target: Sendable {
        public var route: String
        public var deployment: String
        public var provider: String
        public var model: String
        public var prices: PriceSchedule

        public init(route: String, deployment: String, provider: String, model: String, prices: PriceSchedule) {
            self.route = route
            self.deployment = deployment
            self.provider = provider
            self.model = model
            self.prices = prices
        }
    }

    public var targets: [Target]
    public var tenants: [String]
    public var agentsPerTenant: Int
    public var customers: [String]
    public var features: [String]
    public var seed: UInt64

    public init(
        targets: [Target], tenants: [String] = ["acme", "globex", "initech", "umbrella"], agentsPerTenant: Int = 3,
        customers: [String] = (1...12).map { "cust-\($0)" }, features: [String] = ["chat", "search", "summarize", "agent"],
        seed: UInt64 = 42
    ) {
        self.targets = targets
        self.tenants = tenants
        self.agentsPerTenant = agentsPerTenant
        self.customers = customers
        self.features = features
        self.seed = seed
    }

    /// `count` records spread over `[start, end)`, in time order, passed to `emit` in batches.
    public func generate(
        count: Int, from start: UnixMicros, to end: UnixMicros, batchSize: Int = 5_000,
        emit: ([UsageRecord]) throws -> Void
    ) rethrows {
        for batch in batches(count: count, from: start, to: end, batchSize: batchSize) { try emit(batch) }
    }

    /// The same records as a lazy sequence of batches, so a caller can store each before the next
    /// is made (ten million records do not fit comfortably in memory at once).
    public func batches(count: Int, from start: UnixMicros, to end: UnixMicros, batchSize: Int = 5_000) -> Batches {
        // Requests per hour follow a weekday/weekend and day/night profile: spread the count by weight.
        let hours = stride(from: start.value, to: end.value, by: 3_600_000_000).map(UnixMicros.init)
        let weights = hours.map(Self.weight)
        let totalWeight = weights.reduce(0, +)
        var perHour: [Int] = []
        var produced = 0
        for (index, weight) in weights.enumerated() {
            let share =
                index == hours.count - 1
                ? count - produced : Int((Double(count) * Double(weight) / Double(totalWeight)).rounded())
            let inHour = max(0, min(share, count - produced))
            perHour.append(inHour)
            produced += inHour
        }
        return Batches(generator: self, hours: hours, perHour: perHour, batchSize: batchSize)
    }

    public struct Batches: Sequence, IteratorProtocol {
        let generator: LedgerGenerator
        let hours: [UnixMicros]
        let perHour: [Int]
        let batchSize: Int
        var random: SplitMix64
        var hourIndex = 0
        var inHour = 0
        var serial = 0

        init(generator: LedgerGenerator, hours: [UnixMicros], perHour: [Int], batchSize: Int) {
            self.generator = generator
            self.hours = hours
            self.perHour = perHour
            self.batchSize = batchSize
            self.random = SplitMix64(seed: generator.seed)
        }

        public mutating func next() -> [UsageRecord]? {
            var batch: [UsageRecord] = []
            batch.reserveCapacity(batchSize)
            while batch.count < batchSize, hourIndex < hours.count {
                if inHour == perHour[hourIndex] {
                    hourIndex += 1
                    inHour = 0
                    continue
                }
                batch.append(generator.record(hour: hours[hourIndex], serial: serial, random: &random))
                inHour += 1
                serial += 1
            }
            return batch.isEmpty ? nil : batch
        }
    }

    /// Relative traffic in an hour: busy in working hours, quieter at night and at weekends.
    static func weight(_ hour: UnixMicros) -> Int {
        let hourOfDay = Int((hour.value / 3_600_000_000) % 24)
        let dayOfWeek = Int((hour.value / 86_400_000_000 + 4) % 7)  // 0 = Sunday (1970-01-01 was a Thursday)
        let daily = (8...18).contains(hourOfDay) ? 10 : (6...21).contains(hourOfDay) ? 5 : 2
        return dayOfWeek == 0 || dayOfWeek == 6 ? max(1, daily / 3) : daily
    }

    func record(hour: UnixMicros, serial: Int, random: inout SplitMix64) -> UsageRecord {
        let tenantIndex = Int(random.next() % UInt64(tenants.count))
        let tenant = tenants[tenantIndex]
        let agent = "\(tenant)-agent-\(random.next() % UInt64(agentsPerTenant))"
        let target = targets[Int(random.next() % UInt64(targets.count))]
        let startedAt = UnixMicros(hour.value + Int64(random.next() % 3_600_000_000))
        let failed = random.next() % 50 == 0
        let input = failed ? 0 : Int(200 + random.next() % 3_000)
        let cached = failed ? 0 : Int(random.next() % 4 == 0 ? UInt64(input / 2) : 0)
        let output = failed ? 0 : Int(20 + random.next() % 800)
        let reasoning = failed ? 0 : Int(random.next() % 5 == 0 ? UInt64(output / 4) : 0)
        let usage = TokenUsage(
            inputTokens: input, outputTokens: output, cachedInputTokens: cached, reasoningTokens: reasoning)
        let latency = failed ? Int64(20_000) : Int64(150_000 + Int(random.next() % 2_000_000))
        var tags = [
            "customer": customers[Int(random.next() % UInt64(customers.count))],
            "feature": features[Int(random.next() % UInt64(features.count))],
        ]
        if !failed && random.next() % 10 == 0 { tags["outcome"] = "success" }
        return UsageRecord(
            id: "gen_\(seed)_\(serial)", startedAt: startedAt, finishedAt: UnixMicros(startedAt.value + latency),
            tenant: tenant, agent: agent, keyID: "key_\(tenant)_\(agent.suffix(1))", endpoint: "chat.completions",
            route: target.route, deployment: target.deployment, provider: target.provider, upstreamModel: target.model,
            streamed: random.next() % 2 == 0, usage: usage,
            cost: failed ? .zero(target.prices.entries[0].prices.currency) : target.prices.prices(at: startedAt).cost(of: usage),
            latencyMicros: latency, timeToFirstTokenMicros: nil, status: failed ? 502 : 200,
            errorClass: failed ? .upstreamUnavailable : nil, tags: tags)
    }
}
