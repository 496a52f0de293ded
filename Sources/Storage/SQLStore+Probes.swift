import SwitchyardCore

/// A canary probe round as stored: its JSON is the Probes module's `ProbeRound`.
public struct StoredProbeRound: Sendable, Equatable {
    public var deployment: String
    public var startedAt: UnixMicros
    public var declaredModel: String
    public var costNanos: Int64
    public var currency: String
    public var detail: String

    public init(
        deployment: String, startedAt: UnixMicros, declaredModel: String, costNanos: Int64, currency: String, detail: String
    ) {
        self.deployment = deployment
        self.startedAt = startedAt
        self.declaredModel = declaredModel
        self.costNanos = costNanos
        self.currency = currency
        self.detail = detail
    }
}

extension SQLStore {
    /// Claims `deployment`'s probe slot when it is due (or has none yet): moves it to `next` and
    /// says whether this call did. Replicas racing for one slot: exactly one wins.
    public func claimProbeSlot(deployment: String, now: UnixMicros, next: UnixMicros) async throws -> Bool {
        try await run { connection in
            try connection.query(
                "INSERT INTO probe_schedule (deployment, due_at) VALUES (?, ?) ON CONFLICT (deployment) DO NOTHING",
                [.text(deployment), .integer(now.value)])
            return try !connection.query(
                "UPDATE probe_schedule SET due_at = ? WHERE deployment = ? AND due_at <= ? RETURNING deployment",
                [.integer(next.value), .text(deployment), .integer(now.value)]
            ).isEmpty
        }
    }

    public func saveProbeRound(_ round: StoredProbeRound) async throws {
        try await run { connection in
            try connection.query(
                """
                INSERT INTO probe_rounds (deployment, started_at, declared_model, cost_nanos, currency, detail)
                VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT (deployment, started_at) DO UPDATE SET declared_model = excluded.declared_model,
                    cost_nanos = excluded.cost_nanos, currency = excluded.currency, detail = excluded.detail
                """,
                [
                    .text(round.deployment), .integer(round.startedAt.value), .text(round.declaredModel),
                    .integer(round.costNanos), .text(round.currency), .text(round.detail),
                ])
        }
    }

    /// A deployment's rounds of one declared model, newest first.
    public func probeRounds(deployment: String, declaredModel: String, limit: Int) async throws -> [StoredProbeRound] {
        let bounded = min(max(1, limit), 1000)
        return try await run { connection in
            try connection.query(
                """
                SELECT deployment, started_at, declared_model, cost_nanos, currency, detail FROM probe_rounds
                WHERE deployment = ? AND declared_model = ? ORDER BY started_at DESC LIMIT \(bounded)
                """, [.text(deployment), .text(declaredModel)]
            ).compactMap(Self.storedProbeRound)
        }
    }

    /// Each deployment's latest round.
    public func latestProbeRounds() async throws -> [StoredProbeRound] {
        try await run { connection in
            try connection.query(
                """
                SELECT r.deployment, r.started_at, r.declared_model, r.cost_nanos, r.currency, r.detail FROM probe_rounds r
                JOIN (SELECT deployment, MAX(started_at) AS latest FROM probe_rounds GROUP BY deployment) l
                    ON r.deployment = l.deployment AND r.started_at = l.latest
                ORDER BY r.deployment
                """, []
            ).compactMap(Self.storedProbeRound)
        }
    }

    /// What probe rounds started at or after `since` cost, in `currency`.
    public func probeSpend(since: UnixMicros, currency: String) async throws -> Int64 {
        try await run { connection in
            try connection.query(
                "SELECT COALESCE(SUM(cost_nanos), 0) FROM probe_rounds WHERE started_at >= ? AND currency = ?",
                [.integer(since.value), .text(currency)]
            ).first?[0].integer ?? 0
        }
    }

    /// Error classes that say the provider failed (not the request, nor the gateway).
    static let providerErrorClasses = [
        "upstream_unavailable", "upstream_timeout", "upstream_error", "upstream_overloaded", "rate_limited",
        "stream_interrupted",
    ]

    /// `deployments`' traffic in the ledger since `since`: one scan of the window (the
    /// started_at index) for the sums, and one for the 95th percentile of answered latency.
    public func deploymentTraffic(_ deployments: [String], since: UnixMicros) async throws -> DeploymentTraffic {
        guard !deployments.isEmpty else { return DeploymentTraffic() }
        let marks = Array(repeating: "?", count: deployments.count).joined(separator: ", ")
        let errors = Self.providerErrorClasses.map { "'\($0)'" }.joined(separator: ", ")
        let binds = deployments.map { SQLValue.text($0) } + [.integer(since.value)]
        return try await run { connection in
            var traffic = DeploymentTraffic()
            let sums = try connection.query(
                """
                SELECT COUNT(*), COALESCE(SUM(CASE WHEN error_class IN (\(errors)) THEN 1 ELSE 0 END), 0),
                    COALESCE(SUM(input_tokens + output_tokens), 0), COALESCE(SUM(cost_nanos), 0), MIN(currency),
                    COUNT(DISTINCT started_at / 60000000),
                    COUNT(DISTINCT CASE WHEN status < 400 THEN started_at / 60000000 END),
                    COALESCE(SUM(CASE WHEN status < 400 THEN 1 ELSE 0 END), 0)
                FROM usage_records WHERE deployment IN (\(marks)) AND started_at >= ?
                """, binds)
            guard let row = sums.first else { return traffic }
            traffic.requests = row[0].integer ?? 0
            traffic.providerErrors = row[1].integer ?? 0
            traffic.tokens = row[2].integer ?? 0
            traffic.costNanos = row[3].integer ?? 0
            traffic.currency = row[4].text
            traffic.minutesWithTraffic = row[5].integer ?? 0
            traffic.minutesAnswered = row[6].integer ?? 0
            let answered = row[7].integer ?? 0
            if answered > 0 {
                // The nearest-rank percentile: the ⌈0.95·n⌉-th smallest.
                let offset = (answered * 95 + 99) / 100 - 1
                traffic.p95LatencyMicros =
                    try connection.query(
                        """
                        SELECT latency_us FROM usage_records WHERE deployment IN (\(marks)) AND started_at >= ? AND status < 400
                        ORDER BY latency_us LIMIT 1 OFFSET \(offset)
                        """, binds
                    ).first?[0].integer
            }
            return traffic
        }
    }

    static func storedProbeRound(_ row: SQLRow) -> StoredProbeRound? {
        guard row.values.count == 6, let deployment = row[0].text, let started = row[1].integer, let model = row[2].text,
            let cost = row[3].integer, let currency = row[4].text, let detail = row[5].text
        else { return nil }
        return StoredProbeRound(
            deployment: deployment, startedAt: UnixMicros(started), declaredModel: model, costNanos: cost, currency: currency,
            detail: detail)
    }
}
