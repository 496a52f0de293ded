import Foundation
import SwitchyardCore
import Testing

@testable import Storage

@Suite struct UsageEncodingTests {
    /// Full statements, then the remainder in powers of two: few distinct statement texts, and
    /// the rows add up.
    @Test(arguments: [0, 1, 7, 64, 99, 100, 101, 227, 1_000])
    func insertStatementSizesCoverTheBatch(_ count: Int) {
        let sizes = SQLStore.statementSizes(for: count)
        #expect(sizes.reduce(0, +) == count)
        #expect(Set(sizes).isSubset(of: [100, 64, 32, 16, 8, 4, 2, 1]))
        #expect(sizes.filter { $0 == 100 }.count == count / 100)
        #expect(sizes == sizes.sorted(by: >))
    }

    /// The hand-written attempts column reads back, through `JSONDecoder`, as what was written,
    /// whatever the names hold.
    @Test func attemptsRoundTripThroughTheDecoder() throws {
        let attempts = [
            Attempt(deployment: "gpt-4o", status: 200, errorClass: nil, latencyMicros: 1234),
            Attempt(deployment: #"we"ird\name"#, status: nil, errorClass: .upstreamTimeout, latencyMicros: 0, hedged: true),
            Attempt(deployment: "tab\tnew\nline\u{01}é🚂", status: 429, errorClass: .rateLimited, latencyMicros: -1),
        ]
        for sample in [[], [attempts[0]], attempts] {
            let text = SQLStore.encodeAttempts(sample)
            #expect(try JSONSerialization.jsonObject(with: Data(text.utf8)) is [Any], "\(text)")
            #expect(SQLStore.decodeAttempts(text) == sample, "\(text)")
        }
        // Absent optionals are left out, as the synthesized encoder does.
        #expect(
            SQLStore.encodeAttempts([attempts[0]])
                == #"[{"deployment":"gpt-4o","status":200,"latencyMicros":1234,"hedged":false}]"#)
    }

    /// Tags are also a rollup key: no tags is the encoder's own "{}".
    @Test func noTagsEncodeAsTheEncoderWould() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        #expect(SQLStore.encodeTags([:]) == String(decoding: try encoder.encode([String: String]()), as: UTF8.self))
        #expect(SQLStore.encodeTags(["b": "2", "a": "1"]) == #"{"a":"1","b":"2"}"#)
    }
}
