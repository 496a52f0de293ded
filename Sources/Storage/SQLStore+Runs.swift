import SwitchyardCore

/// What one ledger batch adds to the agent runs it names: a `runs` row per run, a `run_hours`
/// row per run, hour, model, currency and writer (this process), and a `run_steps` row per run,
/// step and currency, each written once per batch whatever the number of its records. Built
/// from the records the batch actually inserted (`insertUsage`), so a journal
/// replay adds nothing twice.
struct RunDeltas {
    struct RunKey: Hashable {
        var tenant: String
        var run: String
    }

    struct RunDelta {
        var agent: String?
        var startedAt: Int64
        var lastActivity: Int64
        var loops: Int64 = 0
        var lastStep: String?
    }

    struct HourKey: Hashable {
        var run: RunKey
        var hour: Int64
        var model: String
        var currency: String
        var writer: String
    }

    /// A run's figures over some of its records (an hour's, a step's).
    struct RunFigures {
        var requests: Int64 = 0
        var errors: Int64 = 0
        var inputTokens: Int64 = 0
        var outputTokens: Int64 = 0
        var costNanos: Int64 = 0

        mutating func add(_ record: UsageRecord) {
            requests += 1
            if record.status >= 400 { errors += 1 }
            inputTokens += Int64(record.usage.inputTokens)
            outputTokens += Int64(record.usage.outputTokens)
            costNanos += record.cost.nanos
        }
    }

    /// `SQLStore.writerID`, for the records of this process: those started since `since`, when
    /// it opened the store. Older ones (a predecessor's, replayed) go under `writer` + `-before`,
    /// so this process reads them as the rest of the fleet's share, which its memory lacks.
    let writer: String
    let since: UnixMicros
    private(set) var runs: [RunKey: RunDelta] = [:]
    private(set) var hours: [HourKey: RunFigures] = [:]
    private(set) var steps: [StepKey: StepDelta] = [:]

    struct StepKey: Hashable {
        var run: RunKey
        /// '' for requests without a step.
        var step: String
        var currency: String
    }

    struct StepDelta {
        var firstAt: Int64
        var lastAt: Int64
        var figures = RunFigures()
    }

    mutating func add(_ record: UsageRecord) {
        guard let run = record.run, let tenant = record.tenant else { return }
        let key = RunKey(tenant: tenant, run: run)
        var delta =
            runs[key]
            ?? RunDelta(
                agent: record.agent, startedAt: record.startedAt.value, lastActivity: record.finishedAt.value,
                lastStep: record.runStep)
        delta.startedAt = min(delta.startedAt, record.startedAt.value)
        if record.finishedAt.value >= delta.lastActivity {
            delta.lastActivity = record.finishedAt.value
            delta.lastStep = record.runStep ?? delta.lastStep
        }
        if delta.agent == nil { delta.agent = record.agent }
        if record.runLoop { delta.loops += 1 }
        runs[key] = delta
        let hourKey = HourKey(
            run: key, hour: CalendarPeriod.hour(containing: record.startedAt).start.value,
            model: record.upstreamModel ?? "", currency: record.cost.currency,
            writer: record.startedAt >= since ? writer : writer + "-before")
        hours[hourKey, default: RunFigures()].add(record)
        let stepKey = StepKey(run: key, step: record.runStep ?? "", currency: record.cost.currency)
        var step = steps[stepKey] ?? StepDelta(firstAt: record.startedAt.value, lastAt: record.finishedAt.value)
        step.firstAt = min(step.firstAt, record.startedAt.value)
        step.lastAt = max(step.lastAt, record.finishedAt.value)
        step.figures.add(record)
        steps[stepKey] = step
    }

    /// The upserts, in a fixed order (runs, then hours, each sorted) so that two batches naming
    /// the same runs take their row locks in the same order.
    var statements: [(String, [SQLValue])] {
        let runRows = runs.sorted { ($0.key.tenant, $0.key.run) < ($1.key.tenant, $1.key.run) }.map { key, delta in
            (
                Self.runUpsert,
                [
                    .text(key.tenant), .text(key.run), .optional(delta.agent), .integer(delta.startedAt),
                    .integer(delta.lastActivity), .integer(delta.loops), .optional(delta.lastStep),
                ] as [SQLValue]
            )
        }
        let hourRows = hours.sorted {
            ($0.key.run.tenant, $0.key.run.run, $0.key.hour, $0.key.model, $0.key.currency, $0.key.writer)
                < ($1.key.run.tenant, $1.key.run.run, $1.key.hour, $1.key.model, $1.key.currency, $1.key.writer)
        }.map { key, delta in
            (
                Self.hourUpsert,
                [
                    .text(key.run.tenant), .text(key.run.run), .integer(key.hour), .text(key.model), .text(key.currency),
                    .text(key.writer), .integer(delta.requests), .integer(delta.errors), .integer(delta.inputTokens),
                    .integer(delta.outputTokens), .integer(delta.costNanos),
                ] as [SQLValue]
            )
        }
        let stepRows = steps.sorted {
            ($0.key.run.tenant, $0.key.run.run, $0.key.step, $0.key.currency)
                < ($1.key.run.tenant, $1.key.run.run, $1.key.step, $1.key.currency)
        }
        // Many rows a statement: a client may name a new step with every request.
        let stepStatements = SQLStore.multiRowStatements(stepRows, texts: Self.stepUpserts, columns: 11) { key, delta in
            [
                .text(key.run.tenant), .text(key.run.run), .text(key.step), .text(key.currency), .integer(delta.firstAt),
                .integer(delta.lastAt), .integer(delta.figures.requests), .integer(delta.figures.errors),
                .integer(delta.figures.inputTokens), .integer(delta.figures.outputTokens), .integer(delta.figures.costNanos),
            ]
        }
        return runRows + hourRows + stepStatements
    }

