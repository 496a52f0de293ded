import Governance
import SwitchyardCore
import Testing

@Suite struct ContentScannerTests {
    func found(_ text: String, _ detectors: Set<ContentDetector> = Set(ContentDetector.allCases)) -> [String] {
        let bytes = Array(text.utf8)
        return ContentScanner.scan(bytes, for: detectors).map { match in
            "\(match.detector.rawValue)=" + String(decoding: bytes[match.range], as: UTF8.self)
        }
    }

    @Test func secretsOfCommonShapesAreFound() {
        #expect(found("my key is sk-proj-AbCdEfGhIjKlMnOpQrStUvWx12, use it") == ["secrets=sk-proj-AbCdEfGhIjKlMnOpQrStUvWx12"])
        #expect(found("AKIAIOSFODNN7EXAMPLE") == ["secrets=AKIAIOSFODNN7EXAMPLE"])
        #expect(found("token ghp_" + String(repeating: "a1", count: 18)).count == 1)
        #expect(found("sk-sy-abcdefghijkl_0123456789012345678901234567890123456789").count == 1)
        let pem = #"-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA7\n-----END RSA PRIVATE KEY-----"#
        #expect(found(#"{"content":"\#(pem) thanks"}"#) == ["secrets=\(pem)"])
        // Not secrets: too short, or not at a word boundary.
        #expect(found("ask-me-anything and task-12345678901234567890123").isEmpty)
        #expect(found("sk-short").isEmpty)
    }

    @Test func cardNumbersMustPassLuhn() {
        #expect(found("card 4111 1111 1111 1111 exp 12/29") == ["credit_cards=4111 1111 1111 1111"])
        #expect(found("card 4111-1111-1111-1111.") == ["credit_cards=4111-1111-1111-1111"])
        #expect(found("5500005555555559") == ["credit_cards=5500005555555559"])
        #expect(found("4111 1111 1111 1112").isEmpty)  // fails Luhn
        #expect(found("order 12345678901234567890123").isEmpty)  // too long
        #expect(found("id abc4111111111111111").isEmpty)  // part of a word
        #expect(ContentScanner.luhn([7, 9, 9, 2, 7, 3, 9, 8, 7, 1, 3]))
    }

    /// In raw JSON, `\n4111…` is a line break and a number: the escape's letter is no word.
    @Test func hitsRightAfterAnEscapeAreFound() {
        #expect(found(#"{"content":"card:\n4111111111111111"}"#) == ["credit_cards=4111111111111111"])
        #expect(found(#"{"content":"key:\tsk-abcdefghijklmnopqrstuvwxyz0123"}"#) == ["secrets=sk-abcdefghijklmnopqrstuvwxyz0123"])
        #expect(found(#"{"content":"id n4111111111111111"}"#).isEmpty)  // a letter, not an escape
    }

    @Test func emailAddressesAreFoundInsideJSONStrings() {
        #expect(found(#"{"content":"write to jane.doe+ai@example.co.uk."}"#) == ["emails=jane.doe+ai@example.co.uk"])
        #expect(found(#"{"content":"first line\nbob@corp.io"}"#) == ["emails=bob@corp.io"])
        #expect(found("@mention and user@localhost and a@b.c").isEmpty)
    }

    @Test func onlyTheAskedDetectorsRun() {
        let text = "jane@example.com 4111111111111111"
        #expect(found(text, [.emails]) == ["emails=jane@example.com"])
        #expect(found(text, [.creditCards]) == ["credit_cards=4111111111111111"])
    }

    @Test func redactionKeepsTheJSONValidAndTheRestIntact() throws {
        let body = Array(
            #"{"messages":[{"role":"user","content":"mail jane@example.com, card 4111 1111 1111 1111, key sk-abcdefghijklmnopqrstuvwx"}]}"#
                .utf8)
        let redacted = ContentScanner.redact(body, ContentScanner.scan(body, for: Set(ContentDetector.allCases)))
        #expect(
            String(decoding: redacted, as: UTF8.self)
                == #"{"messages":[{"role":"user","content":"mail [REDACTED:emails], card [REDACTED:credit_cards], key [REDACTED:secrets]"}]}"#
        )
    }

    @Test func theStrictestActionOfAllScopesWins() {
        var tenant = Policy(name: "tenant", scope: .tenant("acme"))
        tenant.guardrails = [.emails: .redact, .secrets: .block]
        var agent = Policy(name: "agent", scope: .agent(tenant: "acme", agent: "bot"))
        agent.guardrails = [.emails: .allow, .creditCards: .redact]
        let effective = EffectivePolicy(combining: [agent, tenant])
        #expect(effective.guardrails[.emails]?.value == .redact)
        #expect(effective.guardrails[.emails]?.policy == "tenant")
        #expect(effective.guardrails[.secrets]?.value == .block)
        #expect(effective.guardrails[.creditCards]?.policy == "agent")
    }

    @Test func theMostSpecificScopeDecidesWhetherContentIsTraced() {
        var tenant = Policy(name: "tenant", scope: .tenant("acme"))
        tenant.traceContent = true
        var agent = Policy(name: "agent", scope: .agent(tenant: "acme", agent: "bot"))
        #expect(EffectivePolicy(combining: [agent, tenant]).traceContent?.value == true)
        agent.traceContent = false
        #expect(EffectivePolicy(combining: [tenant, agent]).traceContent?.value == false)
        #expect(EffectivePolicy(combining: [agent, tenant]).traceContent?.policy == "agent")
        #expect(EffectivePolicy(combining: []).traceContent == nil)
    }
}
