import Foundation
import SwitchyardCore
import Testing

@testable import WireFormats

@Suite struct OpenAIFormatTests {
    func decodeError(_ json: String) -> DecodingError? {
        do {
            _ = try JSONDecoder().decode(OpenAIChatRequest.self, from: Data(json.utf8))
            return nil
        } catch let error as DecodingError {
            return error
        } catch {
            return nil
        }
    }

    @Test func readsTheFieldsTheGatewayUses() throws {
        let json = #"""
            {"model":"chat","messages":[{"role":"system","content":"be brief"},
             {"role":"user","content":[{"type":"text","text":"hi"},{"type":"image_url","image_url":{"url":"x"}}]},
             {"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]}],
             "stream":true,"stream_options":{"include_usage":true},"max_tokens":5,"metadata":{"customer":"c1"},"tools":[]}
            """#
        let request = try JSONDecoder().decode(OpenAIChatRequest.self, from: Data(json.utf8))
        #expect(request.model == "chat")
        #expect(request.isStreaming && request.clientWantsStreamUsage)
        #expect(request.maxTokens == 5)
        #expect(request.metadata == ["customer": "c1"])
        #expect(request.messages[1].content?.text == "hi")
        #expect(request.messages[2].toolCalls?.first?.function?.name == "f")
    }

    @Test func wrongTypesAndMissingFieldsNameTheField() throws {
        let missing = try #require(decodeError(#"{"messages":[]}"#))
        #expect(missing.clientMessage == "Missing required parameter: 'model'.")
        #expect(missing.parameter == "model")
        let wrongModel = try #require(decodeError(#"{"model":42,"messages":[]}"#))
        #expect(wrongModel.clientMessage == "Invalid type for 'model': expected a string.")
        let wrongContent = try #require(decodeError(#"{"model":"m","messages":[{"role":"user","content":7}]}"#))
        #expect(wrongContent.clientMessage.contains("'messages[0].content'"))
        #expect(wrongContent.clientMessage.contains("string or an array of content parts"))
        let wrongStream = try #require(decodeError(#"{"model":"m","messages":[],"stream":"yes"}"#))
        #expect(wrongStream.clientMessage == "Invalid type for 'stream': expected a boolean.")
        let notJSON = try #require(decodeError("{nope"))
        #expect(notJSON.clientMessage == "The request body is not valid JSON.")
    }

    @Test func usageFollowsOpenAISemantics() throws {
        let json =
            #"{"usage":{"prompt_tokens":1200,"completion_tokens":50,"total_tokens":1250,"prompt_tokens_details":{"cached_tokens":1024}}}"#
        let usage = try #require(try JSONDecoder().decode(OpenAIUsageEnvelope.self, from: Data(json.utf8)).usage)
        #expect(usage.tokenUsage == TokenUsage(inputTokens: 1200, outputTokens: 50, cachedInputTokens: 1024))
        #expect(usage.tokenUsage.uncachedInputTokens == 176)
    }

    @Test func chunkOutputCountsTextAndToolArguments() throws {
        let json =
            #"{"choices":[{"index":0,"delta":{"content":"Hello","tool_calls":[{"index":0,"function":{"arguments":"{\"a\":"}}]},"finish_reason":null}]}"#
        let chunk = try JSONDecoder().decode(OpenAIChatChunk.self, from: Data(json.utf8))
        #expect(chunk.outputCharacterCount == 5 + 5)
        #expect(!chunk.isUsageOnly)
        let usageChunk = try JSONDecoder().decode(
            OpenAIChatChunk.self, from: Data(#"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4}}"#.utf8))
        #expect(usageChunk.isUsageOnly)
    }

    @Test func errorBodyHasOpenAIsShape() throws {
        let body = OpenAIError.modelNotFound("gpt-9", available: ["chat"]).body()
        let object = try #require(try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])
        let error = try #require(object["error"] as? [String: Any])
        #expect(error["type"] as? String == "invalid_request_error")
        #expect(error["code"] as? String == "model_not_found")
        #expect(error["param"] as? String == "model")
        #expect((error["message"] as? String)?.contains("gpt-9") == true)
    }

    @Test func estimatorCountsChunksUnlessBatched() {
        #expect(TokenEstimator.outputTokens(chunks: 8, characters: 30) == 8)
        #expect(TokenEstimator.outputTokens(chunks: 2, characters: 400) == 100)
        #expect(TokenEstimator.outputTokens(chunks: 0, characters: 0) == 0)
        let messages = [OpenAIChatMessage(role: "user", content: .text("Hello"), toolCalls: nil)]
        #expect(TokenEstimator.inputTokens(of: messages) == 2 + 4 + 2)
    }

    /// An image is a prompt too: about 85 tokens a tile, as the canonical estimate counts it.
    @Test func estimatorCountsImagesInMessages() throws {
        let json = #"{"role":"user","content":[{"type":"text","text":"Hi"},{"type":"image_url","image_url":{"url":"data:x"}}]}"#
        let message = try JSONDecoder().decode(OpenAIChatMessage.self, from: Data(json.utf8))
        #expect(TokenEstimator.inputTokens(of: [message]) == 2 + 4 + (2 + 85 * 4 + 3) / 4)
    }
}

@Suite struct OpenAIChunkScannerTests {
    /// A provider's malformed escape (a surrogate split across chunks by a proxy, an unknown
    /// escape) does not hide the rest of its chunk or answer from what the gateway meters; the
    /// same bytes as a request would be refused.
    @Test func generatedTextWithAMalformedEscapeIsStillReadToItsEnd() {
        let chunk = Array(
            #"{"choices":[{"delta":{"content":"a\ud83d b\x"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1}}"#.utf8)
        let summary = OpenAIChunkScanner.summarize(chunk)
        #expect(summary.hasFinishReason && summary.hasUsage)
        #expect(JSONObjectEditor(chunk) == nil)
        #expect(
            JSONObjectEditor(chunk, generated: true)?.value(of: "usage").map { Array($0) } == Array(#"{"prompt_tokens":1}"#.utf8))
    }

    func summary(_ json: String) -> OpenAIChunkSummary {
        OpenAIChunkScanner.summarize(Array(json.utf8), collectingFinishReasons: true)
    }

    @Test func readsLlamaAndOpenAIShapes() {
        let llama = summary(
            #"{"id": "c", "choices": [{"index": 0, "delta": {"content": "Hi \"you\" é\n"}, "logprobs": null, "finish_reason": null}]}"#
        )
        #expect(
            llama
                == OpenAIChunkSummary(
                    hasChoices: true, choicesEmpty: false, outputBytes: 11, hasFinishReason: false, hasUsage: false))
        let finish = summary(#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}"#)
        #expect(finish.hasFinishReason && !finish.hasUsage && finish.outputBytes == 0)
        #expect(finish.finishReasons == ["stop"])
        // Not asked for (an untraced stream): found, but no string made.
        let untraced = OpenAIChunkScanner.summarize(Array(#"{"choices":[{"finish_reason":"stop"}]}"#.utf8))
        #expect(untraced.hasFinishReason && untraced.finishReasons.isEmpty)
        let two = summary(#"[{"message":{"content":"a"},"finish_reason":"stop"},{"finish_reason":"length"}]"#)
        #expect(two.finishReasons == ["stop", "length"])
        let usage = summary(#"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4}}"#)
        #expect(usage.hasUsage && usage.choicesEmpty)
        let tool = summary(#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"name":"f","arguments":"{\"a\":"}}]}}]}"#)
        #expect(tool.outputBytes == 5)
        let error = summary(#"{"error":{"message":"boom","type":"server_error"}}"#)
        #expect(!error.hasChoices && !error.hasUsage)
    }

    @Test func keysInsideStringsAreNotKeys() {
        let tricky = summary(#"{"choices":[{"delta":{"content":"say \"usage\": {x} and \"finish_reason\": \"stop\""}}]}"#)
        #expect(!tricky.hasUsage && !tricky.hasFinishReason && tricky.finishReasons.isEmpty)
        #expect(tricky.outputBytes == 44)
        // Finish reasons alone (a non-streamed answer's span): the text is skipped, not measured,
        // and still not read as keys.
        let reasonsOnly = OpenAIChunkScanner.summarize(
            Array(
                #"[{"message":{"content":""finish_reason": "x""},"finish_reason":"stop"},{"finish_reason":"length"}]"#
                    .utf8), collectingFinishReasons: true, countingOutput: false)
        #expect(reasonsOnly.finishReasons == ["stop", "length"] && reasonsOnly.outputBytes == 0)
    }

    @Test func agreesWithTheDecoderOnRecordedChunks() throws {
        for line in [
            #"{"choices":[{"index":0,"delta":{"content":"Hello"},"finish_reason":null}],"usage":null}"#,
            #"{"choices": [{"delta": {"reasoning_content": "think"}}]}"#,
        ] {
            let decoded = try JSONDecoder().decode(OpenAIChatChunk.self, from: Data(line.utf8))
            #expect(summary(line).outputBytes == decoded.outputCharacterCount)
        }
    }
}