    /// Assignments read the row as it was (both engines), so `last_step` compares against the old
    /// `last_activity`.
    static let runUpsert = """
        INSERT INTO runs (tenant, run_id, agent, started_at, last_activity, loops, last_step) VALUES (?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (tenant, run_id) DO UPDATE SET
            agent = COALESCE(runs.agent, excluded.agent),
            started_at = CASE WHEN excluded.started_at < runs.started_at THEN excluded.started_at ELSE runs.started_at END,
            last_step = CASE WHEN excluded.last_activity >= runs.last_activity
                THEN COALESCE(excluded.last_step, runs.last_step) ELSE runs.last_step END,
            last_activity = CASE WHEN excluded.last_activity > runs.last_activity
                THEN excluded.last_activity ELSE runs.last_activity END,
            loops = runs.loops + excluded.loops
        """

    static let hourUpsert = """
        INSERT INTO run_hours (tenant, run_id, hour_start, model, currency, writer, requests, errors, input_tokens,
            output_tokens, cost_nanos) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (tenant, run_id, hour_start, model, currency, writer) DO UPDATE SET
            requests = run_hours.requests + excluded.requests, errors = run_hours.errors + excluded.errors,
            input_tokens = run_hours.input_tokens + excluded.input_tokens,
            output_tokens = run_hours.output_tokens + excluded.output_tokens,
            cost_nanos = run_hours.cost_nanos + excluded.cost_nanos
        """

    /// Upserts of 1 to 100 step rows (`SQLStore.statementRowCounts`), each text built once. No two
    /// rows of a statement share a key (PostgreSQL refuses to update a row twice in one).
    static let stepUpserts = SQLStore.multiRowTexts(columns: 11) { values in
        """
        INSERT INTO run_steps (tenant, run_id, step, currency, first_at, last_at, requests, errors, input_tokens,
            output_tokens, cost_nanos) VALUES \(values)
        ON CONFLICT (tenant, run_id, step, currency) DO UPDATE SET
            first_at = CASE WHEN excluded.first_at < run_steps.first_at THEN excluded.first_at ELSE run_steps.first_at END,
            last_at = CASE WHEN excluded.last_at > run_steps.last_at THEN excluded.last_at ELSE run_steps.last_at END,
            requests = run_steps.requests + excluded.requests, errors = run_steps.errors + excluded.errors,
            input_tokens = run_steps.input_tokens + excluded.input_tokens,
            output_tokens = run_steps.output_tokens + excluded.output_tokens,
            cost_nanos = run_steps.cost_nanos + excluded.cost_nanos
        """
    }
}

/// Which runs to list.
public struct RunQuery: Sendable {
    public var tenant: String?
    public var agent: String?
    /// Only runs active at or after this time.
    public var activeSince: UnixMicros?
    public var limit: Int

    /// The most runs one listing returns.
    public static let maximumLimit = 1000

    public init(tenant: String? = nil, agent: String? = nil, activeSince: UnixMicros? = nil, limit: Int = 50) {
        self.tenant = tenant
        self.agent = agent
        self.activeSince = activeSince
        self.limit = min(max(1, limit), Self.maximumLimit)
    }
}

extension SQLStore {
    /// Runs, most recently active first, at most `query.limit`, with their totals and hours.
    public func runs(_ query: RunQuery) async throws -> [AgentRun] {
        var clauses: [String] = []
        var binds: [SQLValue] = []
        if let tenant = query.tenant {
            clauses.append("tenant = ?")
            binds.append(.text(tenant))
        }
        if let agent = query.agent {
            clauses.append("agent = ?")
            binds.append(.text(agent))
        }
        if let since = query.activeSince {
            clauses.append("last_activity >= ?")
            binds.append(.integer(since.value))
        }
        let filter = clauses.isEmpty ? "" : " WHERE " + clauses.joined(separator: " AND ")
        let sql = """
            SELECT tenant, run_id, agent, started_at, last_activity, loops, last_step FROM runs\(filter)
            ORDER BY last_activity DESC, tenant, run_id LIMIT \(query.limit)
            """
        let values = binds
        let runs = try await run(.reports) { connection in
            var runs = try connection.query(sql, values).map(Self.agentRun)
            try Self.addHours(to: &runs, connection: connection)
            return runs
        }
        return try await withKillSwitches(runs)
    }

