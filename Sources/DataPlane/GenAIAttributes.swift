import SwitchyardCore

/// The span attribute names the gateway exports: the OpenTelemetry GenAI semantic conventions
/// (v1.41) and ours under `switchyard.*`. All in one place, so that following a newer version of
/// the conventions is one change.
enum GenAIAttributes {
    static let operationName = "gen_ai.operation.name"
    static let providerName = "gen_ai.provider.name"
    static let requestModel = "gen_ai.request.model"
    static let responseModel = "gen_ai.response.model"
    static let requestStream = "gen_ai.request.stream"
    static let requestMaxTokens = "gen_ai.request.max_tokens"
    static let requestTemperature = "gen_ai.request.temperature"
    static let requestTopP = "gen_ai.request.top_p"
    static let responseID = "gen_ai.response.id"
    static let responseFinishReasons = "gen_ai.response.finish_reasons"
    /// Opt-in content (a policy's `trace_content`): the request's instructions and messages and
    /// the answer, as JSON in the conventions' message schema (`TracedContent`).
    static let systemInstructions = "gen_ai.system_instructions"
    static let inputMessages = "gen_ai.input.messages"
    static let outputMessages = "gen_ai.output.messages"
    /// Content a policy asked for but too large to export, or unreadable (`….system`, `….input`,
    /// `….output`: true).
    static let contentOmitted = "switchyard.content_omitted"
    static let inputTokens = "gen_ai.usage.input_tokens"
    static let outputTokens = "gen_ai.usage.output_tokens"
    static let cacheReadInputTokens = "gen_ai.usage.cache_read.input_tokens"
    static let cacheCreationInputTokens = "gen_ai.usage.cache_creation.input_tokens"
    static let reasoningOutputTokens = "gen_ai.usage.reasoning.output_tokens"
    static let serverAddress = "server.address"
    static let serverPort = "server.port"
    static let errorType = "error.type"
    /// On `gen_ai.client.token.usage`: `input` or `output`.
    static let tokenType = "gen_ai.token.type"
    static let httpStatus = "http.response.status_code"

    static let tenant = "switchyard.tenant"
    static let project = "switchyard.project"
    static let agent = "switchyard.agent"
    static let keyID = "switchyard.key_id"
    /// The agent run (`x-switchyard-run`), also as the conventions' conversation id.
    static let runID = "switchyard.run.id"
    static let runStep = "switchyard.run.step"
    static let runLoop = "switchyard.run.loop"
    static let conversationID = "gen_ai.conversation.id"
    static let route = "switchyard.route"
    static let deployment = "switchyard.deployment"
    static let provider = "switchyard.provider"
    static let attempt = "switchyard.attempt"
    static let hedged = "switchyard.hedged"
    static let cancelled = "switchyard.cancelled"
    static let cost = "switchyard.cost"
    static let currency = "switchyard.cost.currency"
    static let usageEstimated = "switchyard.usage_estimated"
    static let requestID = "switchyard.request_id"
    /// On a queue-wait span: `admitted`, or why not.
    static let queueOutcome = "switchyard.queue.outcome"
    /// Events: a guardrail's hits (`switchyard.guardrail`), a policy's refusal (`switchyard.policy.denied`).
    static let guardrailDetector = "switchyard.guardrail.detector"
    static let guardrailAction = "switchyard.guardrail.action"
    static let guardrailHits = "switchyard.guardrail.hits"
    static let policy = "switchyard.policy"
    static let policyRule = "switchyard.policy.rule"
    /// `tail` on a trace the tail rule kept after head sampling dropped it.
    static let keptBy = "switchyard.trace.kept_by"
    /// A tail-kept trace's attempts, in order (each array has one entry per attempt).
    static let attemptDeployments = "switchyard.attempts.deployment"
    static let attemptErrors = "switchyard.attempts.error_type"
    static let attemptStatuses = "switchyard.attempts.status_code"
    static let attemptLatencies = "switchyard.attempts.duration_ms"

    /// `gen_ai.provider.name` of a provider kind (the conventions' well-known values).
    static func providerName(of kind: ProviderKind) -> String {
        switch kind {
        case .openai: "openai"
        case .anthropic: "anthropic"
        case .gemini: "gcp.gemini"
        }
    }

    /// `gen_ai.operation.name` of an endpoint (the endpoint's own name where the conventions have none).
    static func operation(endpoint: String) -> String {
        switch endpoint {
        case "chat.completions", "messages", "responses": "chat"
        default: endpoint
        }
    }
}
