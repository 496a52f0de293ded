import Testing
import WireFormats

@Suite struct PromptFingerprintTests {
    static func fingerprint(_ json: String) throws -> UInt64 {
        PromptFingerprint.of(try JSONValue.parse(Array(json.utf8)))
    }

    @Test func theLastTwoTurnsAndToolsDecideAndEarlierTurnsDoNot() throws {
        let base = try Self.fingerprint(
            #"{"model":"a","messages":[{"role":"user","content":"q"},{"role":"tool","content":"r1"}]}"#)
        // Another model, an earlier turn, or sampling settings: the same prompt.
        #expect(
            try Self.fingerprint(
                #"{"model":"b","temperature":1,"messages":[{"role":"system","content":"s"},{"role":"user","content":"q"},{"role":"tool","content":"r1"}]}"#
            )
                == base)
        // A generic result ("ok") of different calls: different steps.
        #expect(
            try Self.fingerprint(
                #"{"messages":[{"role":"assistant","tool_calls":[{"id":"c1","function":{"name":"write","arguments":"{\"path\":\"a\"}"}}]},{"role":"tool","tool_call_id":"c1","content":"ok"}]}"#
            )
                != Self.fingerprint(
                    #"{"messages":[{"role":"assistant","tool_calls":[{"id":"c2","function":{"name":"write","arguments":"{\"path\":\"b\"}"}}]},{"role":"tool","tool_call_id":"c2","content":"ok"}]}"#
                ))
        // Another tool result (progress), or other tools: another prompt.
        #expect(
            try Self.fingerprint(#"{"model":"a","messages":[{"role":"user","content":"q"},{"role":"tool","content":"r2"}]}"#)
                != base)
        #expect(
            try Self.fingerprint(
                #"{"model":"a","tools":[{"type":"function"}],"messages":[{"role":"user","content":"q"},{"role":"tool","content":"r1"}]}"#
            )
                != base)
    }

    @Test func aToolThatReturnsTheSameResultIsTheSamePromptWhateverItsCallID() throws {
        let openAI = try Self.fingerprint(
            #"{"messages":[{"role":"assistant","tool_calls":[{"id":"call_1","function":{"name":"get"}}]},{"role":"tool","tool_call_id":"call_1","content":"404"}]}"#
        )
        #expect(
            try Self.fingerprint(
                #"{"messages":[{"role":"assistant","tool_calls":[{"id":"call_2","function":{"name":"get"}}]},{"role":"tool","tool_call_id":"call_2","content":"404"}]}"#
            )
                == openAI)
        let anthropic = try Self.fingerprint(
            #"{"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"404"}]}]}"#)
        #expect(
            try Self.fingerprint(
                #"{"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_2","content":"404"}]}]}"#)
                == anthropic)
        let responses = try Self.fingerprint(#"{"input":[{"type":"function_call_output","call_id":"c1","output":"404"}]}"#)
        #expect(try Self.fingerprint(#"{"input":[{"type":"function_call_output","call_id":"c2","output":"404"}]}"#) == responses)
        #expect(try Self.fingerprint(#"{"input":[{"type":"function_call_output","call_id":"c2","output":"200"}]}"#) != responses)
    }

    @Test func valuesAreHashedWithTheirShape() throws {
        #expect(try Self.fingerprint(#"{"input":["ab"]}"#) != Self.fingerprint(#"{"input":[["a","b"]]}"#))
        #expect(try Self.fingerprint(#"{"input":"1"}"#) != Self.fingerprint(#"{"input":1}"#))
        #expect(try Self.fingerprint(#"{"input":"same"}"#) == Self.fingerprint(#"{"input":"same"}"#))
    }
}