    /// The runs named `id`: one per tenant that has such a run, or only `tenant`'s.
    public func runs(id: String, tenant: String? = nil) async throws -> [AgentRun] {
        var sql = "SELECT tenant, run_id, agent, started_at, last_activity, loops, last_step FROM runs WHERE run_id = ?"
        var binds: [SQLValue] = [.text(id)]
        if let tenant {
            sql += " AND tenant = ?"
            binds.append(.text(tenant))
        }
        let (text, values) = (sql + " ORDER BY tenant LIMIT 100", binds)
        let runs = try await run(.reports) { connection in
            var runs = try connection.query(text, values).map(Self.agentRun)
            try Self.addHours(to: &runs, connection: connection)
            // Steps only for one run: several of that id answer a conflict (`--tenant` needed), not a page of steps each.
            if runs.count == 1 { try Self.addSteps(to: &runs[0], connection: connection) }
            return runs
        }
        return try await withKillSwitches(runs)
    }

    /// What every process but this one (`writerID`) has stored of each of `runs` (`run:` scopes):
    /// the other replicas', and this replica's before a restart. Requests and cost per currency,
    /// and the run's first request anywhere; read 100 runs at a time from `run_hours` and `runs`,
    /// a few rows per run.
    public func runShares(of runs: [GovernanceScope]) async throws -> [GovernanceScope: RunShare] {
        let writer = writerID
        let filters = Self.runFilters(runs)
        guard !filters.isEmpty else { return [:] }
        return try await run(.reports) { connection in
            var shares: [GovernanceScope: RunShare] = [:]
            for (matches, binds) in filters {
                for row in try connection.query(
                    """
                    SELECT tenant, run_id, currency, SUM(requests), SUM(cost_nanos) FROM run_hours
                    WHERE writer <> ? AND (\(matches)) GROUP BY tenant, run_id, currency
                    """, [.text(writer)] + binds)
                {
                    let scope = GovernanceScope.run(tenant: row[0].text ?? "", run: row[1].text ?? "")
                    shares[scope, default: RunShare()].requests += row[3].integer ?? 0
                    shares[scope, default: RunShare()].costs.append(
                        Money(nanos: row[4].integer ?? 0, currency: row[2].text ?? ""))
                }
                for row in try connection.query("SELECT tenant, run_id, started_at FROM runs WHERE \(matches)", binds) {
                    let scope = GovernanceScope.run(tenant: row[0].text ?? "", run: row[1].text ?? "")
                    shares[scope, default: RunShare()].startedAt = row[2].integer.map(UnixMicros.init)
                }
            }
            return shares
        }
    }

    /// Releases (audited, as `switchyard`) the switches that run rules engaged on runs with no
    /// request since `idleSince`: a run that stopped sending is over, and its switch would only
    /// grow the table every replica reloads. At most `limit` a call; returns their scopes.
    public func releaseIdleRunSwitches(idleSince: UnixMicros, limit: Int = 1_000) async throws -> [GovernanceScope] {
        // Runs still active are left out here, so they never crowd quiet ones out of the limit.
        let candidates = try await run { connection in
            try connection.query(
                """
                SELECT k.scope FROM kill_switches k
                WHERE k.engaged_by = 'switchyard' AND k.scope LIKE 'run:%' AND k.engaged_at < ?
                AND NOT EXISTS (SELECT 1 FROM runs r
                    WHERE 'run:' || r.tenant || '/' || r.run_id = k.scope AND r.last_activity >= ?)
                ORDER BY k.engaged_at LIMIT \(max(1, limit))
                """, [.integer(idleSince.value), .integer(idleSince.value)]
            ).compactMap { $0[0].text.flatMap(GovernanceScope.init) }
        }
        var released: [GovernanceScope] = []
        for scope in candidates {
            // One that cannot be released now is tried again at the next pass; the others go on.
            if (try? await releaseKillSwitch(scope, principal: "switchyard")) != nil { released.append(scope) }
        }
        return released
    }

    private func withKillSwitches(_ runs: [AgentRun]) async throws -> [AgentRun] {
        guard !runs.isEmpty else { return runs }
        let kills = Dictionary(
            try await killSwitches().map { ($0.scope, $0) }, uniquingKeysWith: { first, _ in first })
        return runs.map { run in
            var run = run
            run.stoppedBy = kills[run.scope]
            return run
        }
    }

