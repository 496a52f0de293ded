import SwitchyardCore
import Testing

@Suite struct AuditKeyringTests {
    static let keyA = "audit-key-a-0123456789abcdef0123456789abcdef"
    static let keyB = "audit-key-b-0123456789abcdef0123456789abcdef"

    @Test func theFirstKeySignsAndEveryListedKeyVerifies() throws {
        let rotated = try AuditKeyring(" \(Self.keyB) ,\(Self.keyA)")
        #expect(rotated.keys.map(\.id) == [AuditKeyring.keyID(of: Self.keyB), AuditKeyring.keyID(of: Self.keyA)])
        #expect(rotated.signingKeyID.count == 16 && rotated.signingKeyID != AuditKeyring.keyID(of: Self.keyA))
        let bytes = Array("entry".utf8)
        let old = try AuditKeyring(Self.keyA).sign(bytes)
        #expect(rotated.verify(mac: old.mac, keyID: old.keyID, over: bytes) == .valid)
        #expect(rotated.verify(mac: old.mac, keyID: old.keyID, over: Array("entrz".utf8)) == .invalid)
        #expect(rotated.verify(mac: "zz", keyID: old.keyID, over: bytes) == .invalid)
        #expect(try AuditKeyring(Self.keyB).verify(mac: old.mac, keyID: old.keyID, over: bytes) == .unknownKey)
        // Nothing that prints a keyring shows a key.
        #expect(!"\(rotated)".contains(Self.keyA) && !"\(rotated.keys)".contains(Self.keyA))
    }

    @Test func weakOrMalformedKeysAreRefused() {
        for (text, reason) in [
            ("", "holds no key"), (" , ", "holds no key"), ("short", "key 1 is too short"),
            ("\(Self.keyA),", "key 2 is empty"), ("\(Self.keyA),\(Self.keyA)", "key 2 is listed twice"),
        ] {
            #expect(throws: AuditKeyring.Problem.self, "\(text)") { try AuditKeyring(text) }
            do {
                _ = try AuditKeyring(text)
            } catch {
                #expect(error.description.contains(reason), "\(error)")
            }
        }
    }

    @Test func aCheckpointReadsBackAndItsMACCoversEveryField() throws {
        let keys = try AuditKeyring(Self.keyA)
        var head = AuditEntry(time: UnixMicros(5), principal: "admin", action: "a", target: "t", tenant: nil).chained(after: nil)
        head = head.signed(with: keys)
        let checkpoint = AuditCheckpoint(head: head, time: UnixMicros(1_700_000_000_000_000), keyring: keys)
        #expect(checkpoint.headSigned && checkpoint.sequence == 1 && checkpoint.hash == head.hash)
        #expect(checkpoint.verify(with: keys) == .valid)
        let read = try #require(AuditCheckpoint(line: checkpoint.line))
        #expect(read == checkpoint)
        #expect(AuditCheckpoint(line: #"{"type":"budget.threshold"}"#) == nil)
        for tamper in [
            { (c: inout AuditCheckpoint) in c.sequence += 1 }, { $0.hash = AuditEntry.genesisHash },
            { $0.headSigned = false }, { $0.time = UnixMicros($0.time.value + 1) },
        ] {
            var forged = checkpoint
            tamper(&forged)
            #expect(forged.verify(with: keys) == .invalid)
        }
        // An entry's MAC never passes for a checkpoint's.
        var borrowed = checkpoint
        borrowed.mac = try #require(head.mac)
        #expect(borrowed.verify(with: keys) == .invalid)
    }
}
