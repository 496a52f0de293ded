import Foundation
import NIOCore
import SwitchyardCore
import WireFormats

/// Relays an OpenAI chat completion stream to an OpenAI client event by event (the fast path),
/// watching it for usage.
///
/// Switchyard always asks the upstream for a usage chunk; when the client did not ask for one,
/// the relay removes it so the client sees exactly the stream it requested. Each event's data is
/// forwarded as received: only the SSE framing is rewritten.
struct ChatStreamRelay: StreamEventRelay {
    let clientWantsUsage: Bool
    /// Keep the answer's id (from its first chunk: a scan of that chunk) and finish reasons, for a
    /// traced request.
    let readsResponseFacts: Bool
    private(set) var responseFacts = ResponseFacts()
    private var sawChoices = false
    private var parser = ServerSentEventParser()
    /// Shared: a relay is made per stream, and decoding is needed once per stream at most.
    private static let decoder = JSONDecoder()
    private(set) var usage: OpenAIUsage?
    private(set) var outputChunks = 0
    private(set) var outputCharacters = 0
    private(set) var sawDone = false
    private(set) var sawFinishReason = false
    /// An `{"error": …}` event sent by the upstream inside the stream.
    private(set) var upstreamError: String?
    private(set) var forwardedEvents = 0
    /// The stream's end (`[DONE]` and anything after it), held back until the request's usage
    /// record is on disk: `closing` sends it.
    private var heldBack: [UInt8] = []

    /// The answer's content, read through the OpenAI stream decoder, for a span that takes it
    /// (`recordsContent`): the fast path itself reads no content.
    private(set) var transcript: AnswerTranscript?
    private var contentDecoder: EgressStreamDecoder?

    init(clientWantsUsage: Bool, readsResponseFacts: Bool = false, recordsContent: Bool = false) {
        self.clientWantsUsage = clientWantsUsage
        self.readsResponseFacts = readsResponseFacts
        if recordsContent {
            transcript = AnswerTranscript(limit: RequestTrace.contentLimit)
            contentDecoder = EgressStreamDecoder(kind: .openai)
        }
    }

    /// The bytes to send to the client for this piece of upstream body (possibly none). An
    /// upstream's error event is passed on like any other; it ends the stream unclean.
    mutating func relay(_ piece: ByteBuffer) -> StreamStep {
        var output: [UInt8] = []
        let events = piece.withUnsafeReadableBytes { parser.feed(raw: $0) }
        for event in events {
            if contentDecoder != nil, let items = try? contentDecoder?.decode(event) {
                for item in items { transcript?.read(item) }
                // Past the limit nothing more is kept: no more reading either.
                if transcript?.overflowed == true { contentDecoder = nil }
            }
            if let forwarded = inspect(event) {
                if sawDone { heldBack += forwarded.encoded() } else { output += forwarded.encoded() }
                forwardedEvents += 1
            }
        }
        return StreamStep(bytes: output)
    }

    /// True when the stream ended the way a complete OpenAI stream ends.
    var endedCleanly: Bool { upstreamError == nil && (sawDone || sawFinishReason) }

    var forwardedError: String? { upstreamError }

    /// The upstream's own events end the stream: only what was held back is sent.
    func closing(usage: TokenUsage) -> [UInt8] { heldBack }

    /// An error event the OpenAI SDKs raise as an `APIError`.
    func errorEvent(_ error: OpenAIError) -> [UInt8] { ServerSentEvent(data: error.body()).encoded() }

    private mutating func inspect(_ event: ServerSentEvent) -> ServerSentEvent? {
        if event.isDone {
            sawDone = true
            return event
        }
        let summary = OpenAIChunkScanner.summarize(event.data, collectingFinishReasons: readsResponseFacts)
        guard summary.hasChoices || summary.hasUsage else {
            if let editor = JSONObjectEditor(event.data, generated: true), let error = editor.value(of: "error") {
                upstreamError = String(decoding: error, as: UTF8.self)
            }
            return event
        }
        if summary.outputBytes > 0 {
            outputChunks += 1
            outputCharacters += summary.outputBytes
        }
        if summary.hasFinishReason { sawFinishReason = true }
        if readsResponseFacts {
            let room = OpenAIChunkScanner.maximumFinishReasons - responseFacts.finishReasons.count
            if room > 0 { responseFacts.finishReasons += summary.finishReasons.prefix(room) }
            if !sawChoices, summary.hasChoices {
                sawChoices = true
                responseFacts.id = JSONObjectEditor(event.data, generated: true).flatMap(ResponseFacts.id(in:))
            }
        }
        guard summary.hasUsage else { return event }
        // Usage arrives once per stream: decode just this chunk exactly.
        if let chunkUsage = (try? Self.decoder.decode(OpenAIChatChunk.self, from: Data(event.data)))?.usage {
            usage = chunkUsage
        }
        if clientWantsUsage { return event }
        if summary.choicesEmpty || !summary.hasChoices { return nil }
        // Usage riding on a content chunk: blank it rather than drop the content.
        guard let editor = JSONObjectEditor(event.data, generated: true) else { return event }
        var edited = event
        edited.data = editor.replacing([("usage", Array("null".utf8))])
        return edited
    }

    /// Usage as reported, or estimated from the request and the output relayed so far.
    func tokenUsage(estimatedInputTokens: Int) -> TokenUsage {
        if let usage { return usage.tokenUsage }
        return TokenUsage(
            inputTokens: estimatedInputTokens,
            outputTokens: TokenEstimator.outputTokens(chunks: outputChunks, characters: outputCharacters),
            cachedInputTokens: 0, isEstimated: true)
    }
}
