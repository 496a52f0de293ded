import Foundation
import Governance
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import SwitchyardCore
import Testing

@testable import DataPlane

/// Secrets and card numbers a client hides from a byte scan: behind `\u` escapes, or cut over two
/// parts of one message (which the model reads as one text). Such a hit cannot be redacted in
/// place, so `redact` refuses it as `block` does; plain hits are still redacted.
@Suite struct HiddenContentTests {
    static let yaml =
        TestGateway.configurationYAML + """

            policies:
              - name: acme-guard
                scope: tenant:acme
                guardrails: { secrets: block, credit_cards: redact }
            """

    func send(_ test: TestGateway, _ body: String) async throws -> (HTTPResponse.Status, String) {
        let fields: HTTPFields = [.authorization: "Bearer \(test.acmeKey)", .contentType: "application/json"]
        return try await test.gateway.withLiveServer { client in
            try await client.execute(uri: "/v1/chat/completions", method: .post, headers: fields, body: ByteBuffer(string: body))
            {
                ($0.status, String(buffer: $0.body))
            }
        }
    }

    static func chat(_ content: String) -> String {
        #"{"model":"chat","max_tokens":5,"messages":[{"role":"user","content":\#(content)}]}"#
    }

    static func parts(_ texts: String...) -> String {
        "[" + texts.map { #"{"type":"text","text":"\#($0)"}"# }.joined(separator: ",") + "]"
    }

    @Test(arguments: [
        chat(#""card \u0034111 1111 1111 1111""#),
        chat(parts("my card is 4111 1111", "1111 1111")),
        chat(#""key sk-\u0061bcdefghijklmnopqrstuvwxyz""#),
        chat(parts("key sk-abcdefghij", "klmnopqrstuvwxyz0123")),
        // Invisible characters inside, digits of other scripts, fullwidth forms.
        chat("\"card 4111\u{200B}1111\u{200B}1111\u{200B}1111\""),
        chat("\"card \u{0664}\u{0661}\u{0661}\u{0661} 1111 1111 1111\""),
        chat("\"card \u{FF14}\u{FF11}\u{FF11}\u{FF11} 1111 1111 1111\""),
        chat("\"key sk-abcdefghij\u{00AD}klmnopqrstuvwxyz0123\""),
        // Other characters that render as nothing: a variation selector, the combining grapheme
        // joiner, a Hangul filler.
        chat("\"card 4\u{FE0F}1\u{FE0F}1\u{FE0F}1\u{FE0F} 1111 1111 1111\""),
        chat("\"card 4\u{034F}111\u{034F}1111 1111 1111\""),
        chat("\"card 4111\u{3164}1111\u{3164}1111\u{3164}1111\""),
        // A visible card (in a member name, redacted there) does not pay for a hidden one.
        #"{"model":"chat","max_tokens":5,"metadata":{"4111111111111111":"x"},"#
            + "\"messages\":[{\"role\":\"user\",\"content\":\"card 5500\u{200B}0000\u{200B}0000\u{200B}0004\"}]}",
    ])
    func hiddenHitsAreRefusedAndNeverSent(body: String) async throws {
        let test = try await TestGateway.make(yaml: Self.yaml) { _ in ReplayTransport.respond([Recorded.llamaCompletion]) }
        let (status, text) = try await send(test, body)
        #expect(status == .forbidden, "\(body): \(text)")
        #expect(text.contains(#""code":"content_blocked""#), "\(text)")
        #expect(test.transport.requests.isEmpty)
    }

    @Test func plainHitsAreStillRedactedAndInnocentPartsServed() async throws {
        let test = try await TestGateway.make(yaml: Self.yaml) { _ in ReplayTransport.respond([Recorded.llamaCompletion]) }
        let (status, text) = try await send(test, Self.chat(Self.parts("card 4111 1111 1111 1111", "thanks")))
        #expect(status == .ok, "\(text)")
        let sent = String(decoding: test.transport.requests.first?.body ?? [], as: UTF8.self)
        #expect(sent.contains("[REDACTED:credit_cards]") && !sent.contains("4111"), "\(sent)")
        // After an escape that reads as a line break, in a body with non-ASCII text: visible, so
        // redacted, not refused as hidden.
        let (afterEscape, escapedAnswer) = try await send(test, Self.chat(#""Grüße,\n4111 1111 1111 1111""#))
        #expect(afterEscape == .ok, "\(escapedAnswer)")
        let escapedSent = String(decoding: test.transport.requests.last?.body ?? [], as: UTF8.self)
        #expect(escapedSent.contains("[REDACTED:credit_cards]") && !escapedSent.contains("4111"), "\(escapedSent)")
        // Numbers in two parts that do not make a card together are not a hit.
        let (innocent, answer) = try await send(test, Self.chat(Self.parts("order 12", "34 items, 2026-12-05")))
        #expect(innocent == .ok, "\(answer)")
    }

    @Test func hiddenHitsCountOnlyWhatTheRawScanMissed() {
        func hidden(_ body: String) -> [ContentDetector: Int] {
            let bytes = Array(body.utf8)
            var visible: [ContentDetector: Int] = [:]
            for match in ContentScanner.scan(bytes, for: [.secrets, .creditCards]) { visible[match.detector, default: 0] += 1 }
            return ContentGuard.hiddenHits(in: bytes, for: [.secrets, .creditCards], visible: visible)
        }
        #expect(hidden(Self.chat(#""4111 1111 1111 1111""#)) == [:])
        // The common body (one text, no `\u` escape) is not parsed a second time.
        #expect(!ContentGuard.mayHide(Array(Self.chat(#""4111 \n 1111 1111 1111""#).utf8)))
        #expect(ContentGuard.mayHide(Array(Self.chat(#""\u0034""#).utf8)))
        #expect(ContentGuard.mayHide(Array(Self.chat(Self.parts("a", "b")).utf8)))
        #expect(hidden(Self.chat(Self.parts("4111 1111 1111 1111", "and more"))) == [:])
        #expect(hidden(Self.chat(#""\u0034111111111111111""#)) == [.creditCards: 1])
        // A visible hit next to other non-ASCII text is still one visible hit, not a hidden one.
        #expect(hidden(Self.chat("\"4111 1111 1111 1111, caf\u{E9}\"")) == [:])
        #expect(hidden(Self.chat(Self.parts("4111 1111 1111", "1111"))) == [.creditCards: 1])
        #expect(hidden(Self.chat(Self.parts("sk-abcdefghij", "klmnopqrstuvwxyz0123"))) == [.secrets: 1])
    }
}
