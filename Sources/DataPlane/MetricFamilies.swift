import Observability

/// The families the data plane records through swift-metrics, with what the two outputs need and
/// swift-metrics does not carry: help text, unit, exposition name and bucket bounds. The GenAI
/// families are recorded under the OpenTelemetry semantic conventions' (v1.41) names, attribute
/// keys and bucket boundaries, which the push keeps; the exposition spells them as Prometheus'
/// translation does (`gen_ai_client_operation_duration_seconds`, `gen_ai_operation_name`).
package enum MetricFamilies {
    static let requests = "switchyard_requests_total"
    static let requestDuration = "switchyard_request_duration_seconds"
    static let timeToFirstToken = "switchyard_time_to_first_token_seconds"
    static let tokens = "switchyard_tokens_total"
    static let cost = "switchyard_cost_nanos_total"
    static let upstreamErrors = "switchyard_upstream_errors_total"
    static let guardrailHits = "switchyard_guardrail_hits_total"
    static let genAIOperationDuration = "gen_ai.client.operation.duration"
    static let genAITokenUsage = "gen_ai.client.token.usage"
    static let genAITimeToFirstToken = "gen_ai.server.time_to_first_token"
    static let genAITimePerOutputToken = "gen_ai.server.time_per_output_token"

    static let tokenBuckets: [Double] = [
        1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262_144, 1_048_576, 4_194_304, 16_777_216, 67_108_864,
    ]
    static let durationBuckets: [Double] = [
        0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
    ]
    static let timeToFirstTokenBuckets: [Double] = [
        0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
    ]
    static let timePerOutputTokenBuckets: [Double] = [
        0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5,
    ]

    package static let catalog = MetricFamilyCatalog([
        requests: .init(help: "Requests handled, by outcome."),
        requestDuration: .init(help: "Time from request received to response complete.", unit: "s"),
        timeToFirstToken: .init(help: "Time from request received to first streamed token.", unit: "s"),
        tokens: .init(help: "Tokens consumed, by tenant and deployment.", unit: "{token}"),
        cost: .init(help: "Cost in nano-units (1e-9) of the currency, by tenant and deployment."),
        upstreamErrors: .init(help: "Failed upstream attempts, by provider, deployment and error class."),
        guardrailHits: .init(help: "Sensitive content found in prompts, by detector and action."),
        genAIOperationDuration: .init(
            help: "GenAI operation duration.", unit: "s", prometheusName: "gen_ai_client_operation_duration_seconds",
            buckets: durationBuckets),
        genAITokenUsage: .init(
            help: "Number of input and output tokens used.", unit: "{token}", prometheusName: "gen_ai_client_token_usage",
            buckets: tokenBuckets),
        genAITimeToFirstToken: .init(
            help: "Time to generate first token for successful responses.", unit: "s",
            prometheusName: "gen_ai_server_time_to_first_token_seconds", buckets: timeToFirstTokenBuckets),
        genAITimePerOutputToken: .init(
            help: "Time per output token generated after the first token for successful responses.", unit: "s",
            prometheusName: "gen_ai_server_time_per_output_token_seconds", buckets: timePerOutputTokenBuckets),
    ])
}
