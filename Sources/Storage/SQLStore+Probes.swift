import SwitchyardCore

/// A canary probe round as stored: its JSON is the Probes module's `ProbeRound`.
public struct StoredProbeRound: Sendable, Equatable {
    public var deployment: String
    public var startedAt: UnixMicros
    public var declaredModel: String
    /// What the round counts against the day's probe budget: while it runs, its worst case.
    public var costNanos: Int64
    public var currency: String
    /// The quality score in millionths; nil when nothing was answered.
    public var qualityPPM: Int64?
    /// The round raised drift: it is no one's baseline.
    public var drifted: Bool
    /// '' while the round runs.
    public var detail: String

    public init(
        deployment: String, startedAt: UnixMicros, declaredModel: String, costNanos: Int64, currency: String,
        qualityPPM: Int64? = nil, drifted: Bool = false, detail: String
    ) {
        self.deployment = deployment
        self.startedAt = startedAt
        self.declaredModel = declaredModel
        self.costNanos = costNanos
        self.currency = currency
        self.qualityPPM = qualityPPM
        self.drifted = drifted
        self.detail = detail
    }
}

extension SQLStore {
    static let probeRoundColumns = "deployment, started_at, declared_model, cost_nanos, currency, quality_ppm, drifted, detail"

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

    /// Writes a round: first as its reservation (detail ''), then whole.
    public func saveProbeRound(_ round: StoredProbeRound) async throws {
        try await run { connection in
            try connection.query(
                """
                INSERT INTO probe_rounds (\(Self.probeRoundColumns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (deployment, started_at) DO UPDATE SET declared_model = excluded.declared_model,
                    cost_nanos = excluded.cost_nanos, currency = excluded.currency, quality_ppm = excluded.quality_ppm,
                    drifted = excluded.drifted, detail = excluded.detail
                """,
                [
                    .text(round.deployment), .integer(round.startedAt.value), .text(round.declaredModel),
                    .integer(round.costNanos), .text(round.currency), round.qualityPPM.map { .integer($0) } ?? .null,
                    .integer(round.drifted ? 1 : 0), .text(round.detail),
                ])
        }
    }

    /// A deployment's baseline: its finished, scored rounds of one declared model that raised no
    /// drift, newest first.
    public func probeBaseline(deployment: String, declaredModel: String, limit: Int) async throws -> [StoredProbeRound] {
        let bounded = min(max(1, limit), 1000)
        return try await run { connection in
            try connection.query(
                """
                SELECT \(Self.probeRoundColumns) FROM probe_rounds
                WHERE deployment = ? AND declared_model = ? AND drifted = 0 AND quality_ppm IS NOT NULL AND detail <> ''
                ORDER BY started_at DESC LIMIT \(bounded)
                """, [.text(deployment), .text(declaredModel)]
            ).compactMap(Self.storedProbeRound)
        }
    }

    /// Each deployment's latest finished round.
    public func latestProbeRounds() async throws -> [StoredProbeRound] {
        try await run { connection in
            try connection.query(
                """
                SELECT r.deployment, r.started_at, r.declared_model, r.cost_nanos, r.currency, r.quality_ppm, r.drifted,
                    r.detail
                FROM probe_rounds r
                JOIN (SELECT deployment, MAX(started_at) AS latest FROM probe_rounds WHERE detail <> '' GROUP BY deployment) l
                    ON r.deployment = l.deployment AND r.started_at = l.latest
                ORDER BY r.deployment
                """, []
            ).compactMap(Self.storedProbeRound)
        }
    }

    /// Each probed deployment's latest quality score in millionths: that of its latest scored
    /// round, or 0 when it has finished rounds and none was scored (it never answered a probe).
    public func probeScores() async throws -> [String: Int64] {
        try await run { connection in
            var scores: [String: Int64] = [:]
            for row in try connection.query(
                "SELECT DISTINCT deployment FROM probe_rounds WHERE detail <> ''", [])
            {
                if let deployment = row[0].text { scores[deployment] = 0 }
            }
            for row in try connection.query(
                """
                SELECT r.deployment, r.quality_ppm FROM probe_rounds r
                JOIN (SELECT deployment, MAX(started_at) AS latest FROM probe_rounds
                      WHERE quality_ppm IS NOT NULL AND detail <> '' GROUP BY deployment) l
                    ON r.deployment = l.deployment AND r.started_at = l.latest
                """, [])
            {
                if let deployment = row[0].text, let ppm = row[1].integer { scores[deployment] = ppm }
            }
            return scores
        }
    }

    /// What probe rounds started at or after `since` count against the budget, in `currency`;
    /// a sum past Int64 reads as Int64.max (the budget is spent), never as nothing.
    public func probeSpend(since: UnixMicros, currency: String) async throws -> Int64 {
        try await run { connection in
            let value = try connection.query(
                "SELECT COALESCE(SUM(cost_nanos), 0) FROM probe_rounds WHERE started_at >= ? AND currency = ?",
                [.integer(since.value), .text(currency)]
            ).first?[0]
            guard let value else { return 0 }
            return value.integer ?? .max
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
                    COALESCE(SUM(CASE WHEN status < 400 THEN 1 ELSE 0 END), 0), COUNT(DISTINCT currency)
                FROM usage_records WHERE deployment IN (\(marks)) AND started_at >= ?
                """, binds)
            guard let row = sums.first else { return traffic }
            traffic.requests = row[0].integer ?? 0
            traffic.providerErrors = row[1].integer ?? 0
            traffic.tokens = row[2].integer ?? 0
            // A sum over several currencies is no amount: left out.
            traffic.costNanos = (row[8].integer ?? 0) > 1 ? 0 : row[3].integer ?? 0
            traffic.currency = (row[8].integer ?? 0) > 1 ? nil : row[4].text
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
        guard row.values.count == 8, let deployment = row[0].text, let started = row[1].integer, let model = row[2].text,
            let cost = row[3].integer, let currency = row[4].text, let detail = row[7].text
        else { return nil }
        return StoredProbeRound(
            deployment: deployment, startedAt: UnixMicros(started), declaredModel: model, costNanos: cost, currency: currency,
            qualityPPM: row[5].integer, drifted: row[6].integer == 1, detail: detail)
    }
}
