import Foundation
import Governance
import HTTPTypes
import Hummingbird
import Incidents
import Ingress
import Ledger
import Logging
import NIOCore
import Observability
import Providers
import Routing
import Storage
import SwitchyardConfig
import SwitchyardCore
import Telemetry
import Tracing
import WireFormats

/// The data plane: everything a request needs, shared by all requests, immutable once built.
public final class Gateway: Sendable {
    package let configuration: SwitchyardConfiguration
    /// The plan stage's route and candidates.
    let routes: RouteSelection
    package let monitor: DeploymentMonitor
    /// Set when traces are exported (`observability.tracing`, or the OTLP environment variables).
    let tracer: SpanRecorder?
    let traceSampler: TraceSampler
    /// The tail rule (nil: off).
    let traceTail: TraceTail?
    /// Policies may put content into spans (`observability.tracing.allow_content`).
    let traceContentAllowed: Bool
    /// The exporter of what `tracer` records, for its counts in the metrics.
    let traceExporter: OTLPTraceExporter?
    /// Each provider's kind by name, for `gen_ai.provider.name`.
    let tracedProviders: [String: TracedProvider]
    /// The execute stage.
    let executor: UpstreamExecutor
    package let adapters: [String: ProviderAdapter]
    package let transport: any UpstreamTransport
    package let keys: KeyDirectory
    let usageSink: any UsageSink
    package let store: SQLStore
    /// The store's last known state, for readiness and the verbose health check.
    let storeHealth: StoreHealth
    /// A graceful shutdown's progress: readiness turns false while the server drains, and a
    /// request cancelled by the drain timeout is booked as cut, not as its client's departure.
    let shutdown: ShutdownState
    /// Written into every usage record (`server.replica_id`), resolved once.
    let replicaID: String
    package let metrics: MetricsRegistry
    /// The swift-metrics backend over `metrics`, which the request path records through.
    package let metricsFactory: RegistryMetricsFactory
    /// The settle stage's metrics and log line.
    let observer: RequestObserver
    package let governor: Governor
    /// The guard stage.
    let contentGuard: ContentGuard
    /// The caps on client connections the ingress enforces at accept, and their counts.
    public let connectionLimits: IngressConnectionLimits
    package let logger: Logger
    /// Where log lines go, when they go through one (its losses are exported with the metrics).
    let logWriter: LogWriter?
    /// The process environment, read for the admin key at each admin request.
    package let environment: [String: String]
    let decoder = JSONDecoder()

    /// The tenants in force: live governance state, which the admin API and `config apply` change.
    package var tenants: [String: Tenant] { governor.tenants }

    /// One tenant in force.
    package func tenant(named name: String) -> Tenant? { governor.tenant(named: name) }

    /// The traffic incidents are found in, counted per window at settlement (nil: detection off).
    package var traffic: TrafficRecorder? { observer.traffic }

