import Foundation
import Governance
import Logging
import Providers
import Routing
import SwitchyardCore
import WireFormats

/// A deployment's answer that an attempt won: streams are relayed later, non-streamed bodies
/// are already read whole.
struct UpstreamSuccess: Sendable {
    var deployment: Deployment
    var response: UpstreamResponse
    /// Non-streamed responses are read whole inside the attempt; streams are relayed later.
    var body: [UInt8]?
    var lease: DeploymentMonitor.Lease
    var startedAt: ContinuousClock.Instant
    /// The longest wait for a stream's next chunk, or nil when the transport enforces it.
    var idleLimit: Duration?
}

/// The execute stage: turns a route plan into one upstream answer. Each attempt claims its
/// deployment (breaker, cool-down, health, concurrency); failures that say nothing about the
/// request move on to the next candidate within the route's retry policy and budget; hedged
/// routes race a second deployment; when every candidate is full, the request waits in the
/// fair-share queue of the first one that has a queue.
///
/// It owns no request state: what it learns (attempts, the deployment used) goes into the
/// caller's `RequestContext`.
struct UpstreamExecutor: Sendable {
    let monitor: DeploymentMonitor
    let adapters: [String: ProviderAdapter]
    let transport: any UpstreamTransport
    let retryBudgets: [String: RetryBudget]
    /// For a tenant's fair-share weight.
    let governor: Governor
    /// A call cancelled while the drain timeout cuts was the gateway's doing, not the client's.
    let shutdown: ShutdownState
    let logger: Logger

    /// The largest non-streamed upstream answer read.
    static let maxResponseBytes = 256 * 1024 * 1024

    enum AttemptResult: Sendable {
        case success(UpstreamSuccess, Attempt)
        case failure(OpenAIError, retryable: Bool, retryAfter: Duration?, Attempt)
    }

    func retryBudget(for route: Route) -> RetryBudget {
        retryBudgets[route.name] ?? RetryBudget(policy: route.retry)
    }

    /// Serves the request from the plan's candidates: each attempt claims its deployment
    /// (breaker, cool-down, health, concurrency), failures that say nothing about the request are
    /// retried on the next candidate — after a jittered backoff and within the route's retry
    /// budget when it is a deployment already tried — and hedging races a second deployment
    /// when the route asks for it.
    func execute(
        _ plan: RoutePlan, streaming: Bool, context: inout RequestContext,
        call: @escaping @Sendable (Deployment) -> UpstreamCall
    ) async throws(OpenAIError) -> UpstreamSuccess {
        let policy = plan.route.retry
        let budget = retryBudget(for: plan.route)
        budget.recordRequest()
        if let hedge = plan.route.hedge, !streaming, plan.candidates.count > 1 {
            return try await executeHedged(plan, hedge: hedge, context: &context, call: call)
        }
        let candidates = plan.candidates
        var cursor = 0
        var skipsInARow = 0
        var lastRetryAfter: [String: Duration?] = [:]
        var unavailable: [String: DeploymentMonitor.Unavailability] = [:]
        var lastError: OpenAIError?
        while context.attempts.count < policy.maxAttempts && skipsInARow < candidates.count {
            let deployment = candidates[cursor % candidates.count]
            cursor += 1
            if let retryAfter = lastRetryAfter[deployment.name] {
                // Going back to a deployment that already failed this request: back off first.
                guard let wait = Backoff.delay(retry: context.attempts.count, retryAfter: retryAfter, policy: policy) else {
                    skipsInARow += 1
                    continue
                }
                try? await Task.sleep(for: wait)
            }
            let adapter: ProviderAdapter
            let lease: DeploymentMonitor.Lease
            var claimed = claim(deployment)
            if case .unavailable(.atCapacity) = claimed, await monitor.leaseSlot(deployment.name) {
                claimed = claim(deployment)
            }
            switch claimed {
            case .missingKey(let error):
                lastError = error
                skipsInARow += 1
                continue
            case .unavailable(let reason):
                unavailable[deployment.name] = reason
                skipsInARow += 1
                continue
            case .claimed(let claimedAdapter, let claimedLease):
                (adapter, lease) = (claimedAdapter, claimedLease)
            }
            if !context.attempts.isEmpty && !budget.tryWithdraw() {
                monitor.release(lease, outcome: .neutral)
                logger.warning(
                    "retry budget exhausted; not retrying",
                    metadata: ["request_id": .string(context.id), "route": .string(plan.route.name)])
                break
            }
            skipsInARow = 0
            context.use(deployment)
            let result = await attempt(
                deployment, adapter: adapter, lease: lease, call: call(deployment), streaming: streaming,
                requestID: context.id, trace: context.trace, number: context.attempts.count + 1,
                passThrough: context.upstreamTraceHeaders)
            switch result {
            case .success(let success, let attempt):
                context.attempts.append(attempt)
                return success
            case .failure(let error, let retryable, let retryAfter, let attempt):
                context.attempts.append(attempt)
                lastError = error
                lastRetryAfter[deployment.name] = .some(retryAfter)
                if let retryAfter { monitor.coolDown(deployment.name, for: retryAfter) }
                if !retryable { throw error }
            }
        }
        if let lastError { throw lastError }
        if context.attempts.isEmpty, !unavailable.isEmpty, unavailable.values.allSatisfy({ $0 == .atCapacity }),
            let queued = candidates.first(where: { $0.queue != nil && $0.maxConcurrency != nil }),
            let adapter = adapters[queued.provider]
        {
            return try await executeQueued(
                queued, adapter: adapter, plan: plan, streaming: streaming, context: &context, call: call)
        }
        throw OpenAIError.unavailable(plan.route, unavailable)
    }

