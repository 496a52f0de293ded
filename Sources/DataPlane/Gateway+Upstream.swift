import Foundation
import Providers
import Routing
import SwitchyardCore
import WireFormats

extension Gateway {
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

    /// The largest non-streamed upstream answer read.
    static let maxResponseBytes = 256 * 1024 * 1024

    enum AttemptResult: Sendable {
        case success(UpstreamSuccess, Attempt)
        case failure(OpenAIError, retryable: Bool, retryAfter: Duration?, Attempt)
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
            switch claim(deployment) {
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
                requestID: context.id)
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
        throw unavailableError(plan.route, unavailable)
    }

    /// Every candidate was full: wait for a slot on the first one with a queue, in fair-share
    /// order among tenants and priority classes, then make one attempt there.
    private func executeQueued(
        _ deployment: Deployment, adapter: ProviderAdapter, plan: RoutePlan, streaming: Bool,
        context: inout RequestContext, call: @escaping @Sendable (Deployment) -> UpstreamCall
    ) async throws(OpenAIError) -> UpstreamSuccess {
        let tenant = context.principal?.tenant ?? ""
        let waited = await monitor.waitForSlot(
            deployment.name, tenant: tenant, priority: context.priority, weight: self.tenant(named: tenant)?.weight ?? 1,
            policy: deployment.queue ?? AdmissionQueuePolicy())
        switch waited {
        case .failure(let reason):
            throw unavailableError(plan.route, [deployment.name: reason])
        case .success(let lease):
            context.use(deployment)
            switch await attempt(
                deployment, adapter: adapter, lease: lease, call: call(deployment), streaming: streaming, requestID: context.id)
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
            return .missingKey(missingKeyError(deployment))
        }
        switch monitor.acquire(deployment.name) {
        case .success(let lease): return .claimed(adapter, lease)
        case .failure(let reason): return .unavailable(reason)
        }
    }