    public init(
        configuration: SwitchyardConfiguration, store: SQLStore, keys: KeyDirectory, usageSink: any UsageSink,
        transport: any UpstreamTransport, metrics: MetricsRegistry = MetricsRegistry(), governor: Governor? = nil,
        fleetSlots: FleetSlots? = nil, traces: Traces? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment, logger: Logger,
        logWriter: LogWriter? = nil
    ) {
        self.governor =
            governor
            ?? Governor(
                tenants: configuration.tenants, policies: configuration.policies, limits: configuration.limits,
                budgets: configuration.budgets,
                assumedOutputTokens: configuration.governance.assumedOutputTokens)
        let metricsFactory = RegistryMetricsFactory(registry: metrics, catalog: MetricFamilies.catalog)
        self.metricsFactory = metricsFactory
        self.contentGuard = ContentGuard(governor: self.governor, metrics: metricsFactory)
        self.configuration = configuration
        self.connectionLimits = IngressConnectionLimits(
            caps: .init(total: configuration.server.maxConnections, perAddress: configuration.server.maxConnectionsPerIP))
        self.observer = RequestObserver(
            metrics: metricsFactory,
            requestSeries: RequestSeriesCache(
                factory: metricsFactory,
                providerKinds: Dictionary(
                    configuration.providers.map { ($0.name, GenAIAttributes.providerName(of: $0.kind)) },
                    uniquingKeysWith: { first, _ in first })),
            configuration: configuration,
            logger: logger, traffic: configuration.incidents.enabled ? TrafficRecorder() : nil)
        self.monitor = DeploymentMonitor(deployments: configuration.deployments, fleet: fleetSlots)
        self.tracer = traces?.recorder
        self.traceExporter = traces?.exporter
        self.traceSampler = TraceSampler(
            ratio: traces?.sampling.ratio ?? 1, followsParent: traces?.sampling.followsParent ?? true)
        let tracing = configuration.observability.tracing
        self.traceContentAllowed = tracing?.allowContent ?? false
        if !traceContentAllowed {
            for policy in configuration.policies where policy.traceContent == true {
                logger.warning(
                    "policy sets trace_content but observability.tracing.allow_content is off: no content is traced",
                    metadata: ["policy": "\(policy.name)"])
            }
        }
        self.traceTail =
            traces?.tailRule == true && (tracing?.keepPerSecond ?? 10) > 0
            ? TraceTail(
                slowerThan: .milliseconds(tracing?.keepSlowerThanMilliseconds ?? 10_000),
                perSecond: tracing?.keepPerSecond ?? 10)
            : nil
        self.tracedProviders = Dictionary(
            configuration.providers.map { ($0.name, TracedProvider($0)) }, uniquingKeysWith: { first, _ in first })
        self.routes = RouteSelection(
            planner: RoutePlanner(
                routes: configuration.routes, deployments: configuration.deployments, providers: configuration.providers),
            monitor: monitor, governor: self.governor)
        self.adapters = Dictionary(
            configuration.providers.map { ($0.name, ProviderAdapter(provider: $0, environment: environment)) },
            uniquingKeysWith: { first, _ in first })
        let shutdown = ShutdownState()
        self.shutdown = shutdown
        self.replicaID = configuration.server.replicaID
        self.executor = UpstreamExecutor(
            monitor: monitor, adapters: adapters,
            transport: transport,
            retryBudgets: Dictionary(
                configuration.routes.map { ($0.name, RetryBudget(policy: $0.retry)) }, uniquingKeysWith: { first, _ in first }),
            governor: self.governor, shutdown: shutdown, logger: logger)
        self.store = store
        self.storeHealth = StoreHealth { (try? await store.schemaVersion()) != nil }
        self.keys = keys
        self.usageSink = usageSink
        self.transport = transport
        self.metrics = metrics
        self.logger = logger
        self.logWriter = logWriter
        self.environment = environment
    }

