import SwitchyardCore
import Telemetry

/// The attributes of a request's SERVER span, kept as its usage record (and what earlier stages
/// learnt) and written only when the span is exported: the request path makes no attribute
/// values at all (README, "Observability").
struct RequestSpanFacts: SpanFacts {
    let record: UsageRecord
    /// The key's project (the record does not keep it).
    let project: String?
    /// `gen_ai.operation.name`.
    let operation: String
    /// `gen_ai.provider.name`: the kind of the record's provider.
    let providerKind: String?
    let gathered: RequestTrace.Gathered

    func write(to sink: inout SpanAttributeWriter) {
        if let maxTokens = gathered.maxTokens { sink.add(GenAIAttributes.requestMaxTokens, Int64(maxTokens)) }
        if let temperature = gathered.temperature { sink.add(GenAIAttributes.requestTemperature, temperature) }
        if let topP = gathered.topP { sink.add(GenAIAttributes.requestTopP, topP) }
        if let id = gathered.response.id { sink.add(GenAIAttributes.responseID, id) }
        if !gathered.response.finishReasons.isEmpty {
            sink.add(GenAIAttributes.responseFinishReasons, gathered.response.finishReasons)
        }
        if let route = record.route {
            sink.add(GenAIAttributes.requestModel, route)
            sink.add(GenAIAttributes.route, route)
        }
        sink.add(GenAIAttributes.operationName, operation)
        sink.add(GenAIAttributes.requestID, record.id)
        sink.add(GenAIAttributes.requestStream, record.streamed)
        sink.add(GenAIAttributes.httpStatus, Int64(record.status))
        if let model = record.upstreamModel { sink.add(GenAIAttributes.responseModel, model) }
        if let provider = record.provider {
            sink.add(GenAIAttributes.providerName, providerKind ?? provider)
            sink.add(GenAIAttributes.provider, provider)
        }
        if let deployment = record.deployment { sink.add(GenAIAttributes.deployment, deployment) }
        if let tenant = record.tenant { sink.add(GenAIAttributes.tenant, tenant) }
        if let project { sink.add(GenAIAttributes.project, project) }
        if let agent = record.agent { sink.add(GenAIAttributes.agent, agent) }
        if let keyID = record.keyID { sink.add(GenAIAttributes.keyID, keyID) }
        if let run = record.run {
            sink.add(GenAIAttributes.runID, run)
            sink.add(GenAIAttributes.conversationID, run)
            if let step = record.runStep { sink.add(GenAIAttributes.runStep, step) }
            if record.runLoop { sink.add(GenAIAttributes.runLoop, true) }
        }
        let usage = record.usage
        sink.add(GenAIAttributes.inputTokens, Int64(usage.inputTokens))
        sink.add(GenAIAttributes.outputTokens, Int64(usage.outputTokens))
        if usage.cachedInputTokens > 0 { sink.add(GenAIAttributes.cacheReadInputTokens, Int64(usage.cachedInputTokens)) }
        if usage.cacheWriteInputTokens > 0 {
            sink.add(GenAIAttributes.cacheCreationInputTokens, Int64(usage.cacheWriteInputTokens))
        }
        if usage.reasoningTokens > 0 { sink.add(GenAIAttributes.reasoningOutputTokens, Int64(usage.reasoningTokens)) }
        sink.add(GenAIAttributes.usageEstimated, usage.isEstimated)
        // A decimal string: exact, where a double would round nano-units.
        sink.add(GenAIAttributes.cost, record.cost.decimalString)
        sink.add(GenAIAttributes.currency, record.cost.currency)
        sink.add(GenAIAttributes.attempt, Int64(record.attempts.count))
        if let errorClass = record.errorClass { sink.add(GenAIAttributes.errorType, errorClass.rawValue) }
    }
}