    /// Every candidate was full: wait for a slot on the first one with a queue, in fair-share
    /// order among tenants and priority classes, then make one attempt there.
    private func executeQueued(
        _ deployment: Deployment, adapter: ProviderAdapter, plan: RoutePlan, streaming: Bool,
        context: inout RequestContext, call: @escaping @Sendable (Deployment) -> UpstreamCall
    ) async throws(OpenAIError) -> UpstreamSuccess {
        let tenant = context.principal?.tenant ?? ""
        let wait = context.trace?.startQueueWait(deployment)
        let waited = await monitor.waitForSlot(
            deployment.name, tenant: tenant, priority: context.priority, weight: governor.tenant(named: tenant)?.weight ?? 1,
            policy: deployment.queue ?? AdmissionQueuePolicy())
        switch waited {
        case .failure(let reason):
            if let wait { RequestTrace.endQueueWait(wait, refused: reason) }
            throw OpenAIError.unavailable(plan.route, [deployment.name: reason])
        case .success(let lease):
            if let wait { RequestTrace.endQueueWait(wait) }
            context.use(deployment)
            switch await attempt(
                deployment, adapter: adapter, lease: lease, call: call(deployment), streaming: streaming,
                requestID: context.id, trace: context.trace, number: context.attempts.count + 1,
                passThrough: context.upstreamTraceHeaders)
            {
            case .success(let success, let attempt):
                context.attempts.append(attempt)
                return success
            case .failure(let error, _, let retryAfter, let attempt):
                context.attempts.append(attempt)
                if let retryAfter { monitor.coolDown(deployment.name, for: retryAfter) }
                throw error
            }
        }
    }

    enum Claim {
        case claimed(ProviderAdapter, DeploymentMonitor.Lease)
        case missingKey(OpenAIError)
        case unavailable(DeploymentMonitor.Unavailability)
    }

    /// Takes a slot on `deployment` for one attempt, if its provider can be called and the
    /// monitor (breaker, cool-down, health, concurrency) lets it.
    func claim(_ deployment: Deployment) -> Claim {
        guard let adapter = adapters[deployment.provider], !adapter.hasMissingKey else {
            return .missingKey(.missingKey(deployment, variable: adapters[deployment.provider]?.provider.apiKeyEnv))
        }
        switch monitor.acquire(deployment.name) {
        case .success(let lease): return .claimed(adapter, lease)
        case .failure(let reason): return .unavailable(reason)
        }
    }

    /// One try at one deployment. The lease is released here on failure; on success the caller
    /// releases it when the response is done. Traced, the attempt is a CLIENT span whose context
    /// the upstream gets in `traceparent` (a stream's span ends when its head arrives).
    func attempt(
        _ deployment: Deployment, adapter: ProviderAdapter, lease: DeploymentMonitor.Lease, call: UpstreamCall,
        streaming: Bool, requestID: String, hedged: Bool = false, trace: RequestTrace? = nil, number: Int = 1,
        passThrough: [(String, String)] = []
    ) async -> AttemptResult {
        var addressed = adapter.request(for: call, streaming: streaming, timeouts: deployment.timeouts)
        if !streaming { addressed.wholeBodyLimit = Self.maxResponseBytes }
        guard let trace else {
            addressed.headers += passThrough
            return await send(
                addressed, to: deployment, lease: lease, streaming: streaming, requestID: requestID, hedged: hedged)
        }
        let span = trace.startAttempt(deployment, request: &addressed)
        let result = await send(
            addressed, to: deployment, lease: lease, streaming: streaming, requestID: requestID, hedged: hedged)
        switch result {
        case .success(_, let attempt), .failure(_, _, _, let attempt):
            trace.endAttempt(
                span, deployment: deployment, hedged: hedged, number: number, status: attempt.status,
                errorClass: attempt.errorClass)
        }
        return result
    }

