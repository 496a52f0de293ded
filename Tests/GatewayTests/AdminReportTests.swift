import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import SwitchyardCore
import Testing

@testable import DataPlane

@Suite struct AdminReportTests {
    static let yaml = TestGateway.configurationYAML + "\nadmin:\n  key_env: TEST_ADMIN_KEY\n"

    @Test func reportsNeedTheAdminKeyAndReturnExactDecimals() async throws {
        let test = try await TestGateway.make(yaml: Self.yaml, environment: ["TEST_ADMIN_KEY": "admin-secret-1"]) { _ in
            ReplayTransport.respond([Recorded.llamaCompletion])
        }
        let hour = UnixMicros(dateOrTimestamp: "2026-10-05T10:00:00Z")!
        func record(_ id: String, customer: String, nanos: Int64) -> UsageRecord {
            UsageRecord(
                id: id, startedAt: hour, finishedAt: hour, tenant: "acme", agent: nil, keyID: "k", endpoint: "chat.completions",
                route: "chat", deployment: "gemma-local", provider: "local", upstreamModel: "gemma-3-270m", streamed: false,
                usage: TokenUsage(inputTokens: 10, outputTokens: 5), cost: Money(nanos: nanos, currency: "USD"),
                latencyMicros: 1000, timeToFirstTokenMicros: nil, status: 200, errorClass: nil, tags: ["customer": customer])
        }
        try await test.store.insertUsage([
            record("r1", customer: "big", nanos: 1_000_000_001), record("r2", customer: "big", nanos: 2),
            record("r3", customer: "small", nanos: 7),
        ])
        let server = test.gateway
        try await server.withLiveServer { client in
            let path = "/admin/v1/reports/cost?by=customer&since=2026-10-01&until=2026-11-01"
            for headers: HTTPFields in [
                [:], [.authorization: "Bearer wrong"], [.authorization: "Bearer \(test.acmeKey)"],
                [.authorization: "admin-secret-1"], [.authorization: "Basic admin-secret-1"],
            ] {
                try await client.execute(uri: path, method: .get, headers: headers) { response in
                    #expect(response.status == .unauthorized)
                    #expect(!String(buffer: response.body).contains("1.000000003"))
                }
            }
            // The scheme is case-insensitive (RFC 9110), as on the data plane.
            try await client.execute(uri: path, method: .get, headers: [.authorization: "bearer admin-secret-1"]) {
                #expect($0.status == .ok)
            }
            try await client.execute(uri: path, method: .get, headers: [.authorization: "Bearer admin-secret-1"]) { response in
                #expect(response.status == .ok)
                let rows = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as! [[String: Any]]
                #expect(rows.count == 2)
                #expect(rows[0]["customer"] as? String == "big")
                #expect(rows[0]["cost"] as? String == "1.000000003")
                #expect(rows[1]["cost"] as? String == "0.000000007")
            }
            try await client.execute(
                uri: "/admin/v1/reports/cost?by=customer&since=2026-10-01&until=2026-11-01&format=csv", method: .get,
                headers: [.authorization: "Bearer admin-secret-1"]
            ) { response in
                #expect(String(buffer: response.body).hasPrefix("customer,requests,"))
            }
            for (uri, status) in [
                ("/admin/v1/reports/nope", HTTPResponse.Status.notFound), ("/admin/v1/reports/cost?since=yesterday", .badRequest),
                ("/admin/v1/reports/cost?bucket=week", .badRequest), ("/admin/v1/reports/unit?task_tag=done", .badRequest),
            ] {
                try await client.execute(uri: uri, method: .get, headers: [.authorization: "Bearer admin-secret-1"]) { response in
                    #expect(response.status == status, "\(uri)")
                    #expect(String(buffer: response.body).contains("\"message\""))
                }
            }
        }
    }
}
