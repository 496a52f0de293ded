/// What a run's loop detection compares requests by: a 64-bit FNV-1a hash of the request's last
/// two turns and its declared tools, read from the body of any of the client APIs (`messages` for
/// chat completions and messages, `input` for responses and embeddings).
///
/// The last two turns, whatever their roles, rather than the last user message: an agent that
/// calls tools sends one user message and then many steps that end in a tool call and its result,
/// and those steps are progress, not repeats; a generic result ("ok") alone would make different
/// steps look alike, so the call that produced it (its tool and arguments) counts too. A run that
/// sends the same call and result, or the same question after the same answer, again and again
/// is stuck.
///
/// The walk hashes values with their kind and lengths, so `["ab"]` and `["a","b"]` differ; a
/// member order change is a different prompt (an agent that loops sends the same bytes). The ids
/// that name one tool call (`tool_call_id`, `tool_use_id`, `call_id`, `id`) are left out: each call
/// has a new one, and a tool that keeps returning the same result is the loop to catch.
public enum PromptFingerprint {
    public static func of(_ body: JSONValue) -> UInt64 {
        var hash = FNV1a()
        if let turns = body["messages"] ?? body["input"] {
            if let items = turns.arrayValue {
                for turn in items.suffix(2) { hash.add(turn) }
            } else {
                hash.add(turns)
            }
        }
        hash.add(byte: 0xFF)
        if let tools = body["tools"] { hash.add(tools) }
        return hash.value
    }

    static let callIDs: Set<String> = ["tool_call_id", "tool_use_id", "call_id", "id"]

    struct FNV1a {
        private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

        mutating func add(byte: UInt8) {
            value = (value ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
        }

        mutating func add(_ text: String) {
            add(length: text.utf8.count)
            for byte in text.utf8 { add(byte: byte) }
        }

        mutating func add(length: Int) {
            var remaining = UInt64(length)
            for _ in 0..<8 {
                add(byte: UInt8(truncatingIfNeeded: remaining))
                remaining >>= 8
            }
        }

        mutating func add(_ value: JSONValue) {
            switch value {
            case .null: add(byte: 0)
            case .bool(let flag): add(byte: flag ? 2 : 1)
            case .number(let text):
                add(byte: 3)
                add(text)
            case .string(let text):
                add(byte: 4)
                add(text)
            case .array(let items):
                add(byte: 5)
                add(length: items.count)
                for item in items { add(item) }
            case .object(let object):
                add(byte: 6)
                add(length: object.members.count)
                for (key, member) in object where !PromptFingerprint.callIDs.contains(key) {
                    add(key)
                    add(member)
                }
            }
        }
    }
}
