import SwitchyardCore

/// A usage record as one line of JSON, written by hand: the write-ahead log writes one per
/// request, and Foundation's `JSONEncoder` cost about 150,000 instructions a record (a third of
/// a proxied request). The keys and shapes are those of `UsageRecord`'s `Codable` conformance,
/// so `JSONDecoder` reads these lines back (the journal's replay does); a test checks the round
/// trip for every field.
enum UsageRecordLine {
    static func append(_ record: UsageRecord, to bytes: inout [UInt8]) {
        // Swapped in and out, so appending never copies what the buffer already holds.
        var line = Writer(bytes: [])
        swap(&line.bytes, &bytes)
        line.raw("{")
        line.key("id", first: true)
        line.string(record.id)
        line.key("startedAt")
        line.number(record.startedAt.value)
        line.key("finishedAt")
        line.number(record.finishedAt.value)
        line.optional("tenant", record.tenant)
        line.optional("agent", record.agent)
        line.optional("keyID", record.keyID)
        line.key("endpoint")
        line.string(record.endpoint)
        line.optional("route", record.route)
        line.optional("deployment", record.deployment)
        line.optional("provider", record.provider)
        line.optional("upstreamModel", record.upstreamModel)
        line.key("streamed")
        line.raw(record.streamed ? "true" : "false")
        line.key("usage")
        let usage = record.usage
        line.raw("{")
        line.key("inputTokens", first: true)
        line.number(Int64(usage.inputTokens))
        line.key("outputTokens")
        line.number(Int64(usage.outputTokens))
        line.key("cachedInputTokens")
        line.number(Int64(usage.cachedInputTokens))
        line.key("cacheWriteInputTokens")
        line.number(Int64(usage.cacheWriteInputTokens))
        line.key("reasoningTokens")
        line.number(Int64(usage.reasoningTokens))
        line.key("isEstimated")
        line.raw(usage.isEstimated ? "true}" : "false}")
        line.key("cost")
        line.raw("{")
        line.key("nanos", first: true)
        line.number(record.cost.nanos)
        line.key("currency")
        line.string(record.cost.currency)
        line.raw("}")
        line.key("latencyMicros")
        line.number(record.latencyMicros)
        if let ttft = record.timeToFirstTokenMicros {
            line.key("timeToFirstTokenMicros")
            line.number(ttft)
        }
        line.key("status")
        line.number(Int64(record.status))
        line.optional("errorClass", record.errorClass?.rawValue)
        line.key("tags")
        line.raw("{")
        // Sorted: the same record is the same line.
        for (index, (name, value)) in record.tags.sorted(by: { $0.key < $1.key }).enumerated() {
            if index > 0 { line.raw(",") }
            line.string(name)
            line.raw(":")
            line.string(value)
        }
        line.raw("}")
        line.key("attempts")
        line.raw("[")
        for (index, attempt) in record.attempts.enumerated() {
            line.raw(index == 0 ? "{" : ",{")
            line.key("deployment", first: true)
            line.string(attempt.deployment)
            if let status = attempt.status {
                line.key("status")
                line.number(Int64(status))
            }
            line.optional("errorClass", attempt.errorClass?.rawValue)
            line.key("latencyMicros")
            line.number(attempt.latencyMicros)
            line.key("hedged")
            line.raw(attempt.hedged ? "true}" : "false}")
        }
        line.raw("]")
        line.optional("replica", record.replica)
        line.optional("traceID", record.traceID)
        line.optional("run", record.run)
        line.optional("runStep", record.runStep)
        if record.runLoop { line.raw(#","runLoop":true"#) }
        line.raw("}\n")
        swap(&line.bytes, &bytes)
    }

    struct Writer {
        var bytes: [UInt8]

        mutating func raw(_ text: StaticString) {
            text.withUTF8Buffer { bytes.append(contentsOf: $0) }
        }

        mutating func key(_ name: StaticString, first: Bool = false) {
            if !first { bytes.append(UInt8(ascii: ",")) }
            bytes.append(UInt8(ascii: "\""))
            name.withUTF8Buffer { bytes.append(contentsOf: $0) }
            bytes.append(UInt8(ascii: "\""))
            bytes.append(UInt8(ascii: ":"))
        }

        mutating func optional(_ name: StaticString, _ value: String?) {
            guard let value else { return }
            key(name)
            string(value)
        }

        mutating func number(_ value: Int64) {
            bytes.append(contentsOf: String(value).utf8)
        }

        /// A JSON string: quotes, backslashes and control characters escaped, the rest as UTF-8.
        mutating func string(_ value: String) {
            bytes.append(UInt8(ascii: "\""))
            for byte in value.utf8 {
                switch byte {
                case UInt8(ascii: "\""): bytes += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
                case UInt8(ascii: "\\"): bytes += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
                case 0..<0x20:
                    let hex = Array("0123456789abcdef".utf8)
                    bytes += Array("\\u00".utf8) + [hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
                default: bytes.append(byte)
                }
            }
            bytes.append(UInt8(ascii: "\""))
        }
    }
}
