import Foundation
import SwitchyardCore

/// Everything `switchyard.yaml` declares, validated.
public struct SwitchyardConfiguration: Sendable {
    public var server: Server
    public var storage: Storage
    public var admin: Admin
    public var providers: [Provider]
    public var deployments: [Deployment]
    public var routes: [Route]
    public var tenants: [Tenant]
    public var commitments: [Commitment] = []
    public var finOps = FinOps()
    public var policies: [Policy] = []
    public var limits: [RateLimit] = []
    public var budgets: [Budget] = []
    public var governance = Governance()
    public var audit = Audit()
    public var observability = Observability()
    public var incidents = Incidents()
    public var probes = Probes()
    /// Deployments the file gives no price: they take their model's price from the catalog.
    public var unpricedDeployments: Set<String> = []
    /// The file it came from, or nil for the built-in defaults.
    public var sourcePath: String?

    public struct Server: Sendable, Equatable {
        public var host: String
        public var port: Int
        /// Largest request body accepted, in bytes.
        public var maxBodyBytes: Int
        /// A client connection with no request under way is closed after this long.
        public var idleTimeout: Duration = .seconds(75)
        /// A request must arrive whole within this long of its head.
        public var requestReadTimeout: Duration = .seconds(60)
        /// Client connections held at once, in all and from one address; more are closed at accept.
        public var maxConnections = 10_000
        public var maxConnectionsPerIP = 1_000
        /// After SIGTERM/SIGINT, how long the server keeps accepting and serving while `/readyz`
        /// says it is draining, so a load balancer stops sending before connections are refused.
        public var drainDelay: Duration = .zero
        /// Then, how long requests in flight (streams included) get to finish before their
        /// connections are closed, so the ledger's last flush runs inside an orchestrator's grace
        /// period (Kubernetes' default is 30 s: delay + timeout + up to 5 s to settle must fit).
        public var drainTimeout: Duration = .seconds(20)
        /// Written into every usage record, so a fleet's ledger says which replica served what.
        /// `server.replica_id`; by default the host's name and the listen port.
        public var replicaID: String {
            get { configuredReplicaID ?? "\(Self.hostName):\(port)" }
            set { configuredReplicaID = newValue }
        }
        var configuredReplicaID: String?

        static let hostName = ProcessInfo.processInfo.hostName

        public init(host: String = "127.0.0.1", port: Int = 8080, maxBodyBytes: Int = 4 * 1024 * 1024) {
            self.host = host
            self.port = port
            self.maxBodyBytes = maxBodyBytes
        }
    }

    public struct Storage: Sendable, Equatable {
        public var url: String
        /// Append-only file for usage records the store could not take yet.
        public var journalPath: String
        /// `storage.redis_url`: replicas share budgets through leases on this Redis. None: each
        /// replica keeps its own counters.
        public var redisURL: String?
        /// `storage.lease_seconds`: a replica that stops renewing its leases (it died) holds them this long.
        public var leaseSeconds: Int

        public init(
            url: String = "sqlite://./switchyard.db", journalPath: String = "./switchyard-journal.ndjson",
            redisURL: String? = nil, leaseSeconds: Int = 10
        ) {
            self.url = url
            self.journalPath = journalPath
            self.redisURL = redisURL
            self.leaseSeconds = leaseSeconds
        }
    }

    public struct Admin: Sendable, Equatable {
        /// Environment variable that holds the admin key.
        public var keyEnv: String?

        public init(keyEnv: String? = nil) { self.keyEnv = keyEnv }
    }

    public struct FinOps: Sendable, Equatable {
        /// Warn when one provider takes more than this share of spend or traffic.
        public var maxProviderShare: Decimal = Decimal(string: "0.6")!
        /// Where cost alerts (commitment forecasts) are POSTed as JSON.
        public var alertWebhook: String?
        /// How often provider contracts are checked (forecast, alerts, `prefer_committed`).
        public var checkInterval: Duration = .seconds(300)
        /// Caller-tag keys kept in the usage rollups that reports group by; nil keeps all.
        public var rollupTags: Set<String>?

