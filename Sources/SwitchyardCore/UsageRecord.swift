/// One line of the usage ledger: what one request did and what it cost.
public struct UsageRecord: Hashable, Sendable, Codable {
    /// The request id, also returned to the client as `x-request-id`.
    public var id: String
    public var startedAt: UnixMicros
    public var finishedAt: UnixMicros
    /// Nil only for requests rejected before a key was recognised.
    public var tenant: String?
    public var agent: String?
    public var keyID: String?
    /// `chat.completions` or `embeddings`.
    public var endpoint: String
    public var route: String?
    public var deployment: String?
    public var provider: String?
    public var upstreamModel: String?
    public var streamed: Bool
    public var usage: TokenUsage
    public var cost: Money
    public var latencyMicros: Int64
    public var timeToFirstTokenMicros: Int64?
    /// The HTTP status returned to the client (499 when the client went away).
    public var status: Int
    public var errorClass: ErrorClass?
    public var tags: [String: String]
    /// Every upstream attempt, in the order they started (empty when none was made).
    public var attempts: [Attempt]
    /// The replica that served the request (`server.replica_id`); nil in records from before.
    public var replica: String?
    /// The W3C trace the request belonged to (32 hex digits): its own when traced, or the
    /// client's when passed through unsampled; nil otherwise and in records from before.
    public var traceID: String?
    /// The agent run the request belongs to (`x-switchyard-run`), and its step; nil when none.
    public var run: String?
    public var runStep: String?
    /// The request repeated a prompt its run had already sent `loop_repeats` times within the
    /// loop window: the run is looping.
    public var runLoop: Bool

    public init(
        id: String, startedAt: UnixMicros, finishedAt: UnixMicros, tenant: String?, agent: String?, keyID: String?,
        endpoint: String, route: String?, deployment: String?, provider: String?, upstreamModel: String?,
        streamed: Bool, usage: TokenUsage, cost: Money, latencyMicros: Int64, timeToFirstTokenMicros: Int64?,
        status: Int, errorClass: ErrorClass?, tags: [String: String], attempts: [Attempt] = [], replica: String? = nil,
        traceID: String? = nil, run: String? = nil, runStep: String? = nil, runLoop: Bool = false
    ) {
        self.id = id
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.tenant = tenant
        self.agent = agent
        self.keyID = keyID
        self.endpoint = endpoint
        self.route = route
        self.deployment = deployment
        self.provider = provider
        self.upstreamModel = upstreamModel
        self.streamed = streamed
        self.usage = usage
        self.cost = cost
        self.latencyMicros = latencyMicros
        self.timeToFirstTokenMicros = timeToFirstTokenMicros
        self.status = status
        self.errorClass = errorClass
        self.tags = tags
        self.attempts = attempts
        self.replica = replica
        self.traceID = traceID
        self.run = run
        self.runStep = runStep
        self.runLoop = runLoop
    }
}

extension UsageRecord {
    enum CodingKeys: String, CodingKey {
        case id, startedAt, finishedAt, tenant, agent, keyID, endpoint, route, deployment, provider, upstreamModel, streamed
        case usage, cost, latencyMicros, timeToFirstTokenMicros, status, errorClass, tags, attempts, replica, traceID
        case run, runStep, runLoop
    }

    /// Journal lines written before a field existed still decode: newer fields are optional here.
    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            id: try container.decode(String.self, forKey: .id),
            startedAt: try container.decode(UnixMicros.self, forKey: .startedAt),
            finishedAt: try container.decode(UnixMicros.self, forKey: .finishedAt),
            tenant: try container.decodeIfPresent(String.self, forKey: .tenant),
            agent: try container.decodeIfPresent(String.self, forKey: .agent),
            keyID: try container.decodeIfPresent(String.self, forKey: .keyID),
            endpoint: try container.decode(String.self, forKey: .endpoint),
            route: try container.decodeIfPresent(String.self, forKey: .route),
            deployment: try container.decodeIfPresent(String.self, forKey: .deployment),
            provider: try container.decodeIfPresent(String.self, forKey: .provider),
            upstreamModel: try container.decodeIfPresent(String.self, forKey: .upstreamModel),
            streamed: try container.decode(Bool.self, forKey: .streamed),
            usage: try container.decode(TokenUsage.self, forKey: .usage),
            cost: try container.decode(Money.self, forKey: .cost),
            latencyMicros: try container.decode(Int64.self, forKey: .latencyMicros),
            timeToFirstTokenMicros: try container.decodeIfPresent(Int64.self, forKey: .timeToFirstTokenMicros),
            status: try container.decode(Int.self, forKey: .status),
            errorClass: try container.decodeIfPresent(ErrorClass.self, forKey: .errorClass),
            tags: try container.decodeIfPresent([String: String].self, forKey: .tags) ?? [:],
            attempts: try container.decodeIfPresent([Attempt].self, forKey: .attempts) ?? [],
            replica: try container.decodeIfPresent(String.self, forKey: .replica),
            traceID: try container.decodeIfPresent(String.self, forKey: .traceID),
            run: try container.decodeIfPresent(String.self, forKey: .run),
            runStep: try container.decodeIfPresent(String.self, forKey: .runStep),
            runLoop: try container.decodeIfPresent(Bool.self, forKey: .runLoop) ?? false)
    }
}

/// One try at one deployment while serving a request.
public struct Attempt: Hashable, Sendable, Codable {
    public var deployment: String
    /// The upstream's HTTP status, when it answered.
    public var status: Int?
    public var errorClass: ErrorClass?
    public var latencyMicros: Int64
    /// Started as a hedge while an earlier attempt was still running.
    public var hedged: Bool

    public init(deployment: String, status: Int?, errorClass: ErrorClass?, latencyMicros: Int64, hedged: Bool = false) {
        self.deployment = deployment
        self.status = status
        self.errorClass = errorClass
        self.latencyMicros = latencyMicros
        self.hedged = hedged
    }
}
