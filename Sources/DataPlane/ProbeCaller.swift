import Providers
import SwitchyardCore
import WireFormats

/// A probe's answer, graded by the caller.
package struct ProbeAnswer: Sendable {
    /// The answer's text; nil when the call failed.
    package var text: String?
    /// The `model` and `system_fingerprint` the answer named.
    package var model: String?
    package var fingerprint: String?
    package var usage: TokenUsage
    package var cost: Money
    package var latencyMicros: Int64
    /// Why there is no answer.
    package var error: String?
    /// The deployment refused the prompt (4xx): it says something about what it takes.
    package var refused = false
}

/// Sends synthetic prompts (canary probes) to one deployment, outside any route, and books each
/// in the ledger under the reserved tenant `switchyard-probes`, with the tag `probe: canary`:
/// probes are spend like any other, and the cost reports show them.
///
/// A probe goes to the deployment it names, with the deployment's deadlines, but claims no
/// concurrency slot and moves no breaker: it measures the deployment, it is not traffic to
/// protect. Nothing here is on the request path.
package struct ProbeCaller: Sendable {
    package static let tenant = Tenant.probesTenant
    /// The largest answer read.
    static let maxAnswerBytes = 4 * 1024 * 1024
    /// Token counts past this are a provider's nonsense (no context is that long): clamped, so no
    /// sum of them can overflow.
    static let maxReportedTokens = 100_000_000
    /// What is kept of a `model` or `system_fingerprint` the answer names.
    static let maxNameCharacters = 256

    private let gateway: Gateway

    package init(gateway: Gateway) {
        self.gateway = gateway
    }

    package func ask(_ prompt: String, maxOutputTokens: Int, deployment: Deployment) async -> ProbeAnswer {
        let startedAt = UnixMicros.now()
        let start = ContinuousClock.now
        var canonical = CanonicalRequest(model: deployment.model)
        canonical.messages = [CanonicalMessage(role: .user, content: [.text(prompt)])]
        canonical.maxOutputTokens = maxOutputTokens
        canonical.temperature = "0"
        let estimatedInput = TokenEstimator.inputTokens(of: canonical)
        let outcome = await send(canonical, to: deployment)
        let elapsed = ContinuousClock.now - start
        var answer: ProbeAnswer
        var status = 200
        var errorClass: ErrorClass?
        switch outcome {
        case .success(let (response, fingerprint)):
            let usage = Self.clamped(
                TokenUsage(
                    response.usage, estimatedInputTokens: estimatedInput,
                    estimatedOutputTokens: TokenEstimator.tokens(forCharacters: response.text.count)))
            answer = ProbeAnswer(
                text: response.text, model: response.model.isEmpty ? nil : String(response.model.prefix(Self.maxNameCharacters)),
                fingerprint: fingerprint.map { String($0.prefix(Self.maxNameCharacters)) }, usage: usage, cost: .zero(""),
                latencyMicros: elapsed.microseconds)
        case .failure(let failure):
            status = failure.status
            errorClass = failure.errorClass
            answer = ProbeAnswer(
                text: nil, model: nil, fingerprint: nil, usage: TokenUsage(inputTokens: 0, outputTokens: 0),
                cost: .zero(""), latencyMicros: elapsed.microseconds, error: String(failure.message.prefix(500)),
                refused: failure.status >= 400 && failure.status < 500
                    && [.upstreamRejected, .contextTooLong, .invalidRequest].contains(failure.errorClass))
        }
        answer.cost = deployment.priceSchedule.prices(at: startedAt).cost(of: answer.usage)
        let record = UsageRecord(
            id: RandomIdentifier.requestID(now: startedAt), startedAt: startedAt, finishedAt: .now(), tenant: Self.tenant,
            agent: nil, keyID: nil, endpoint: "canary.probe", route: nil, deployment: deployment.name,
            provider: deployment.provider, upstreamModel: deployment.model, streamed: false, usage: answer.usage,
            cost: answer.cost, latencyMicros: answer.latencyMicros, timeToFirstTokenMicros: nil, status: status,
            errorClass: errorClass, tags: ["probe": "canary"],
            attempts: [
                Attempt(
                    deployment: deployment.name, status: status, errorClass: errorClass, latencyMicros: answer.latencyMicros)
            ], replica: gateway.replicaID)
        _ = gateway.usageSink.record(record)
        return answer
    }

    static func clamped(_ usage: TokenUsage) -> TokenUsage {
        func bounded(_ count: Int) -> Int { min(max(0, count), maxReportedTokens) }
        var usage = usage
        usage.inputTokens = bounded(usage.inputTokens)
        usage.outputTokens = bounded(usage.outputTokens)
        usage.cachedInputTokens = min(bounded(usage.cachedInputTokens), usage.inputTokens)
        usage.cacheWriteInputTokens = bounded(usage.cacheWriteInputTokens)
        usage.reasoningTokens = min(bounded(usage.reasoningTokens), usage.outputTokens)
        return usage
    }

    struct Failure: Error {
        var status: Int
        var errorClass: ErrorClass
        var message: String
    }

    private func send(
        _ canonical: CanonicalRequest, to deployment: Deployment
    ) async -> Result<(CanonicalResponse, String?), Failure> {
        guard let adapter = gateway.adapters[deployment.provider] else {
            return .failure(Failure(status: 500, errorClass: .internalError, message: "no adapter for its provider"))
        }
        let call: UpstreamCall
        do {
            call = try gateway.translatedCall(canonical, for: deployment)
        } catch {
            return .failure(Failure(status: 400, errorClass: .invalidRequest, message: "\(error)"))
        }
        var addressed = adapter.request(for: call, streaming: false, timeouts: deployment.timeouts)
        addressed.wholeBodyLimit = Self.maxAnswerBytes
        let request = addressed
        let transport = gateway.transport
        let status: Int
        let body: [UInt8]
        do {
            (status, body) = try await withUpstreamDeadline(deployment.timeouts.total, "a canary probe") {
                () throws(UpstreamFailure) -> (Int, [UInt8]) in
                let response = try await transport.send(request)
                do {
                    return (response.status, try await response.body.collect(upTo: Self.maxAnswerBytes))
                } catch {
                    throw HTTPClientTransport.classify(error)
                }
            }
        } catch {
            let status = error.errorClass == .upstreamTimeout ? 504 : 502
            return .failure(Failure(status: status, errorClass: error.errorClass, message: error.description))
        }
        guard (200..<300).contains(status) else {
            return .failure(
                Failure(
                    status: status, errorClass: ProviderAdapter.errorClass(forStatus: status, body: body),
                    message: "HTTP \(status): \(String(decoding: body.prefix(300), as: UTF8.self))"))
        }
        do {
            let json = try JSONValue.parse(body)
            let response = try gateway.canonicalResponse(json, from: deployment)
            let fingerprint: String? = if case .string(let value)? = json["system_fingerprint"] { value } else { nil }
            return .success((response, fingerprint))
        } catch {
            return .failure(
                Failure(status: 502, errorClass: .upstreamError, message: "an answer Switchyard cannot read: \(error)"))
        }
    }
}
