/// The wire format a provider speaks.
public enum ProviderKind: String, Sendable, Hashable, CaseIterable {
    /// OpenAI's Chat Completions API: OpenAI itself, vLLM, llama.cpp, Ollama, DeepSeek, GLM, ...
    case openai
    /// Anthropic's Messages API (`/v1/messages`).
    case anthropic
    /// Google's Gemini API (`generateContent`), API-key authentication.
    case gemini
}

/// An upstream service Switchyard forwards requests to.
public struct Provider: Hashable, Sendable {
    public var name: String
    public var kind: ProviderKind
    /// Base URL up to and including the API version, e.g. `https://api.openai.com/v1`.
    public var baseURL: String
    /// Name of the environment variable holding the provider's API key, if it needs one.
    public var apiKeyEnv: String?
    public var region: String?
    /// Pooled keep-alive connections to this provider, at most.
    public var maxConnections: Int
    public var healthCheck: HealthCheck?

    public init(
        name: String, kind: ProviderKind, baseURL: String, apiKeyEnv: String? = nil, region: String? = nil,
        maxConnections: Int = 64, healthCheck: HealthCheck? = nil
    ) {
        self.name = name
        self.kind = kind
        self.baseURL = baseURL
        self.apiKeyEnv = apiKeyEnv
        self.region = region
        self.maxConnections = maxConnections
        self.healthCheck = healthCheck
    }
}

/// An active probe of a provider: `GET base_url + path` every `interval`; a failure ejects all of
/// the provider's deployments until a probe succeeds again.
public struct HealthCheck: Hashable, Sendable {
    public var path: String
    public var interval: Duration
    public var timeout: Duration

    public init(path: String = "/models", interval: Duration = .seconds(10), timeout: Duration = .seconds(2)) {
        self.path = path
        self.interval = interval
        self.timeout = timeout
    }
}

/// What a deployment can do; a request needing a capability is routed only where it is present.
public enum Capability: String, Sendable, Hashable, CaseIterable, Comparable {
    case tools
    case vision
    case jsonMode = "json_mode"
    case streaming

    public static func < (lhs: Capability, rhs: Capability) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// How long each phase of an upstream request may take.
public struct Timeouts: Hashable, Sendable {
    public var connect: Duration
    /// From request sent to response headers (prompt processing happens here).
    public var firstByte: Duration
    /// Longest silence between two chunks of a streamed response.
    public var idle: Duration
    /// The whole request, streaming included.
    public var total: Duration

    public init(
        connect: Duration = .seconds(5), firstByte: Duration = .seconds(60), idle: Duration = .seconds(30),
        total: Duration = .seconds(600)
    ) {
        self.connect = connect
        self.firstByte = firstByte
        self.idle = idle
        self.total = total
    }
}

/// When a deployment is taken out of rotation, and how it comes back.
public struct CircuitBreakerPolicy: Hashable, Sendable {
    /// Opens after this many failures in a row.
    public var consecutiveFailures: Int
    /// Or when at least `minimumRequests` in the last `window` failed at this rate (0...1).
    public var failureRate: Double
    public var minimumRequests: Int
    public var window: Duration
    /// How long it stays open before letting probes through.
    public var openDuration: Duration
    /// Successful probes needed to close again.
    public var halfOpenProbes: Int

