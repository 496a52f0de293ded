/// The run a request belongs to: a long-lived unit of agent work that the client names
/// (`x-switchyard-run`, or `gen_ai.conversation.id` in the W3C baggage of its trace), and the
/// step within it (`x-switchyard-step`). A run is its tenant's: the same id in two tenants is two runs.
public struct RunIdentity: Hashable, Sendable {
    public var id: String
    public var step: String?

    public init(id: String, step: String? = nil) {
        self.id = id
        self.step = step
    }

    /// The most bytes a run id or step may have.
    public static let maximumLength = 128

    /// 1 to 128 bytes of letters, digits and `. _ : -`: safe in a header, a path segment, a
    /// scope's text and a log line.
    public static func isValid(_ text: some StringProtocol) -> Bool {
        let bytes = text.utf8
        return !bytes.isEmpty && bytes.count <= maximumLength
            && bytes.allSatisfy { byte in
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                    UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: ":"),
                    UInt8(ascii: "-"):
                    true
                default: false
                }
            }
    }

    /// The kill-switch scope that stops the run.
    public func scope(tenant: String) -> GovernanceScope { .run(tenant: tenant, run: id) }
}