        public init() {}
    }

    /// Who may read `/metrics`, which shows every tenant's spend.
    public struct Observability: Sendable, Equatable {
        /// A second listener serving `/metrics` (and the health probes) without credentials, for a
        /// scraper on a trusted network: loopback when only a port is given.
        public var metricsHost: String?
        public var metricsPort: Int?
        /// Environment variable holding a Bearer token that may read `/metrics` on the main listener
        /// (admin credentials not bound to a tenant may too).
        public var metricsTokenEnv: String?
        /// Traces exported over OTLP/HTTP; nil: off, unless the standard OTEL_EXPORTER_OTLP_*
        /// environment variables name an endpoint.
        public var tracing: Tracing?
        /// Metrics also pushed over OTLP/HTTP; nil: not, unless the OTEL_EXPORTER_OTLP_* variables
        /// name an endpoint. `/metrics` is served either way.
        public var otlpMetrics: OTLPMetrics?

        public init() {}
    }

    /// `incidents:`: anomalies in the gateway's traffic, their incidents and mitigations.
    public struct Incidents: Sendable, Equatable {
        public var enabled = true
        /// One baseline point per window (60 s: per minute; tests use 1 s).
        public var window: Duration = .seconds(60)
        /// `clock: manual`: windows close only when `POST /admin/v1/incidents/clock` says (tests
        /// and drills drive detection through simulated minutes in seconds).
        public var manualClock = false
        /// Band half-width in robust standard deviations.
        public var sensitivity = 4.0
        /// Windows out of band before an incident opens, and back in band before it resolves.
        public var consecutive = 3
        public var resolveAfter = 3
        /// Fewer requests in a window say nothing about a rate or a percentile.
        public var minimumRequests = 10
        /// Windows of history a baseline keeps.
        public var history = 30
        /// `mitigation.eject_deployment`: eject a deployment whose provider-side incident it is.
        public var ejectDeployments = false
        /// `mitigation.stop_agent`: engage the kill switch of an agent whose own traffic or cost surges.
        public var stopAgents = false
        /// `mitigation.shift_weight`: shift routes' traffic away from such a deployment instead
        /// (last in every route's order, still a fallback).
        public var shiftWeights = false
        /// `mitigation.stop_run`: engage the kill switch of a run that loops or whose cost accelerates.
        public var stopRuns = false
        /// `mitigation.eject_windows`: how long an ejection lasts before the deployment is tried again.
        public var ejectWindows = 5

        public init() {}
    }

    /// `probes`: canary-fact probes of each deployment's long-context recall (off unless declared).
    public struct Probes: Sendable, Equatable {
        public var enabled = false
        /// How often each deployment is probed (one round per interval across the fleet).
        public var interval: Duration = .seconds(3600)
        /// What probes may cost per UTC day, all deployments together, booked to the reserved
        /// tenant `switchyard-probes`.
        public var budgetPerDay = Money(nanos: 1_000_000_000, currency: "USD")
        /// Deployments probed; nil: all of them.
        public var deployments: [String]?
        /// Prompt lengths in tokens; nil: doubling from 256 to three quarters of each deployment's
        /// context window (at most 6).
        public var lengths: [Int]?
        /// Where the facts are planted (0: start, 1: end); one fact per depth.
        public var depths: [Double] = [0.1, 0.5, 0.9]
        /// Prompts per length each round.
        public var samples = 1
        public var maxOutputTokens = 64
        /// `drift`: when a round counts as "model changed".
        public var driftMinimumBaseline = 3
        public var driftSensitivity = 4.0
        public var driftQualityDrop = 0.2
        public var driftLengthShare = 0.5

        public init() {}
    }

