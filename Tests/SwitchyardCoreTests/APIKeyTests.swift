import Testing

@testable import SwitchyardCore

@Suite struct APIKeyTests {
    @Test func issuedKeysHaveTheDocumentedShapeAndAreStoredOnlyAsHashes() {
        let (secret, record) = APIKeyFormat.issue(tenant: "acme", agent: "triage", expiresAt: nil)
        #expect(secret.hasPrefix("sk-sy-"))
        #expect(secret.count == 6 + 12 + 1 + 40)
        #expect(APIKeyFormat.keyID(of: secret) == record.id)
        #expect(record.hash.count == 64)
        #expect(!record.hash.contains(secret))
        #expect(record.hash == APIKeyFormat.hash(secret))
        #expect(record.principal == Principal(tenant: "acme", agent: "triage", keyID: record.id))
    }

    @Test func hashIsSHA256() {
        #expect(APIKeyFormat.hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test func matchingRequiresTheWholeSecret() {
        let (secret, record) = APIKeyFormat.issue(tenant: "acme", agent: nil, expiresAt: nil)
        #expect(APIKeyFormat.matches(secret, record))
        var tampered = secret
        tampered.removeLast()
        tampered.append(secret.last == "a" ? "b" : "a")
        #expect(!APIKeyFormat.matches(tampered, record))
        #expect(APIKeyFormat.keyID(of: tampered) == record.id)
    }

    @Test func foreignOrMalformedKeysHaveNoID() {
        #expect(APIKeyFormat.keyID(of: "sk-proj-abc") == nil)
        #expect(APIKeyFormat.keyID(of: "sk-sy-short") == nil)
        #expect(APIKeyFormat.keyID(of: "sk-sy-" + String(repeating: "a", count: 53)) == nil)
    }

    @Test func keysAreUnique() {
        let secrets = Set((0..<200).map { _ in APIKeyFormat.issue(tenant: "t", agent: nil, expiresAt: nil).secret })
        #expect(secrets.count == 200)
    }

    @Test func usabilityFollowsRevocationAndExpiry() {
        let now = UnixMicros(1_000_000)
        var (_, record) = APIKeyFormat.issue(tenant: "t", agent: nil, expiresAt: UnixMicros(2_000_000), now: now)
        #expect(record.isUsable(at: now))
        #expect(!record.isUsable(at: UnixMicros(2_000_000)))
        record.revokedAt = now
        #expect(!record.isUsable(at: now))
    }

    @Test func constantTimeComparison() {
        #expect(APIKeyFormat.constantTimeEquals("abc", "abc"))
        #expect(!APIKeyFormat.constantTimeEquals("abc", "abd"))
        #expect(!APIKeyFormat.constantTimeEquals("abc", "abcd"))
    }
}

@Suite struct TagsTests {
    @Test func parsesHeader() throws {
        #expect(try Tags.parseHeader("customer=acme-corp, feature=search") == ["customer": "acme-corp", "feature": "search"])
        #expect(try Tags.parseHeader("") == [:])
        #expect(try Tags.parseHeader("a=") == ["a": ""])
    }

    @Test func rejectsMalformedTags() {
        #expect(throws: Tags.ParseError.malformed("oops")) { try Tags.parseHeader("a=b,oops") }
        #expect(throws: Tags.ParseError.malformed("=x")) { try Tags.parseHeader("=x") }
        let many = (0..<40).map { "k\($0)=v" }.joined(separator: ",")
        #expect(throws: Tags.ParseError.tooMany) { try Tags.parseHeader(many) }
        // A NUL would be cut where a tag is stored as text of its own: `customer` and
        // `customer\0` would be booked as one key, twice.
        #expect(throws: Tags.ParseError.controlCharacter("customer\u{0}=acme")) {
            try Tags.validate(["customer": "acme", "customer\u{0}": "acme"])
        }
        #expect(throws: Tags.ParseError.controlCharacter("customer=ac\u{7F}me")) { try Tags.validate(["customer": "ac\u{7F}me"]) }
    }
}

@Suite struct RandomIdentifierTests {
    @Test func usesOnlyTheAlphabetAndCoversIt() {
        let text = RandomIdentifier.base62(count: 20_000)
        #expect(text.count == 20_000)
        let counts = Dictionary(grouping: text, by: { $0 }).mapValues(\.count)
        #expect(counts.count == 62)
        // Uniform: each of 62 characters about 323 times; a biased sampler would skew the low ones.
        #expect(counts.values.allSatisfy { (200...460).contains($0) })
        #expect(RandomIdentifier.lowercase(count: 500).allSatisfy { $0.isLowercase || $0.isNumber })
    }
}
