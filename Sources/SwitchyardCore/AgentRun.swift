import Foundation

/// One agent run as the ledger keeps it: who ran it, when, and what it used and cost, over every
/// replica (the figures come from the stored records, not one replica's memory).
public struct AgentRun: Hashable, Sendable {
    public var tenant: String
    public var id: String
    /// The agent of the run's first key; nil when its key names none.
    public var agent: String?
    public var startedAt: UnixMicros
    public var lastActivity: UnixMicros
    public var requests: Int64 = 0
    /// Requests answered with an error status (4xx or 5xx, refusals included).
    public var errors: Int64 = 0
    public var inputTokens: Int64 = 0
    public var outputTokens: Int64 = 0
    /// Per currency, never added across currencies.
    public var costs: [Money] = []
    /// Requests that repeated a prompt often enough to flag the run as looping.
    public var loops: Int64
    public var lastStep: String?
    public var models: [String] = []
    public var hours: [Hour] = []
    /// What each step (`x-switchyard-step`) used and cost, in the order the steps began; read for
    /// one run (`runs show`), at most `maximumSteps` of them.
    public var steps: [Step] = []
    /// Steps beyond `maximumSteps`, not in `steps`.
    public var moreSteps = false
    public static let maximumSteps = 200
    /// The kill switch that stops the run, if one is engaged on its `run:` scope.
    public var stoppedBy: KillSwitch?

    /// The run's cost in one hour, in one currency.
    public struct Hour: Hashable, Sendable {
        public var start: UnixMicros
        public var requests: Int64
        public var cost: Money

        public init(start: UnixMicros, requests: Int64, cost: Money) {
            self.start = start
            self.requests = requests
            self.cost = cost
        }
    }

    /// One step of the run, in one currency: its requests from first to last.
    public struct Step: Hashable, Sendable {
        /// nil for the run's requests that named no step.
        public var name: String?
        public var firstAt: UnixMicros
        public var lastAt: UnixMicros
        public var requests: Int64
        public var errors: Int64
        public var inputTokens: Int64
        public var outputTokens: Int64
        public var cost: Money

        public init(
            name: String?, firstAt: UnixMicros, lastAt: UnixMicros, requests: Int64, errors: Int64, inputTokens: Int64,
            outputTokens: Int64, cost: Money
        ) {
            self.name = name
            self.firstAt = firstAt
            self.lastAt = lastAt
            self.requests = requests
            self.errors = errors
            self.inputTokens = inputTokens
            self.outputTokens = outputTokens
            self.cost = cost
        }
    }

    public init(
        tenant: String, id: String, agent: String?, startedAt: UnixMicros, lastActivity: UnixMicros, loops: Int64,
        lastStep: String?
    ) {
        self.tenant = tenant
        self.id = id
        self.agent = agent
        self.startedAt = startedAt
        self.lastActivity = lastActivity
        self.loops = loops
        self.lastStep = lastStep
    }

    public var scope: GovernanceScope { .run(tenant: tenant, run: id) }

    public var duration: Duration { .microseconds(max(0, lastActivity.value - startedAt.value)) }

    /// The run as a JSON object (`runs show --format json`, `GET /admin/v1/runs/…`); amounts are
    /// decimal strings with their nano-units beside them.
    public func jsonObject(withHours: Bool) -> [String: Any] {
        func money(_ cost: Money) -> [String: Any] {
            ["amount": cost.decimalString, "currency": cost.currency, "nanos": cost.nanos]
        }
        var object: [String: Any] = [
            "tenant": tenant, "run": id, "agent": agent ?? NSNull(), "started_at": startedAt.rfc3339Seconds,
            "last_activity": lastActivity.rfc3339Seconds, "duration_seconds": duration.components.seconds,
            "requests": requests, "errors": errors, "input_tokens": inputTokens, "output_tokens": outputTokens,
            "costs": costs.map(money), "loops": loops, "looping": loops > 0, "last_step": lastStep ?? NSNull(),
            "models": models, "stopped": stoppedBy != nil,
        ]
        if costs.count == 1 {
            object["cost"] = costs[0].decimalString
            object["currency"] = costs[0].currency
        }
        if let kill = stoppedBy {
            object["stopped_by"] = [
                "reason": kill.reason, "engaged_by": kill.engagedBy, "engaged_at": kill.engagedAt.rfc3339Seconds,
            ]
        }
        if withHours {
            object["hours"] = hours.map { hour -> [String: Any] in
                ["hour": hour.start.rfc3339Seconds, "requests": hour.requests, "cost": money(hour.cost)]
            }
            object["steps"] = steps.map { step -> [String: Any] in
                [
                    "step": step.name ?? NSNull(), "first_at": step.firstAt.rfc3339Seconds,
                    "last_at": step.lastAt.rfc3339Seconds, "requests": step.requests, "errors": step.errors,
                    "input_tokens": step.inputTokens, "output_tokens": step.outputTokens, "cost": money(step.cost),
                ]
            }
            object["more_steps"] = moreSteps
        }
        return object
    }

    /// Runs as a JSON array, keys sorted.
    public static func json(_ runs: [AgentRun], withHours: Bool) -> [UInt8] {
        let objects = runs.map { $0.jsonObject(withHours: withHours) }
        let data = (try? JSONSerialization.data(withJSONObject: objects, options: [.sortedKeys])) ?? Data("[]".utf8)
        return Array(data)
    }

    /// One run as a JSON object with its hours, keys sorted (`runs show`, `GET …/runs/{run}`).
    public var json: [UInt8] {
        let data = (try? JSONSerialization.data(withJSONObject: jsonObject(withHours: true), options: [.sortedKeys]))
        return Array(data ?? Data("{}".utf8))
    }
}

/// What the other replicas of a fleet have stored of one run, for the run rules here.
public struct RunShare: Hashable, Sendable {
    public var requests: Int64 = 0
    /// Per currency.
    public var costs: [Money] = []
    /// The run's first request on any replica, as stored.
    public var startedAt: UnixMicros?

    public init(requests: Int64 = 0, costs: [Money] = [], startedAt: UnixMicros? = nil) {
        self.requests = requests
        self.costs = costs
        self.startedAt = startedAt
    }
}
