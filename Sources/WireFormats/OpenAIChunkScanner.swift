/// What the gateway needs from one streamed chat completion chunk, read by scanning bytes
/// instead of decoding the JSON: a stream relays hundreds of chunks per request, and a full
/// decode of each was the largest cost of streaming (see the README's Performance section).
public struct OpenAIChunkSummary: Equatable, Sendable {
    /// The chunk has a `choices` member (false for error events and other payloads).
    public var hasChoices = false
    public var choicesEmpty = false
    /// Bytes of generated output (text, reasoning, tool-call arguments and names), escapes counted once.
    public var outputBytes = 0
    public var hasFinishReason = false
    /// The non-empty `finish_reason` strings, in order, as written (plain words): at most
    /// `maximumFinishReasons`, of at most 64 bytes each, whatever an upstream sends. Only when asked
    /// (`collectingFinishReasons`): a traced request's span wants them, nothing else does.
    public var finishReasons: [String] = []
    /// A non-null `usage` object is present.
    public var hasUsage = false
}

/// The output keys (whose string values are generated text) are `content`, `reasoning_content`
/// and `arguments`.
public enum OpenAIChunkScanner {
    /// The most finish reasons kept, from one chunk or from a whole stream.
    public static let maximumFinishReasons = 16

    public static func summarize(_ data: [UInt8], collectingFinishReasons: Bool = false, countingOutput: Bool = true)
        -> OpenAIChunkSummary
    {
        data.withUnsafeBytes {
            summarize(raw: $0, collectingFinishReasons: collectingFinishReasons, countingOutput: countingOutput)
        }
    }

    /// `countingOutput`: false when only the finish reasons are wanted (a non-streamed answer's
    /// span): `outputBytes` stays 0 and the generated text is skipped, not measured.
    public static func summarize(
        raw bytes: UnsafeRawBufferPointer, collectingFinishReasons: Bool = false, countingOutput: Bool = true
    ) -> OpenAIChunkSummary {
        var summary = OpenAIChunkSummary()
        var index = 0
        let count = bytes.count
        while index < count {
            guard bytes[index] == UInt8(ascii: "\"") else {
                index += 1
                continue
            }
            // A string starts here: read it, then see whether a colon follows (it was a key).
            let keyStart = index + 1
            guard let keyEnd = endOfString(bytes, from: keyStart) else { break }
            var cursor = skipWhitespace(bytes, keyEnd + 1)
            guard cursor < count, bytes[cursor] == UInt8(ascii: ":") else {
                index = keyEnd + 1
                continue
            }
            cursor = skipWhitespace(bytes, cursor + 1)
            let key = UnsafeRawBufferPointer(rebasing: bytes[keyStart..<keyEnd])
            if countingOutput, isKey(key, "content") || isKey(key, "reasoning_content") || isKey(key, "arguments") {
                if cursor < count, bytes[cursor] == UInt8(ascii: "\""), let valueEnd = endOfString(bytes, from: cursor + 1) {
                    summary.outputBytes += unescapedLength(bytes, cursor + 1, valueEnd)
                    index = valueEnd + 1
                    continue
                }
            } else if isKey(key, "choices") {
                summary.hasChoices = true
                if cursor < count, bytes[cursor] == UInt8(ascii: "[") {
                    let next = skipWhitespace(bytes, cursor + 1)
                    summary.choicesEmpty = next < count && bytes[next] == UInt8(ascii: "]")
                }
            } else if isKey(key, "finish_reason") {
                if cursor < count, bytes[cursor] == UInt8(ascii: "\""), let valueEnd = endOfString(bytes, from: cursor + 1) {
                    summary.hasFinishReason = true
                    let length = valueEnd - cursor - 1
                    if collectingFinishReasons, length > 0, length <= 64,
                        summary.finishReasons.count < maximumFinishReasons
                    {
                        summary.finishReasons.append(
                            String(decoding: UnsafeRawBufferPointer(rebasing: bytes[(cursor + 1)..<valueEnd]), as: UTF8.self))
                    }
                    index = valueEnd + 1
                    continue
                }
            } else if isKey(key, "usage") {
                if cursor < count, bytes[cursor] == UInt8(ascii: "{") { summary.hasUsage = true }
            }
            index = cursor
        }
        return summary
    }

    /// Whether `key` is `name`, byte for byte: lengths first, then a plain loop (the generic
    /// `elementsEqual` against a string's UTF-8 view was a visible part of a stream's cost).
    @inline(__always)
    static func isKey(_ key: UnsafeRawBufferPointer, _ name: StaticString) -> Bool {
        guard key.count == name.utf8CodeUnitCount else { return false }
        let literal = UnsafeRawBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount)
        for index in 0..<literal.count where key[index] != literal[index] { return false }
        return true
    }

    /// Index of the closing quote of a string whose content starts at `start`, found by the
    /// gateway's one string reader (lenient: this is text a provider generated).
    static func endOfString(_ bytes: UnsafeRawBufferPointer, from start: Int) -> Int? {
        // Bytes of a [UInt8] (bound to UInt8) or of a ByteBuffer (raw memory): binding them to
        // UInt8 is valid for both and changes nothing.
        let typed = bytes.bindMemory(to: UInt8.self)
        return JSONTokenReader.endOfGeneratedString(typed, quote: start - 1)
    }

    static func skipWhitespace(_ bytes: UnsafeRawBufferPointer, _ start: Int) -> Int {
        var index = start
        while index < bytes.count, JSONSyntax.isWhitespace(bytes[index]) { index += 1 }
        return index
    }

    /// Approximate characters: each escape (`\\n`, `\\u00e9`) counts as one.
    static func unescapedLength(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> Int {
        var length = 0
        var index = start
        while index < end {
            if bytes[index] == UInt8(ascii: "\\") {
                length += 1
                index += index + 1 < end && bytes[index + 1] == UInt8(ascii: "u") ? 6 : 2
            } else {
                // Count UTF-8 lead bytes only, so multi-byte characters count once.
                if bytes[index] & 0xC0 != 0x80 { length += 1 }
                index += 1
            }
        }
        return length
    }
}