    /// `observability.otlp_metrics`: push the metrics to an OpenTelemetry collector as well.
    public struct OTLPMetrics: Sendable, Equatable {
        /// The collector's OTLP/HTTP base URL (`/v1/metrics` is added); nil: the OTEL_* variables
        /// or the OpenTelemetry default (http://localhost:4318).
        public var endpoint: String?
        /// How often (OpenTelemetry's default: 60 s); `OTEL_METRIC_EXPORT_INTERVAL` wins.
        public var interval: Duration?

        public init() {}
    }

    public struct Tracing: Sendable, Equatable {
        /// The collector's OTLP/HTTP base URL (`/v1/traces` is added); nil: the OTEL_* environment
        /// variables or the OpenTelemetry default (http://localhost:4318).
        public var endpoint: String?
        /// The share of new traces kept (head sampling; a client's sampled flag is followed).
        public var sampleRatio: Double = 1
        public var serviceName: String?
        /// The tail rule: a request head sampling dropped is traced after all when it failed, or
        /// took longer than this to answer (its first token, for a stream).
        public var keepSlowerThanMilliseconds = 10_000
        /// At most this many traces kept by the tail rule a second (0: the tail rule is off).
        public var keepPerSecond = 10
        /// Whether policies may put prompt and answer content into spans (`trace_content`): the
        /// operator's say, since the collector is the operator's.
        public var allowContent = false

        public init() {}
    }

    public struct Governance: Sendable, Equatable {
        /// Where budget alerts are POSTed as JSON.
        public var alertWebhook: String?
        /// Output tokens assumed for a request that sets no maximum (worst-case cost, token limits).
        public var assumedOutputTokens = 4096

        public init() {}
    }

    /// The audit trail's protection against someone who can write the database.
    public struct Audit: Sendable, Equatable {
        /// Environment variable holding the audit key(s), comma-separated: the first signs, all verify.
        public var keyEnv: String?
        /// File that signed checkpoints of the chain's head are appended to.
        public var checkpointFile: String?
        /// Whether checkpoints are also POSTed to `governance.alert_webhook`.
        public var checkpointToAlertWebhook = false
        /// A checkpoint is written once the head has moved this many entries...
        public var checkpointEveryEntries = 1000
        /// ...or this long after the last one, when the head has moved at all.
        public var checkpointInterval: Duration = .seconds(60)

        public init() {}

        public var writesCheckpoints: Bool { checkpointFile != nil || checkpointToAlertWebhook }

        /// The keys the variable `keyEnv` names holds in `environment`; nil when no key is configured.
        public func keyring(
            environment: [String: String] = ProcessInfo.processInfo.environment
        ) throws(AuditKeyring.Problem) -> AuditKeyring? {
            guard let keyEnv else { return nil }
            guard let value = environment[keyEnv], !value.isEmpty else {
                throw AuditKeyring.Problem("audit.key_env names \(keyEnv), which is not set")
            }
            do {
                return try AuditKeyring(value)
            } catch {
                throw AuditKeyring.Problem("\(keyEnv) (audit.key_env): \(error.description)")
            }
        }
    }

    public init(
        server: Server = Server(), storage: Storage = Storage(), admin: Admin = Admin(), providers: [Provider] = [],
        deployments: [Deployment] = [], routes: [Route] = [], tenants: [Tenant] = [], sourcePath: String? = nil
    ) {
        self.server = server
        self.storage = storage
        self.admin = admin
        self.providers = providers
        self.deployments = deployments
        self.routes = routes
        self.tenants = tenants
        self.sourcePath = sourcePath
    }

    /// The configuration `switchyard serve` runs with when there is no file.
    public static let builtInDefault = SwitchyardConfiguration()

    public func provider(named name: String) -> Provider? { providers.first { $0.name == name } }
    public func deployment(named name: String) -> Deployment? { deployments.first { $0.name == name } }
    public func route(named name: String) -> Route? { routes.first { $0.name == name } }
    public func tenant(named name: String) -> Tenant? { tenants.first { $0.name == name } }
}
