import NIOCore
import SwitchyardCore
import WireFormats

/// What a stream relay does with the upstream's events for one pair of formats: pass them
/// through (`ChatStreamRelay`, OpenAI to OpenAI, bytes as sent) or translate them through the
/// canonical events (`TranslatedStreamRelay`). The relay loop (`Gateway.relayStream`) owns the
/// rest, once for both: deadlines, the kill switch, the client leaving, the end of the stream
/// and its settlement.
protocol StreamEventRelay: Sendable {
    /// The client's bytes for one piece of the upstream body (possibly none), and the failure
    /// that ends the stream here, if the piece holds one.
    mutating func relay(_ piece: ByteBuffer) -> StreamStep
    /// The stream ended the way a complete one ends.
    var endedCleanly: Bool { get }
    /// An error the upstream sent inside the stream and the relay passed on to the client as
    /// it was (the relay then writes no error event of its own).
    var forwardedError: String? { get }
    /// Usage as reported, or estimated from the request and the output relayed so far.
    func tokenUsage(estimatedInputTokens: Int) -> TokenUsage
    /// The bytes that close a complete stream, after the last relayed piece.
    mutating func closing(usage: TokenUsage) -> [UInt8]
    /// `error` as the stream's last event, in the client's format.
    mutating func errorEvent(_ error: OpenAIError) -> [UInt8]
    /// What the stream said of its answer (`gen_ai.response.id`, `finish_reasons`), for a trace.
    var responseFacts: ResponseFacts { get }
    /// The answer's content, when the request's span takes it (`recordsContent`).
    var transcript: AnswerTranscript? { get }
}

/// The answer's id and why each choice ended, as the upstream said.
struct ResponseFacts: Sendable {
    var id: String?
    var finishReasons: [String] = []

    /// The answer's `id` member, when it is a string of 1 to 256 bytes (an upstream writes it;
    /// the span carries it).
    static func id(in answer: JSONObjectEditor) -> String? {
        guard let member = answer.value(of: "id"), member.count <= 256 * 6 + 2 else { return nil }
        let text: String
        // An id is plain ASCII: its bytes between the quotes, unless an escape needs decoding.
        if member.count >= 2, member.first == UInt8(ascii: "\""), member.last == UInt8(ascii: "\""),
            !member.contains(where: { $0 == UInt8(ascii: "\\") || $0 < 0x20 })
        {
            text = String(decoding: member.dropFirst().dropLast(), as: UTF8.self)
        } else if case .string(let decoded)? = try? JSONValue.parse(Array(member)) {
            text = decoded
        } else {
            return nil
        }
        guard !text.isEmpty, text.utf8.count <= 256 else { return nil }
        return text
    }

    /// A translated answer's facts: its id (1 to 256 bytes), and its stop reason in OpenAI's
    /// words (`stop`, `length`, `tool_calls`, `content_filter`) whatever the provider's family; a
    /// reason OpenAI has no word for as the provider wrote it (up to 64 bytes, as the scanner keeps).
    mutating func read(_ event: CanonicalStreamEvent) {
        switch event {
        case .start(let id, _) where id.utf8.count <= 256 && !id.isEmpty && self.id == nil: self.id = id
        case .stop(let reason) where finishReasons.count < OpenAIChunkScanner.maximumFinishReasons:
            let word = OpenAIChatFormat.finishReason(reason)
            if !word.isEmpty, word.utf8.count <= 64 { finishReasons.append(word) }
        default: break
        }
    }
}

/// One piece of an upstream stream, relayed.
struct StreamStep {
    var bytes: [UInt8]
    /// The stream cannot go on (an event that cannot be read, or the upstream's error event).
    var failure: (ErrorClass, String)?
}

/// Relays a stream of any provider family to a client of any format through the canonical
/// events; where the provider speaks the client's format (`passthrough`), each event is passed on
/// as it came and only read for usage and the stream's end.
struct TranslatedStreamRelay: StreamEventRelay {
    private let passthrough: Bool
    private var parser = ServerSentEventParser()
    private var decoder: EgressStreamDecoder
    private var encoder: IngressStreamEncoder
    private var reported: CanonicalUsage?
    private var outputEvents = 0
    private var outputCharacters = 0
    /// Passed through: the stream's terminal event (and anything after), held back until the
    /// request's usage record is on disk. `closing` sends it.
    private var heldBack: [UInt8] = []
    /// Read only when the request is traced (`readsResponseFacts`).
    private(set) var responseFacts = ResponseFacts()
    private let readsResponseFacts: Bool
    private(set) var transcript: AnswerTranscript?

    init(
        decoder: EgressStreamDecoder, encoder: IngressStreamEncoder, passthrough: Bool, readsResponseFacts: Bool = false,
        recordsContent: Bool = false
    ) {
        self.decoder = decoder
        self.encoder = encoder
        self.passthrough = passthrough
        self.readsResponseFacts = readsResponseFacts
        self.transcript = recordsContent ? AnswerTranscript(limit: RequestTrace.contentLimit) : nil
    }

    var endedCleanly: Bool { decoder.endedCleanly }
    var forwardedError: String? { nil }

    mutating func relay(_ piece: ByteBuffer) -> StreamStep {
        var output: [UInt8] = []
        let events = piece.withUnsafeReadableBytes { parser.feed(raw: $0) }
        for event in events {
            let translated: [CanonicalStreamEvent]
            do throws(StreamDecodingError) {
                translated = try decoder.decode(event)
            } catch {
                let failure =
                    error.fromProvider
                    ? (ErrorClass.upstreamError, "the upstream reported an error: \(error.message)")
                    : (ErrorClass.streamInterrupted, error.message)
                return StreamStep(bytes: output, failure: failure)
            }
            for item in translated {
                transcript?.read(item)
                switch item {
                case .textDelta(let text), .thinkingDelta(let text):
                    outputEvents += 1
                    outputCharacters += text.count
                case .toolCallArguments(_, let fragment): outputCharacters += fragment.count
                case .usage(let usage): reported = usage
                case .start, .stop: if readsResponseFacts { responseFacts.read(item) }
                default: break
                }
                if !passthrough { for encoded in encoder.encode(item) { output += encoded.encoded() } }
            }
            if passthrough {
                if decoder.endedCleanly { heldBack += event.encoded() } else { output += event.encoded() }
            }
        }
        return StreamStep(bytes: output)
    }

    func tokenUsage(estimatedInputTokens: Int) -> TokenUsage {
        TokenUsage(
            reported, estimatedInputTokens: estimatedInputTokens,
            estimatedOutputTokens: TokenEstimator.outputTokens(chunks: outputEvents, characters: outputCharacters))
    }

    mutating func closing(usage: TokenUsage) -> [UInt8] {
        if passthrough { return heldBack }
        var closing: [UInt8] = []
        if reported == nil {
            // The upstream reported no usage (llama.cpp streams): the client gets the estimate.
            let estimate = CanonicalUsage(input: usage.inputTokens, output: usage.outputTokens)
            closing += encoder.encode(.usage(estimate)).flatMap { $0.encoded() }
        }
        return closing + encoder.finish().flatMap { $0.encoded() }
    }

    mutating func errorEvent(_ error: OpenAIError) -> [UInt8] {
        encoder.fail(status: error.status, code: error.code ?? error.errorClass.rawValue, message: error.message)
            .flatMap { $0.encoded() }
    }
}