    /// One try at one deployment. The lease is released here on failure; on success the caller
    /// releases it when the response is done.
    func attempt(
        _ deployment: Deployment, adapter: ProviderAdapter, lease: DeploymentMonitor.Lease, call: UpstreamCall,
        streaming: Bool, requestID: String, hedged: Bool = false
    ) async -> AttemptResult {
        let start = ContinuousClock.now
        var addressed = adapter.request(for: call, streaming: streaming, timeouts: deployment.timeouts)
        if !streaming { addressed.wholeBodyLimit = Self.maxResponseBytes }
        let request = addressed
        let transport = self.transport
        func elapsed() -> Int64 { (ContinuousClock.now - start).microseconds }
        func failed(_ failure: UpstreamFailure) -> AttemptResult {
            let cancelled = failure.errorClass == .clientCancelled
            monitor.release(lease, outcome: cancelled ? .neutral : .failure)
            // 499 (nginx's "client closed request"): the client left, nothing failed upstream.
            let status = cancelled ? 499 : failure.errorClass == .upstreamTimeout ? 504 : 502
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
            let error = upstreamStatusError(
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

    /// How a relayed stream ended.
    enum StreamEnd {
        case clientGone
        case complete
        /// A kill switch ended it.
        case killed
        case failed(ErrorClass)
    }

    /// Books a stream's end, whatever the formats: the deployment's lease and health, the
    /// route's output statistics, the last attempt's error and the usage record. Writing the
    /// client's last bytes is the caller's, in its own format.
    func settleStream(
        _ upstream: UpstreamSuccess, _ end: StreamEnd, usage: TokenUsage, context: inout RequestContext,
        settlement: StreamSettlement
    ) {
        switch end {
        case .clientGone:
            monitor.release(upstream.lease, outcome: .neutral)
            settlement.settle(context, status: 499, errorClass: .clientCancelled, usage: usage, gateway: self)
        case .complete:
            let latency = ContinuousClock.now - upstream.startedAt
            monitor.release(upstream.lease, outcome: .success(latency: latency, timeToFirstToken: context.timeToFirstToken))
            if let route = context.route { monitor.recordOutputTokens(route: route, usage.outputTokens) }
            settlement.settle(context, status: 200, errorClass: nil, usage: usage, gateway: self)
        case .killed:
            // The deployment did nothing wrong: its health is not affected.
            monitor.release(upstream.lease, outcome: .neutral)
            settlement.settle(context, status: 403, errorClass: .killSwitch, usage: usage, gateway: self)
        case .failed(let errorClass):
            monitor.release(upstream.lease, outcome: .failure)
            if !context.attempts.isEmpty { context.attempts[context.attempts.count - 1].errorClass = errorClass }
            settlement.settle(context, status: 502, errorClass: errorClass, usage: usage, gateway: self)
        }
    }

    func missingKeyError(_ deployment: Deployment) -> OpenAIError {
        .upstream(
            .upstreamRejected, status: 502,
            message:
                "Provider '\(deployment.provider)' has no API key: set the environment variable \(adapters[deployment.provider]?.provider.apiKeyEnv ?? "") for the gateway."
        )
    }

    /// The answer when no candidate could even be tried.
    func unavailableError(_ route: Route, _ reasons: [String: DeploymentMonitor.Unavailability]) -> OpenAIError {
        if reasons.isEmpty {
            return .upstream(.noProvider, status: 502, message: "Route '\(route.name)' has no deployment that can be called.")
        }
        for (name, reason) in reasons.sorted(by: { $0.key < $1.key }) {
            if case .queueTimeout(let waited) = reason {
                return OpenAIError(
                    status: 429,
                    message:
                        "Deployment '\(name)' of route '\(route.name)' is saturated: waited \(Int(waited.seconds.rounded())) s in its queue without a slot; retry shortly.",
                    type: "rate_limit_error", code: "queue_timeout", errorClass: .atCapacity, retryAfterSeconds: 1)
            }
        }
        if reasons.values.allSatisfy({ $0 == .atCapacity }) {
            return OpenAIError(
                status: 429, message: "Every deployment of route '\(route.name)' is at its concurrency limit; retry shortly.",
                type: "rate_limit_error", code: ErrorClass.atCapacity.rawValue, errorClass: .atCapacity, retryAfterSeconds: 1)
        }
        var soonest: Duration?
        let details = reasons.sorted { $0.key < $1.key }.map { name, reason -> String in
            switch reason {
            case .circuitOpen(let retryAfter):
                soonest = min(soonest ?? retryAfter, retryAfter)
                return "\(name): circuit open"
            case .coolingDown(let retryAfter):
                soonest = min(soonest ?? retryAfter, retryAfter)
                return "\(name): rate limited by the provider"
            case .healthCheckFailing: return "\(name): failing health checks"
            case .atCapacity, .queueTimeout: return "\(name): at its concurrency limit"
            }
        }
        let seconds = soonest.map { Int(($0.seconds).rounded(.up)) } ?? 5
        return OpenAIError(
            status: 503, message: "No healthy deployment for route '\(route.name)' (\(details.joined(separator: "; "))).",
            type: "api_error", code: ErrorClass.noHealthyDeployment.rawValue, errorClass: .noHealthyDeployment,
            retryAfterSeconds: max(1, seconds))
    }

    /// The client-facing error for an upstream's non-2xx answer. OpenAI-shaped 4xx bodies are
    /// passed on as they are (the provider's wording is the most useful); anything else is wrapped.
    func upstreamStatusError(_ status: Int, body: [UInt8], deployment: Deployment, retryAfter: Duration? = nil) -> OpenAIError {
        let errorClass = ProviderAdapter.errorClass(forStatus: status, body: body)
        var upstreamMessage = String(decoding: body.prefix(300), as: UTF8.self)
        if let editor = JSONObjectEditor(body, generated: true), let errorObject = editor.value(of: "error"),
            let inner = JSONObjectEditor(Array(errorObject), generated: true), let message = inner.value(of: "message"),
            let text = try? decoder.decode(String.self, from: Data(message))
        {
            upstreamMessage = text
        }
        let origin = "deployment '\(deployment.name)' (provider '\(deployment.provider)')"
        switch errorClass {
        case .rateLimited:
            var error = OpenAIError.upstream(.rateLimited, status: 429, message: "Rate limited by \(origin): \(upstreamMessage)")
            error.type = "rate_limit_error"
            error.retryAfterSeconds = retryAfter.map { max(1, Int($0.seconds.rounded(.up))) }
            return error
        case .upstreamRejected:
            return OpenAIError(
                status: status, message: "Rejected by \(origin) with status \(status): \(upstreamMessage)",
                type: "invalid_request_error", code: "upstream_rejected", errorClass: .upstreamRejected)
        case .contextTooLong:
            return OpenAIError(
                status: 400, message: "Too long for \(origin): \(upstreamMessage)", type: "invalid_request_error",
                code: "context_length_exceeded", param: "messages", errorClass: .contextTooLong)
        case .contentFiltered:
            return OpenAIError(
                status: 400, message: "Refused by the content filter of \(origin): \(upstreamMessage)",
                type: "invalid_request_error", code: "content_filter", errorClass: .contentFiltered)
        case .upstreamOverloaded:
            var error = OpenAIError.upstream(
                .upstreamOverloaded, status: 503, message: "Overloaded: \(origin) answered \(status): \(upstreamMessage)")
            error.retryAfterSeconds = retryAfter.map { max(1, Int($0.seconds.rounded(.up))) }
            return error
        case .upstreamAuthentication:
            // The provider refused the gateway's credentials: the client can do nothing about it.
            return .upstream(
                .upstreamAuthentication, status: 502,
                message: "The gateway's credentials were refused by \(origin) (status \(status)); tell your Switchyard admin.")
        case .upstreamTimeout:
            return .upstream(.upstreamTimeout, status: 504, message: "Timed out at \(origin) (status \(status)).")
        default:
            return .upstream(
                .upstreamError, status: 502, message: "Upstream error from \(origin), status \(status): \(upstreamMessage)")
        }
    }
}
