import Testing
import WireFormats

@testable import DataPlane

@Suite struct TracedContentTests {
    func text(_ bytes: [UInt8]?) -> String? { bytes.map { String(decoding: $0, as: UTF8.self) } }

    /// Every kind of part in the conventions' schema: a turn of tool results is the `tool` role,
    /// tool-call arguments are JSON when they parse, inline image bytes are left out.
    @Test func aPromptInTheConventionsMessageSchema() {
        var request = CanonicalRequest(model: "m")
        request.system = [.text("Be brief")]
        request.messages = [
            CanonicalMessage(
                role: .user,
                content: [.text("Look"), .image(.url("https://x/a.png")), .image(.base64(mediaType: "image/png", data: "AAAA"))]),
            CanonicalMessage(
                role: .assistant,
                content: [
                    .thinking(text: "hm", signature: "s"),
                    .toolCall(ToolCall(id: "c1", name: "f", arguments: #"{"a":1}"#)),
                    .toolCall(ToolCall(id: "c2", name: "g", arguments: "not json")),
                ]),
            CanonicalMessage(
                role: .user, content: [.toolResult(ToolResult(toolCallID: "c1", name: nil, content: [.text("42")]))]),
        ]
        #expect(text(TracedContent.systemInstructions(request)) == #"[{"type":"text","content":"Be brief"}]"#)
        #expect(
            text(TracedContent.inputMessages(request))
                == #"[{"role":"user","parts":[{"type":"text","content":"Look"},{"type":"uri","modality":"image","uri":"https://x/a.png"},{"type":"blob","modality":"image","mime_type":"image/png"}]},"#
                + #"{"role":"assistant","parts":[{"type":"reasoning","content":"hm"},{"type":"tool_call","id":"c1","name":"f","arguments":{"a":1}},{"type":"tool_call","id":"c2","name":"g","arguments":"not json"}]},"#
                + #"{"role":"tool","parts":[{"type":"tool_call_response","id":"c1","response":"42"}]}]"#)
        #expect(TracedContent.systemInstructions(CanonicalRequest(model: "m")) == nil)
    }

    @Test func anAnswerWithItsFinishReasonInTheConventionsWords() {
        let response = CanonicalResponse(
            id: "x", model: "m", content: [.text("ok"), .toolCall(ToolCall(id: "c", name: "f", arguments: "{}"))],
            stopReason: .toolUse, usage: nil)
        #expect(
            text(TracedContent.outputMessages(response))
                == #"[{"role":"assistant","parts":[{"type":"text","content":"ok"},{"type":"tool_call","id":"c","name":"f","arguments":{}}],"finish_reason":"tool_call"}]"#
        )
        #expect(TracedContent.finishReason(.maxTokens) == "length")
        #expect(TracedContent.finishReason(.stopSequence("x")) == "stop")
        #expect(TracedContent.finishReason(.other("recitation")) == "recitation")
    }

    /// A stream's deltas join into parts; tool calls gather their argument fragments by index.
    @Test func aStreamedAnswerGathersIntoOneMessage() {
        var transcript = AnswerTranscript(limit: 1024)
        for event: CanonicalStreamEvent in [
            .start(id: "a", model: "m"), .thinkingDelta("th"), .thinkingDelta("ink"), .textDelta("o"), .textDelta("k"),
            .toolCallStart(index: 0, id: "c0", name: "f"), .toolCallStart(index: 1, id: "c1", name: "g"),
            .toolCallArguments(index: 1, fragment: "{\"b\":"), .toolCallArguments(index: 0, fragment: "{}"),
            .toolCallArguments(index: 1, fragment: "2}"), .toolCallArguments(index: 7, fragment: "lost"),
            .usage(CanonicalUsage(input: 1, output: 2)), .stop(.toolUse),
        ] {
            transcript.read(event)
        }
        let expected = TracedContent.outputMessages(
            [
                .thinking(text: "think", signature: nil), .text("ok"),
                .toolCall(ToolCall(id: "c0", name: "f", arguments: "{}")),
                .toolCall(ToolCall(id: "c1", name: "g", arguments: #"{"b":2}"#)),
            ], finishReason: "tool_call")
        #expect(text(transcript.outputMessages) == text(expected))
    }

    /// A stream that ends without the upstream saying why (cut, killed, broken) is an error.
    @Test func aStreamWithoutItsStopIsAnError() {
        var transcript = AnswerTranscript(limit: 1024)
        transcript.read(.textDelta("par"))
        #expect(
            text(transcript.outputMessages)
                == #"[{"role":"assistant","parts":[{"type":"text","content":"par"}],"finish_reason":"error"}]"#)
    }

    /// Past its limit a transcript keeps nothing and says so: memory per stream is bounded, a
    /// new part counting its keys too.
    @Test func aTranscriptPastItsLimitIsOmitted() {
        let room = 8 + AnswerTranscript.partCost
        var transcript = AnswerTranscript(limit: room)
        transcript.read(.textDelta("1234"))
        transcript.read(.textDelta("5678"))
        #expect(text(transcript.outputMessages)?.contains(#""content":"12345678""#) == true)
        transcript.read(.textDelta("9"))
        #expect(transcript.overflowed)
        #expect(transcript.outputMessages == nil)
        transcript.read(.textDelta("a"))
        #expect(transcript.outputMessages == nil)
        // Empty parts are not free: many of them outgrow the limit too.
        var parts = AnswerTranscript(limit: room * 4)
        for index in 0..<6 { parts.read(.toolCallStart(index: index, id: "", name: "")) }
        #expect(parts.overflowed)
        // Fragments of a call never started are not kept, and not counted.
        var stray = AnswerTranscript(limit: room)
        stray.read(.toolCallArguments(index: 3, fragment: String(repeating: "x", count: 100)))
        #expect(!stray.overflowed)
    }
}