    private func send(
        _ request: UpstreamRequest, to deployment: Deployment, lease: DeploymentMonitor.Lease, streaming: Bool,
        requestID: String, hedged: Bool
    ) async -> AttemptResult {
        let start = ContinuousClock.now
        let transport = self.transport
        func elapsed() -> Int64 { (ContinuousClock.now - start).microseconds }
        func failed(_ failure: UpstreamFailure) -> AttemptResult {
            let cancelled = failure.errorClass == .clientCancelled
            // Cancelled while the drain timeout cuts: the gateway's doing, not the client's.
            let cut = cancelled && shutdown.isCutting
            let failure = cut ? UpstreamFailure(.serverShutdown, "the gateway's drain timeout cut the request") : failure
            monitor.release(lease, outcome: cancelled ? .neutral : .failure)
            // 499 (nginx's "client closed request"): the client left, nothing failed upstream.
            let status = cut ? 503 : cancelled ? 499 : failure.errorClass == .upstreamTimeout ? 504 : 502
            let error = OpenAIError.upstream(
                failure.errorClass, status: status,
                message: "Deployment '\(deployment.name)' (provider '\(deployment.provider)') failed: \(failure.message)")
            if !cancelled {
                logger.warning(
                    "upstream call failed",
                    metadata: [
                        "request_id": .string(requestID), "deployment": .string(deployment.name),
                        "error": .string(failure.description),
                    ])
            }
            return .failure(
                error, retryable: failure.allowsFallback, retryAfter: nil,
                Attempt(
                    deployment: deployment.name, status: nil, errorClass: failure.errorClass, latencyMicros: elapsed(),
                    hedged: hedged))
        }
        let response: UpstreamResponse
        let deadlinesEnforced = transport.enforcesDeadlines(request)
        do {
            if deadlinesEnforced {
                response = try await transport.send(request)
            } else {
                response = try await withUpstreamDeadline(deployment.timeouts.firstByte, "time to first byte") {
                    () throws(UpstreamFailure) in try await transport.send(request)
                }
            }
        } catch {
            return failed(error)
        }
        guard (200..<300).contains(response.status) else {
            let errorBody = (try? await response.body.collect(upTo: 64 * 1024)) ?? []
            let error = OpenAIError.upstreamStatus(
                response.status, body: errorBody, deployment: deployment, retryAfter: response.retryAfter)
            // A 4xx says something about the request, not the deployment.
            monitor.release(
                lease,
                outcome: [.upstreamRejected, .contextTooLong, .contentFiltered].contains(error.errorClass) ? .neutral : .failure)
            logger.warning(
                "upstream answered with an error",
                metadata: [
                    "request_id": .string(requestID), "deployment": .string(deployment.name),
                    "status": .stringConvertible(response.status),
                    "upstream_message": .string(String(decoding: errorBody.prefix(500), as: UTF8.self)),
                ])
            return .failure(
                error, retryable: error.errorClass.isRetryable, retryAfter: response.retryAfter,
                Attempt(
                    deployment: deployment.name, status: response.status, errorClass: error.errorClass, latencyMicros: elapsed(),
                    hedged: hedged))
        }
        var collected: [UInt8]?
        if !streaming {
            do {
                collected = try await response.body.collect(upTo: Self.maxResponseBytes)
            } catch {
                return failed(HTTPClientTransport.classify(error))
            }
            monitor.release(lease, outcome: .success(latency: ContinuousClock.now - start, timeToFirstToken: nil))
        }
        return .success(
            UpstreamSuccess(
                deployment: deployment, response: response, body: collected, lease: lease, startedAt: start,
                idleLimit: deadlinesEnforced ? nil : deployment.timeouts.idle),
            Attempt(
                deployment: deployment.name, status: response.status, errorClass: nil, latencyMicros: elapsed(), hedged: hedged))
    }
}