    public init(
        consecutiveFailures: Int = 5, failureRate: Double = 0.5, minimumRequests: Int = 20, window: Duration = .seconds(30),
        openDuration: Duration = .seconds(30), halfOpenProbes: Int = 1
    ) {
        self.consecutiveFailures = consecutiveFailures
        self.failureRate = failureRate
        self.minimumRequests = minimumRequests
        self.window = window
        self.openDuration = openDuration
        self.halfOpenProbes = halfOpenProbes
    }
}

/// One model served by one provider, with its prices and limits.
public struct Deployment: Hashable, Sendable {
    public var name: String
    public var provider: String
    /// The model id the upstream expects.
    public var model: String
    public var contextWindow: Int?
    /// List prices over time; a request is priced at the entry in effect when it started.
    public var priceSchedule: PriceSchedule
    /// Self-hosted capacity paid by the hour or month, used or not.
    public var capacity: CapacityCost?
    public var capabilities: Set<Capability>
    /// Requests in flight at most; the deployment is skipped while full. Nil: unlimited.
    public var maxConcurrency: Int?
    /// When set (with `maxConcurrency`), requests that find every slot taken wait their turn.
    public var queue: AdmissionQueuePolicy?
    public var timeouts: Timeouts
    public var circuitBreaker: CircuitBreakerPolicy

    public init(
        name: String, provider: String, model: String, contextWindow: Int? = nil, prices: TokenPrices,
        capabilities: Set<Capability> = Set(Capability.allCases), maxConcurrency: Int? = nil, timeouts: Timeouts = Timeouts(),
        circuitBreaker: CircuitBreakerPolicy = CircuitBreakerPolicy()
    ) {
        self.name = name
        self.provider = provider
        self.model = model
        self.contextWindow = contextWindow
        self.priceSchedule = PriceSchedule(prices)
        self.capabilities = capabilities
        self.maxConcurrency = maxConcurrency
        self.timeouts = timeouts
        self.circuitBreaker = circuitBreaker
    }
}

extension Deployment {
    /// The prices in effect now.
    public var prices: TokenPrices { priceSchedule.prices(at: .now()) }
}

public enum RouteStrategy: String, Sendable, Hashable, CaseIterable {
    /// Targets in the configured order.
    case fallback
    /// First pick at random in proportion to the targets' weights (canary, A/B splits).
    case weighted
    /// Lowest expected cost for this request first.
    case cheapest
    /// Lowest recent latency (time to first token for streams) first.
    case fastest
    /// Fewest requests in flight relative to the deployment's concurrency limit first.
    case leastBusy = "least-busy"
    /// Most canary quality per unit of expected cost first.
    case qualityPerCost = "quality-per-cost"
}

/// `min_quality`: deployments whose canary quality score is known and below `score` do not
/// serve the route's requests of at least `fromTokens` prompt tokens (0: all of them).
public struct QualityFloor: Hashable, Sendable {
    public var score: Double
    public var fromTokens: Int

    public init(score: Double, fromTokens: Int = 0) {
        self.score = score
        self.fromTokens = fromTokens
    }
}

public struct RouteTarget: Hashable, Sendable {
    public var deployment: String
    public var weight: Int

    public init(_ deployment: String, weight: Int = 1) {
        self.deployment = deployment
        self.weight = weight
    }
}

/// How failed attempts are retried: on the next candidate, after a jittered exponential
/// backoff, within a budget that keeps retries a bounded fraction of the route's traffic.
public struct RetryPolicy: Hashable, Sendable {
    /// Attempts per request at most, the first included.
    public var maxAttempts: Int
    /// Retries allowed as a fraction of the route's recent requests…
    public var budgetRatio: Double
    /// …plus this many per second regardless, so a quiet route can still retry.
    public var minimumRetriesPerSecond: Int
    public var backoffBase: Duration
    public var backoffMax: Duration
    /// A `Retry-After` longer than this is not waited for: the next deployment is tried instead.
    public var maxRetryAfter: Duration

    public init(
        maxAttempts: Int = 3, budgetRatio: Double = 0.2, minimumRetriesPerSecond: Int = 3,
        backoffBase: Duration = .milliseconds(50), backoffMax: Duration = .seconds(2), maxRetryAfter: Duration = .seconds(10)
    ) {
        self.maxAttempts = maxAttempts
        self.budgetRatio = budgetRatio
        self.minimumRetriesPerSecond = minimumRetriesPerSecond
        self.backoffBase = backoffBase
        self.backoffMax = backoffMax
        self.maxRetryAfter = maxRetryAfter
    }
}

/// Hedged requests: when the first attempt has not answered in time, a second deployment is
/// tried too and the slower one cancelled. Non-streaming requests only.
public struct HedgePolicy: Hashable, Sendable {
    public enum Delay: Hashable, Sendable {
        /// The first deployment's recent 95th-percentile latency (the fixed value until it has data).
        case p95(fallback: Duration)
        case fixed(Duration)
    }