    /// The HTTP routes of the data plane, and those of `others` (the control plane's).
    func makeRouter(serving others: [any ServedRoutes] = []) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        for route in fixedRoutes + others.flatMap(\.fixedRoutes) {
            let handle = route.handle
            router.on(RouterPath(route.path), method: route.method) { request, _ in await handle(request) }
        }
        for routes in others { routes.register(on: router) }
        return router
    }

    /// What the server answers with: `makeRouter(serving:)`'s routes, the fixed ones found by
    /// exact method and path before the router's path resolution is asked.
    public func makeResponder(serving others: [any ServedRoutes] = []) -> GatewayResponder<RouterResponder<BasicRequestContext>> {
        GatewayResponder(
            fixedRoutes: fixedRoutes + others.flatMap(\.fixedRoutes), router: makeRouter(serving: others).buildResponder())
    }

    /// The HTTP server `serve` runs: the data plane's routes and those of `others` behind the
    /// ingress, with the configuration's address, body limit, timeouts and connection caps.
    public func makeServer(
        serving others: [any ServedRoutes] = [], onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> IngressServer<GatewayResponder<RouterResponder<BasicRequestContext>>> {
        IngressServer(
            responder: makeResponder(serving: others), host: configuration.server.host, port: configuration.server.port,
            maxBodyBytes: configuration.server.maxBodyBytes, timeouts: ingressTimeouts, refusalBody: OpenAIError.body(of:),
            limits: connectionLimits, logger: logger,
            drain: IngressDrain(
                delay: configuration.server.drainDelay, timeout: configuration.server.drainTimeout,
                onStart: { [shutdown] in shutdown.startDraining() }, onCut: { [shutdown] in shutdown.startCutting() }),
            onServerRunning: onServerRunning)
    }

    /// How long the ingress lets a connection idle, and a request take to arrive.
    public var ingressTimeouts: IngressTimeouts {
        IngressTimeouts(idle: configuration.server.idleTimeout, requestRead: configuration.server.requestReadTimeout)
    }

    /// The data plane's routes (none has path parameters), most used first.
    var fixedRoutes: [FixedRoute] {
        [
            .init(.post, "/v1/chat/completions") { await self.chatCompletions($0) },
            .init(.post, "/v1/messages") { await self.messages($0) },
            .init(.post, "/v1/responses") { await self.responses($0) },
            .init(.post, "/v1/embeddings") { await self.embeddings($0) },
            .init(.post, "/v1/messages/count_tokens") { await self.countTokens($0) },
            .init(.get, "/v1/models") { await self.models($0) },
            .init(.get, "/healthz") { await self.health($0, detailed: false) },
            .init(.get, "/readyz") { _ in self.readiness() },
            // Load balancers that probe with HEAD get the same status, without the body.
            .init(.head, "/healthz") { await self.health($0, detailed: false) },
            .init(.head, "/readyz") { _ in self.readiness() },
        ]
    }

    /// Authenticates the request's key. Keys come as `Authorization: Bearer` or `x-api-key`.
    func authenticate(_ request: Request, context: inout RequestContext) async throws(OpenAIError) -> Principal {
        let presented =
            request.headers.value(of: .authorization).map(BearerToken.presented) ?? request.headers.value(of: .xAPIKey)
        switch await keys.authenticate(presented) {
        case .failure(let failure):
            if failure == .storeUnavailable { throw .upstream(.internalError, status: 503, message: failure.message) }
            throw .invalidAPIKey(failure.message)
        case .success(let record):
            context.principal = record.principal
            startTrace(&context)
            guard self.tenant(named: record.tenant) != nil else {
                throw OpenAIError(
                    status: 403, message: "Tenant '\(record.tenant)' is not configured on this gateway.",
                    type: "permission_error", code: "tenant_not_configured", errorClass: .permissionDenied)
            }
            return record.principal
        }
    }

    /// A request past the common ingress checks: authenticated, body read within the limit, a
    /// JSON object, and decoded into the endpoint's request type.
    struct ReceivedRequest<Decoded: Sendable>: Sendable {
        var principal: Principal
        var editor: JSONObjectEditor
        /// The body as our parser read it: tool names and translation use this tree instead of
        /// parsing the body again.
        var json: JSONValue
        var decoded: Decoded
    }

    /// The decode stage of the OpenAI endpoints served byte for byte: the key, the guardrails,
    /// then the body parsed strictly and decoded into the endpoint's request type.
    func receive<Decoded: Decodable & Sendable>(_ request: Request, as type: Decoded.Type, context: inout RequestContext)
        async throws(OpenAIError) -> ReceivedRequest<Decoded>
    {
        let (principal, body) = try await authenticatedBody(request, context: &context)
        // Every body is read whole by our strict parser first: what it refuses (a repeated
        // member, invalid UTF-8, an out-of-range number) never reaches a provider, and what it
        // accepts means the same to every JSON reader downstream.
        let json = try Self.parseBody(body)
        try identifyRun(request, body: json, context: &context)
        guard case .object = json, let editor = JSONObjectEditor(body) else {
            throw .invalidRequest("The request body is not a valid JSON object.")
        }
        // The fast path reads well-formed requests from the tree; anything it does not accept goes
        // to JSONDecoder, whose error messages name the offending field.
        if let readable = Decoded.self as? any JSONValueReadable.Type, let decoded = readable.init(json: json) as? Decoded {
            return ReceivedRequest(principal: principal, editor: editor, json: json, decoded: decoded)
        }
        do {
            let decoded = try decoder.decode(Decoded.self, from: Data(body))
            return ReceivedRequest(principal: principal, editor: editor, json: json, decoded: decoded)
        } catch let error as DecodingError {
            throw .invalidRequest(error.clientMessage, param: error.parameter)
        } catch {
            throw .invalidRequest("The request body could not be read: \(error)")
        }
    }

    /// The body as a JSON tree, or the client's 400 naming where it is wrong.
    static func parseBody(_ body: [UInt8]) throws(OpenAIError) -> JSONValue {
        let document: JSONDocument
        do throws(JSONParseError) {
            document = try JSONDocument.parse(body)
        } catch {
            if error.isRepeatedMember {
                throw .invalidRequest(
                    "The request body names the member '\(error.path)' more than once; JSON readers disagree on "
                        + "which one counts, so Switchyard refuses it.", param: error.path, code: "duplicate_key")
            }
            throw .invalidRequest(
                "The request body is not valid JSON: \(error).", param: error.path.isEmpty ? nil : error.path)
        }
        if !document.memberNamesAreCaseFolded, let path = APIMemberNames.firstUnfoldedName(in: document.value) {
            let rendered = JSONPathComponent.render(path)
            throw .invalidRequest(
                "The request body names the member '\(rendered)' with uppercase or non-ASCII letters; this API's "
                    + "member names are lowercase, and some providers read names without regard to case, so "
                    + "Switchyard refuses it.", param: rendered, code: "invalid_member_name")
        }
        return document.value
    }

    /// The first ingress checks of every endpoint: the key, then the body within the limit,
    /// through the content guardrails.
    func authenticatedBody(_ request: Request, context: inout RequestContext) async throws(OpenAIError) -> (
        Principal, [UInt8]
    ) {
        let principal = try await authenticate(request, context: &context)
        let body = try await readBody(request)
        return (principal, try contentGuard.apply(body, principal: principal, context: &context))
    }

    /// Reads the body up to the configured limit.
    package func readBody(_ request: Request) async throws(OpenAIError) -> [UInt8] {
        do {
            let buffer = try await request.body.collect(upTo: configuration.server.maxBodyBytes)
            return Array(buffer.readableBytesView)
        } catch is NIOTooManyBytesError {
            throw .payloadTooLarge(limit: configuration.server.maxBodyBytes)
        } catch {
            throw .invalidRequest("The request body could not be read: \(error)")
        }
    }

    /// The agent run the request belongs to: `x-switchyard-run` (and `x-switchyard-step`), or
    /// else `gen_ai.conversation.id` in the W3C `baggage` of the client's trace. A malformed run
    /// header is refused; a baggage entry that is not a valid run id is not a run.
    func identifyRun(_ request: Request, body: JSONValue, context: inout RequestContext) throws(OpenAIError) {
        var id: String?
        if let header = request.headers.value(of: .switchyardRun) {
            guard RunIdentity.isValid(header) else {
                throw .invalidRequest(
                    "Invalid x-switchyard-run: 1 to \(RunIdentity.maximumLength) letters, digits or . _ : - are allowed.")
            }
            id = header
        } else if let baggage = request.headers.value(of: .baggage), baggage.contains("gen_ai.conversation.id") {
            id = Self.conversationID(inBaggage: baggage)
        }
        guard let id else { return }
        var run = RunIdentity(id: id)
        if let step = request.headers.value(of: .switchyardStep) {
            guard RunIdentity.isValid(step) else {
                throw .invalidRequest(
                    "Invalid x-switchyard-step: 1 to \(RunIdentity.maximumLength) letters, digits or . _ : - are allowed.")
            }
            run.step = step
        }
        context.run = run
        context.promptFingerprint = PromptFingerprint.of(body)
    }

    /// `gen_ai.conversation.id` from a W3C baggage header (`key=value;properties, …`), if it is a
    /// valid run id once percent-decoded.
    static func conversationID(inBaggage baggage: String) -> String? {
        for member in baggage.split(separator: ",") {
            let pair = member.split(separator: ";", maxSplits: 1)[0].split(separator: "=", maxSplits: 1)
            guard pair.count == 2, pair[0].trimmingCharacters(in: .whitespaces) == "gen_ai.conversation.id" else { continue }
            let value = pair[1].trimmingCharacters(in: .whitespaces).removingPercentEncoding ?? ""
            return RunIdentity.isValid(value) ? value : nil
        }
        return nil
    }

    /// Caller tags from `x-switchyard-tags` and the body's `metadata`; the header wins on conflict.
    func tags(_ request: Request, metadata: [String: String]?) throws(OpenAIError) -> [String: String] {
        var tags = metadata ?? [:]
        if let header = request.headers.value(of: .switchyardTags) {
            do {
                tags.merge(try Tags.parseHeader(header)) { _, header in header }
            } catch {
                throw .invalidRequest("Invalid x-switchyard-tags header: \(error).")
            }
        }
        do {
            try Tags.validate(tags)
        } catch {
            throw .invalidRequest("Invalid tags: \(error).")
        }
        return tags
    }

    /// The stages every endpoint shares after decoding: caller tags, the route for `model` (and
    /// the principal's right to use it), authorize (the policy rules that need only the
    /// request), plan (routing hints, the candidates for this request's profile), and admit
    /// (the worst-case cost, rate limits and budget reservation, which need the candidates).
    func planRoute(
        _ request: Request, model: String, metadata: [String: String]?, profile: RequestProfile, principal: Principal,
        toolNames: [String] = [], answers: Int = 1, context: inout RequestContext
    ) async throws(OpenAIError) -> RoutePlan {
        context.tags = try tags(request, metadata: metadata)
        if let priority = request.headers.value(of: .switchyardPriority) {
            guard let parsed = RequestPriority(rawValue: priority) else {
                throw .invalidRequest("Invalid x-switchyard-priority '\(priority)' (expected interactive or batch).")
            }
            context.priority = parsed
        }
        let route = try routes.resolve(model, principal: principal, context: &context)
        let facts = RequestFacts(
            route: route.name, toolNames: toolNames, estimatedInputTokens: profile.estimatedInputTokens,
            maxOutputTokens: profile.maxOutputTokens, tags: context.tags, answers: answers)
        let policy = try authorize(facts, principal: principal, context: &context)
        let hints = try routes.hints(request)
        let planned: RoutePlan
        do throws(OpenAIError) {
            planned = try routes.plan(route, profile: profile, principal: principal, policy: policy, hints: hints)
        } catch {
            if error.errorClass == .policyDenied, let residency = policy.residency, error.message.contains(residency.policy) {
                governor.recordRefusal(error.message, policy: residency.policy, principal: principal, route: route.name)
            }
            throw error
        }
        try await admitGoverned(planned, facts: facts, policy: policy, principal: principal, context: &context)
        return planned
    }

    /// The wire format a deployment's provider speaks.
    func kind(of deployment: Deployment) -> ProviderKind {
        adapters[deployment.provider]?.provider.kind ?? .openai
    }
}

extension HTTPField.Name {
    static let xAPIKey = Self("x-api-key")!
    static let switchyardTags = Self("x-switchyard-tags")!
    static let requestID = Self("x-request-id")!
    static let switchyardRoute = Self("x-switchyard-route")!
    static let switchyardDeployment = Self("x-switchyard-deployment")!
    static let switchyardAttempts = Self("x-switchyard-attempts")!
    static let switchyardStrategy = Self("x-switchyard-strategy")!
    static let switchyardUsageEstimated = Self("x-switchyard-usage-estimated")!
    static let switchyardRedactions = Self("x-switchyard-redactions")!
    static let switchyardPriority = Self("x-switchyard-priority")!
    static let switchyardRun = Self("x-switchyard-run")!
    static let switchyardStep = Self("x-switchyard-step")!
    static let baggage = Self("baggage")!
    static let traceParentField = Self("traceparent")!
    static let traceStateField = Self("tracestate")!
    static let anthropicVersion = Self("anthropic-version")!
    static let anthropicBeta = Self("anthropic-beta")!
}

extension Response {
    package static func json(status: HTTPResponse.Status, _ bytes: [UInt8]) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
