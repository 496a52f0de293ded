import Foundation

/// A signed record of the audit chain's head, kept outside the database (a file, a webhook), so
/// entries cut off the end, or a chain rewritten from the start, are found against it.
public struct AuditCheckpoint: Hashable, Sendable, Codable {
    public var sequence: Int64
    /// The hash of the entry at `sequence`.
    public var hash: String
    /// Whether the entry at `sequence` carried a MAC: from a signed head on, every entry must, so
    /// stripping MACs from the whole tail is found too.
    public var headSigned: Bool
    public var time: UnixMicros
    public var keyID: String
    public var mac: String

    /// The checkpoint of `head` at `time`, MACed with the keyring's signing key.
    public init(head: AuditEntry, time: UnixMicros = .now(), keyring: AuditKeyring) {
        self.sequence = head.sequence
        self.hash = head.hash
        self.headSigned = head.mac != nil
        self.time = time
        self.keyID = keyring.signingKeyID
        self.mac = ""
        mac = keyring.sign(canonicalBytes).mac
    }

    /// Every field but the MAC, length-prefixed as entries are, under a label of its own so no
    /// entry's MAC can pass for a checkpoint's.
    public var canonicalBytes: [UInt8] {
        AuditEntry.canonicalForm([
            "switchyard-audit-checkpoint-v1", String(sequence), hash, headSigned ? "signed" : "unsigned", String(time.value),
            keyID,
        ])
    }

    public func verify(with keyring: AuditKeyring) -> AuditKeyring.Verdict {
        keyring.verify(mac: mac, keyID: keyID, over: canonicalBytes)
    }

    /// One JSON line, as the checkpoint file and the webhook get it.
    public var line: String {
        #"{"type":"audit.checkpoint","sequence":\#(sequence),"hash":"\#(hash)","head_signed":\#(headSigned),"#
            + #""time":\#(time.value),"at":"\#(time.iso8601)","key_id":"\#(keyID)","mac":"\#(mac)"}"#
    }

    /// Reads a line written by `line`; nil when it is not one.
    public init?(line: some StringProtocol) {
        guard let fields = try? JSONDecoder().decode(CheckpointLine.self, from: Data(line.utf8)),
            fields.type == "audit.checkpoint"
        else { return nil }
        sequence = fields.sequence
        hash = fields.hash
        headSigned = fields.head_signed
        time = UnixMicros(fields.time)
        keyID = fields.key_id
        mac = fields.mac
    }
}

/// The fields of a checkpoint line, as written.
private struct CheckpointLine: Decodable {
    var type: String
    var sequence: Int64
    var hash: String
    var head_signed: Bool
    var time: Int64
    var key_id: String
    var mac: String
}
