import Foundation
import Hummingbird
import Providers
import Routing
import SwitchyardCore
import WireFormats

extension Gateway {
    /// `POST /v1/embeddings`.
    func embeddings(_ request: Request) async -> Response {
        var meter = RequestMeter(endpoint: "embeddings")
        let admitted: AdmittedRequest<OpenAIEmbeddingsRequest>
        switch await admit(request, as: OpenAIEmbeddingsRequest.self, meter: &meter) {
        case .failure(let error): return fail(error, meter: meter)
        case .success(let success): admitted = success
        }
        let (principal, editor, embeddingsRequest) = (admitted.principal, admitted.editor, admitted.decoded)
        let estimatedInput: Int =
            switch embeddingsRequest.input {
            case .texts(let texts): TokenEstimator.inputTokens(ofTexts: texts)
            case .tokens(let count): count
            }
        var plan: RoutePlan
        switch planRoute(
            request, model: embeddingsRequest.model, metadata: nil,
            // An embedding has no output tokens: a max_output_tokens rule is met, and none is reserved.
            profile: RequestProfile(estimatedInputTokens: estimatedInput, maxOutputTokens: 0), principal: principal,
            meter: &meter)
        {
        case .failure(let error): return fail(error, meter: meter)
        case .success(let planned): plan = planned
        }
        // Embeddings are served in OpenAI's format only.
        plan.candidates.removeAll { kind(of: $0) != .openai }
        guard !plan.candidates.isEmpty else {
            return fail(
                .invalidRequest(
                    "Route '\(plan.route.name)' has no OpenAI-compatible deployment to serve embeddings.", param: "model"),
                meter: meter)
        }
        let outcome = await execute(plan, streaming: false, meter: &meter) { deployment in
            EgressCall(path: "/embeddings", body: editor.replacing([("model", JSONText.string(deployment.model))]))
        }
        let upstream: UpstreamSuccess
        switch outcome {
        case .failure(let error): return fail(error, meter: meter)
        case .success(let success): upstream = success
        }
        let responseBody = upstream.body ?? []
        let reported = (try? decoder.decode(OpenAIUsageEnvelope.self, from: Data(responseBody)))?.usage
        let usage =
            reported.map { TokenUsage(inputTokens: $0.promptTokens ?? 0, isEstimated: false) }
            ?? TokenUsage(inputTokens: estimatedInput, isEstimated: true)
        meter.finish(status: upstream.response.status, errorClass: nil, usage: usage, gateway: self)
        var response = Response(
            status: .init(code: upstream.response.status),
            headers: [.contentType: upstream.response.contentType ?? "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: responseBody)))
        decorate(&response, meter: meter, upstream: upstream, estimated: usage.isEstimated)
        return response
    }

    /// `GET /v1/models`: the routes this key may use, in OpenAI's list shape.
    func models(_ request: Request) async -> Response {
        var meter = RequestMeter(endpoint: "models")
        let principal: Principal
        switch await authenticate(request, meter: &meter) {
        case .failure(let error): return fail(error, meter: meter)
        case .success(let authenticated): principal = authenticated
        }
        let tenant = self.tenant(named: principal.tenant)
        let entries = planner.routeNames.filter { tenant?.mayUse(route: $0) ?? false }.map { name in
            Array(#"{"id":"#.utf8) + JSONText.string(name)
                + Array(#","object":"model","created":0,"owned_by":"switchyard"}"#.utf8)
        }
        var body = Array(#"{"object":"list","data":["#.utf8)
        for (index, entry) in entries.enumerated() {
            if index > 0 { body.append(UInt8(ascii: ",")) }
            body += entry
        }
        body += Array("]}".utf8)
        var response = Response.json(status: .ok, body)
        response.headers[.requestID] = meter.id
        return response
    }
}