    private static func agentRun(_ row: SQLRow) -> AgentRun {
        AgentRun(
            tenant: row[0].text ?? "", id: row[1].text ?? "", agent: row[2].text,
            startedAt: UnixMicros(row[3].integer ?? 0), lastActivity: UnixMicros(row[4].integer ?? 0),
            loops: row[5].integer ?? 0, lastStep: row[6].text)
    }

    /// `(tenant = ? AND run_id = ?) OR …` for `runs` (`run:` scopes), 100 runs a filter: a few
    /// statements whatever the number of runs, each under the engines' parameter limits.
    static func runFilters(_ runs: [GovernanceScope]) -> [(sql: String, binds: [SQLValue])] {
        let pairs: [(String, String)] = runs.compactMap { scope in
            if case .run(let tenant, let run) = scope { (tenant, run) } else { nil }
        }
        return stride(from: 0, to: pairs.count, by: 100).map { start in
            let chunk = pairs[start..<min(start + 100, pairs.count)]
            return (
                Array(repeating: "(tenant = ? AND run_id = ?)", count: chunk.count).joined(separator: " OR "),
                chunk.flatMap { [SQLValue.text($0.0), .text($0.1)] }
            )
        }
    }

    /// `run`'s steps from its `run_steps` rows, in the order they began: at most
    /// `AgentRun.maximumSteps` (a client names steps freely; a page of them is shown).
    private static func addSteps(to run: inout AgentRun, connection: SQLConnection) throws {
        let rows = try connection.query(
            """
            SELECT step, currency, first_at, last_at, requests, errors, input_tokens, output_tokens, cost_nanos
            FROM run_steps WHERE tenant = ? AND run_id = ? ORDER BY first_at, step, currency LIMIT \(AgentRun.maximumSteps + 1)
            """, [.text(run.tenant), .text(run.id)])
        run.moreSteps = rows.count > AgentRun.maximumSteps
        run.steps = rows.prefix(AgentRun.maximumSteps).map { row in
            let name = row[0].text ?? ""
            return AgentRun.Step(
                name: name.isEmpty ? nil : name, firstAt: UnixMicros(row[2].integer ?? 0),
                lastAt: UnixMicros(row[3].integer ?? 0), requests: row[4].integer ?? 0, errors: row[5].integer ?? 0,
                inputTokens: row[6].integer ?? 0, outputTokens: row[7].integer ?? 0,
                cost: Money(nanos: row[8].integer ?? 0, currency: row[1].text ?? ""))
        }
    }

    /// Totals, models and the hourly series of `runs`, from their `run_hours` rows (a few per
    /// hour of each run), read 100 runs at a time.
    private static func addHours(to runs: inout [AgentRun], connection: SQLConnection) throws {
        let index = Dictionary(runs.enumerated().map { ($1.scope, $0) }, uniquingKeysWith: { first, _ in first })
        for (matches, binds) in runFilters(runs.map(\.scope)) {
            let rows = try connection.query(
                """
                SELECT tenant, run_id, hour_start, model, currency, requests, errors, input_tokens, output_tokens, cost_nanos
                FROM run_hours WHERE \(matches) ORDER BY hour_start, currency, model
                """, binds)
            for row in rows {
                let scope = GovernanceScope.run(tenant: row[0].text ?? "", run: row[1].text ?? "")
                guard let position = index[scope] else { continue }
                let hour = UnixMicros(row[2].integer ?? 0)
                let model = row[3].text ?? ""
                let cost = Money(nanos: row[9].integer ?? 0, currency: row[4].text ?? "")
                let requests = row[5].integer ?? 0
                var run = runs[position]
                run.requests += requests
                run.errors += row[6].integer ?? 0
                run.inputTokens += row[7].integer ?? 0
                run.outputTokens += row[8].integer ?? 0
                if !model.isEmpty, !run.models.contains(model) { run.models.append(model) }
                if let existing = run.costs.firstIndex(where: { $0.currency == cost.currency }) {
                    run.costs[existing].nanos += cost.nanos
                } else {
                    run.costs.append(cost)
                }
                if let last = run.hours.indices.last, run.hours[last].start == hour,
                    run.hours[last].cost.currency == cost.currency
                {
                    run.hours[last].requests += requests
                    run.hours[last].cost.nanos += cost.nanos
                } else {
                    run.hours.append(AgentRun.Hour(start: hour, requests: requests, cost: cost))
                }
                runs[position] = run
            }
        }
        for position in runs.indices {
            runs[position].models.sort()
            // A refusal costs nothing in the default currency: not a currency the run paid in.
            if runs[position].costs.count > 1 { runs[position].costs.removeAll { $0.nanos == 0 } }
        }
    }
}
