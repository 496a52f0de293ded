import Foundation
import Testing

@testable import WireFormats

/// A bounded, seeded fuzzer for what parses untrusted bytes: JSON, the three request decoders,
/// the OpenAI fast-path decoder and the byte editor, and the SSE parser. It mutates recorded
/// requests and streams (byte flips, cuts, splices, deep nesting, invalid UTF-8, huge numbers)
/// and checks properties, not just survival: JSON that parses re-parses to the same value after
/// serialising, and an SSE stream yields the same events however it is split into chunks.
///
/// `SWITCHYARD_FUZZ_RUNS` (default 3000) is the number of inputs per target;
/// `SWITCHYARD_FUZZ_SEED` replays a run.
@Suite struct DecodingFuzzTests {
    /// Inputs per fuzz target. A count, not a time budget: a run is then the same on a loaded
    /// machine as on an idle one, and a seed replays it exactly. Each loop yields its thread
    /// every few inputs: the cooperative pool has two threads here, and fuzz loops that held
    /// theirs for seconds stalled every other test of the run.
    static let runs = Int(ProcessInfo.processInfo.environment["SWITCHYARD_FUZZ_RUNS"] ?? "") ?? 3000
    static let seed = UInt64(ProcessInfo.processInfo.environment["SWITCHYARD_FUZZ_SEED"] ?? "") ?? 0x5EED_2026

    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    static let requestCorpus: [[UInt8]] = [
        #"{"model":"chat","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":[{"type":"text","text":"Hi"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}}]}],"max_tokens":64,"temperature":0.7,"stream":true,"stream_options":{"include_usage":true},"tools":[{"type":"function","function":{"name":"search","parameters":{"type":"object","properties":{"q":{"type":"string"}}}}}],"tool_choice":"auto","metadata":{"customer":"c1"}}"#,
        #"{"model":"chat","max_tokens":32,"system":"Be brief.","messages":[{"role":"user","content":[{"type":"text","text":"Hi"}]},{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"search","input":{"q":"x"}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"ok"}]}],"tools":[{"name":"search","input_schema":{"type":"object"}}],"stream":false}"#,
        #"{"model":"chat","input":[{"role":"user","content":"Hi"}],"instructions":"Be brief.","max_output_tokens":16,"reasoning":{"effort":"low"}}"#,
    ].map { Array($0.utf8) }

    static func streamCorpus() throws -> [[UInt8]] {
        try [
            "openai/stream-text.sse", "openai/stream-tool-call.sse", "anthropic/stream-text.sse", "anthropic/stream-tool-use.sse",
        ]
        .map { Array(try Data(contentsOf: fixtures.appendingPathComponent($0))) }
    }

    @Test func requestDecodersRefuseMutatedInputCleanly() async {
        var random = FuzzRandom(seed: Self.seed)
        var runs = 0
        var parsed = 0
        while runs < DecodingFuzzTests.runs {
            runs += 1
            if runs % 32 == 0 { await Task.yield() }  // see DecodingFuzzTests.runs
            let input = random.mutate(Self.requestCorpus[random.below(Self.requestCorpus.count)])
            _ = JSONObjectEditor(input)?.value(of: "model")
            let decoded = try? JSONDecoder().decode(OpenAIChatRequest.self, from: Data(input))
            guard let json = try? JSONValue.parse(input) else { continue }
            parsed += 1
            // The hot path's reader accepts only what JSONDecoder accepts, and reads it the same.
            if let fast = OpenAIChatRequest(json: json) {
                #expect(
                    decoded.map(fast.readsLike) == true,
                    "fast path disagrees with JSONDecoder (seed \(Self.seed), run \(runs))")
            }
            // Serialising and parsing again gives the same value.
            let again = try? JSONValue.parse(json.serialized())
            #expect(again == json, "round trip changed the value (seed \(Self.seed), run \(runs))")
            // Each decoder accepts or throws its own error with a message; none may crash.
            do { _ = try OpenAIChatFormat.decodeRequest(json) } catch { #expect(!error.message.isEmpty) }
            do { _ = try AnthropicFormat.decodeRequest(json) } catch { #expect(!error.message.isEmpty) }
            do { _ = try ResponsesFormat.decodeRequest(json) } catch { #expect(!error.message.isEmpty) }
        }
        #expect(parsed > 0, "no mutation parsed: the corpus or the mutator is broken")
    }

    @Test func sseParsingDoesNotDependOnHowTheStreamIsSplit() async throws {
        var random = FuzzRandom(seed: Self.seed ^ 0xABCD)
        let corpus = try Self.streamCorpus()
        var runs = 0
        while runs < DecodingFuzzTests.runs {
            runs += 1
            if runs % 32 == 0 { await Task.yield() }  // see DecodingFuzzTests.runs
            let stream =
                random.chance(1, in: 3) ? corpus[random.below(corpus.count)] : random.mutate(corpus[random.below(corpus.count)])
            var whole = ServerSentEventParser()
            let expected = whole.feed(stream)
            var pieces = ServerSentEventParser()
            var events: [ServerSentEvent] = []
            var offset = 0
            while offset < stream.count {
                let size = 1 + random.below(min(64, stream.count - offset))
                events += pieces.feed(stream[offset..<(offset + size)])
                offset += size
            }
            #expect(events == expected, "split changed the events (seed \(Self.seed), run \(runs))")
            for event in events { _ = try? JSONValue.parse(event.data) }
        }
    }
}

/// SplitMix64 with the mutations the fuzzer applies.
struct FuzzRandom {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func below(_ bound: Int) -> Int { bound <= 1 ? 0 : Int(next() % UInt64(bound)) }
    mutating func chance(_ numerator: Int, in denominator: Int) -> Bool { below(denominator) < numerator }

    static let interesting: [[UInt8]] = [
        [0xFF], [0xC0, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], Array("\\u0000".utf8), Array("\\ud800".utf8),
        Array("1e999999".utf8), Array("-0.0000000000000000000001".utf8), Array("123456789012345678901234567890".utf8),
        Array(String(repeating: "[", count: 200).utf8), Array(String(repeating: "{\"a\":", count: 80).utf8),
        Array("\"".utf8), Array("\\".utf8), Array("null".utf8), Array(",".utf8), Array("}".utf8), Array("\r\n\r\n".utf8),
        Array("data: ".utf8), Array("event: error\n".utf8), Array(":".utf8), Array("\n\n".utf8),
    ]

    /// One to four mutations of `input`.
    mutating func mutate(_ input: [UInt8]) -> [UInt8] {
        var bytes = input
        for _ in 0..<(1 + below(4)) {
            let position = below(bytes.count + 1)
            switch below(7) {
            case 0 where !bytes.isEmpty: bytes[min(position, bytes.count - 1)] ^= UInt8(1 << below(8))
            case 1: bytes.insert(contentsOf: Self.interesting[below(Self.interesting.count)], at: position)
            case 2 where !bytes.isEmpty:
                let end = min(bytes.count, position + 1 + below(16))
                bytes.removeSubrange(min(position, end)..<end)
            case 3: bytes = Array(bytes.prefix(position))
            case 4 where !bytes.isEmpty:
                let start = below(bytes.count)
                let slice = bytes[start..<min(bytes.count, start + 1 + below(32))]
                bytes.insert(contentsOf: slice, at: position)
            case 5: bytes.insert(UInt8(truncatingIfNeeded: next()), at: position)
            default: bytes.insert(contentsOf: Array(String(repeating: "[", count: 1 + below(100)).utf8), at: position)
            }
        }
        return bytes
    }
}