    public var delay: Delay

    public init(delay: Delay = .p95(fallback: .seconds(2))) { self.delay = delay }
}

/// Where a request may be served. Every set that is present must admit the deployment; the
/// tenant's and the route's rules both apply and no request hint can widen them.
public struct Residency: Hashable, Sendable {
    public var regions: Set<String>?
    public var providers: Set<String>?
    public var excludeProviders: Set<String>

    public init(regions: Set<String>? = nil, providers: Set<String>? = nil, excludeProviders: Set<String> = []) {
        self.regions = regions
        self.providers = providers
        self.excludeProviders = excludeProviders
    }

    /// Why `deployment` at `provider` is not allowed, or nil when it is.
    public func violation(_ deployment: Deployment, provider: Provider?) -> String? {
        if excludeProviders.contains(deployment.provider) { return "provider '\(deployment.provider)' is excluded" }
        if let providers, !providers.contains(deployment.provider) {
            return "provider '\(deployment.provider)' is not one of \(providers.sorted().joined(separator: ", "))"
        }
        if let regions {
            guard let region = provider?.region, regions.contains(region) else {
                return "region '\(provider?.region ?? "unknown")' is not one of \(regions.sorted().joined(separator: ", "))"
            }
        }
        return nil
    }
}

/// A model name clients ask for, mapped to the deployments that can serve it.
public struct Route: Hashable, Sendable {
    public var name: String
    public var strategy: RouteStrategy
    public var targets: [RouteTarget]
    public var retry: RetryPolicy
    public var hedge: HedgePolicy?
    public var residency: Residency?
    /// Deployments whose provider has a contract forecast to be under-used come first, ahead of
    /// the strategy's order, so committed spend is not wasted ("use it or lose it").
    public var preferCommitted: Bool
    public var minQuality: QualityFloor?

    public init(
        name: String, strategy: RouteStrategy = .fallback, targets: [RouteTarget], retry: RetryPolicy = RetryPolicy(),
        hedge: HedgePolicy? = nil, residency: Residency? = nil, preferCommitted: Bool = false
    ) {
        self.name = name
        self.strategy = strategy
        self.targets = targets
        self.retry = retry
        self.hedge = hedge
        self.residency = residency
        self.preferCommitted = preferCommitted
    }

    public var targetNames: [String] { targets.map(\.deployment) }
}

public struct Tenant: Hashable, Sendable {
    /// The reserved tenant canary probes are booked to: no configured tenant, key or scope may
    /// take its name.
    public static let probesTenant = "switchyard-probes"

    public var name: String
    /// Routes this tenant's keys may use; nil means every route.
    public var allowedRoutes: [String]?
    public var residency: Residency?
    /// Whether requests may pin a deployment or pick a strategy with headers.
    public var allowRoutingHints: Bool
    /// The projects keys of this tenant may be bound to.
    public var projects: [String]
    /// The tenant's share of queued capacity relative to other tenants (default 1).
    public var weight: Int = 1

    public init(
        name: String, allowedRoutes: [String]? = nil, residency: Residency? = nil, allowRoutingHints: Bool = true,
        projects: [String] = [], weight: Int = 1
    ) {
        self.name = name
        self.projects = projects
        self.weight = weight
        self.allowedRoutes = allowedRoutes
        self.residency = residency
        self.allowRoutingHints = allowRoutingHints
    }

    public func mayUse(route: String) -> Bool {
        allowedRoutes.map { $0.contains(route) } ?? true
    }
}
