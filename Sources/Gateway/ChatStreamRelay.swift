import Foundation
import Hummingbird
import NIOCore
import SwitchyardCore
import WireFormats

/// Relays an OpenAI chat completion stream event by event, watching it for usage.
///
/// Switchyard always asks the upstream for a usage chunk; when the client did not ask for one,
/// the relay removes it so the client sees exactly the stream it requested. Each event's data is
/// forwarded as received: only the SSE framing is rewritten.
struct ChatStreamRelay {
    let clientWantsUsage: Bool
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
    /// When the first event was handed to the client.
    private(set) var firstForwardedAt: ContinuousClock.Instant?

    init(clientWantsUsage: Bool) {
        self.clientWantsUsage = clientWantsUsage
    }

    /// Writes this piece of upstream body to the client, event by event as relayed. The stream's
    /// first event leaves on its own, before the rest of a burst is relayed: the client's first
    /// token does not wait for the upstream's later ones. Throws when the client is gone.
    mutating func relay(_ buffer: ByteBuffer, to writer: inout any ResponseBodyWriter) async throws {
        var pending: [UInt8] = []
        for part in firstForwardedAt == nil ? Self.splitAfterFirstEvent(buffer) : [buffer] {
            let events = part.withUnsafeReadableBytes { parser.feed(raw: $0) }
            for event in events {
                guard let forwarded = inspect(event) else { continue }
                forwardedEvents += 1
                if firstForwardedAt != nil {
                    pending += forwarded.encoded()
                    continue
                }
                firstForwardedAt = .now
                try await writer.write(ByteBuffer(bytes: forwarded.encoded()))
            }
        }
        if !pending.isEmpty { try await writer.write(ByteBuffer(bytes: pending)) }
    }

    /// A piece of upstream body split after its first event (its first blank line), so that
    /// event can be relayed before the rest is read. Unsplit when there is no such line.
    static func splitAfterFirstEvent(_ buffer: ByteBuffer) -> [ByteBuffer] {
        let end = buffer.withUnsafeReadableBytes { bytes -> Int? in
            var index = 1
            while index < bytes.count {
                // An event ends at an empty line: "\n\n" or "\n\r\n" (a line's own "\r" sits before its "\n").
                if bytes[index] == 0x0A,
                    bytes[index - 1] == 0x0A || (index >= 2 && bytes[index - 1] == 0x0D && bytes[index - 2] == 0x0A)
                {
                    return index + 1
                }
                index += 1
            }
            return nil
        }
        guard let end, end < buffer.readableBytes else { return [buffer] }
        return [
            buffer.getSlice(at: buffer.readerIndex, length: end)!,
            buffer.getSlice(at: buffer.readerIndex + end, length: buffer.readableBytes - end)!,
        ]
    }

    /// True when the stream ended the way a complete OpenAI stream ends.
    var endedCleanly: Bool { upstreamError == nil && (sawDone || sawFinishReason) }

    private mutating func inspect(_ event: ServerSentEvent) -> ServerSentEvent? {
        if event.isDone {
            sawDone = true
            return event
        }
        let summary = OpenAIChunkScanner.summarize(event.data)
        guard summary.hasChoices || summary.hasUsage else {
            if let editor = JSONObjectEditor(event.data), let error = editor.value(of: "error") {
                upstreamError = String(decoding: error, as: UTF8.self)
            }
            return event
        }
        if summary.outputBytes > 0 {
            outputChunks += 1
            outputCharacters += summary.outputBytes
        }
        if summary.hasFinishReason { sawFinishReason = true }
        guard summary.hasUsage else { return event }
        // Usage arrives once per stream: decode just this chunk exactly.
        if let chunkUsage = (try? Self.decoder.decode(OpenAIChatChunk.self, from: Data(event.data)))?.usage {
            usage = chunkUsage
        }
        if clientWantsUsage { return event }
        if summary.choicesEmpty || !summary.hasChoices { return nil }
        // Usage riding on a content chunk: blank it rather than drop the content.
        guard let editor = JSONObjectEditor(event.data) else { return event }
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
