import Foundation
import Governance
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Providers
import SwitchyardCore
import Synchronization
import TestSupport
import Testing

@testable import ControlPlane
@testable import DataPlane

/// Kill switches through the admin API, on new requests and on streams already running.
@Suite struct KillSwitchGatewayTests {
    static let adminKey = "sy-admin-test"
    static let yaml =
        TestGateway.configurationYAML + """

            admin:
              key_env: TEST_ADMIN_KEY
            """

    static func make(_ handler: @escaping ReplayTransport.Handler) async throws -> TestGateway {
        try await TestGateway.make(yaml: yaml, environment: ["TEST_ADMIN_KEY": adminKey], handler)
    }

    func admin(
        _ client: LiveClient, _ method: HTTPRequest.Method, query: String = "", body: String? = nil,
        key: String = adminKey
    ) async throws -> (HTTPResponse.Status, String) {
        try await client.execute(
            uri: "/admin/v1/kill-switches" + query, method: method, headers: [.authorization: "Bearer \(key)"],
            body: body.map { ByteBuffer(string: $0) }
        ) { ($0.status, String(buffer: $0.body)) }
    }

    func chat(_ client: LiveClient, key: String, stream: Bool = false) async throws -> (HTTPResponse.Status, String) {
        let body = #"{"model":"chat","stream":\#(stream),"messages":[{"role":"user","content":"Hi"}]}"#
        return try await client.execute(
            uri: "/v1/chat/completions", method: .post, headers: [.authorization: "Bearer \(key)"], body: ByteBuffer(string: body)
        ) { ($0.status, String(buffer: $0.body)) }
    }

    @Test func theAdminAPIEngagesAndReleasesAndOnlyTheAdminMayUseIt() async throws {
        let test = try await Self.make { _ in ReplayTransport.respond([Recorded.llamaCompletion]) }
        try await test.gateway.withLiveServer { client in
            let body = #"{"scope":"agent:acme/triage-bot","reason":"looping all night"}"#
            #expect(try await admin(client, .post, body: body, key: test.acmeKey).0 == .unauthorized)
            #expect(try await admin(client, .post, body: #"{"scope":"agent:acme","reason":"x"}"#).0 == .badRequest)
            #expect(try await admin(client, .post, body: #"{"scope":"tenant:initech","reason":"x"}"#).0 == .badRequest)
            #expect(try await admin(client, .post, body: #"{"scope":"tenant:acme"}"#).0 == .badRequest)
            let (status, listed) = try await admin(client, .post, body: body)
            #expect(status == .created)
            #expect(listed.contains(#""scope":"agent:acme/triage-bot""#))

            let (refused, error) = try await chat(client, key: test.acmeKey)
            #expect(refused == .forbidden)
            #expect(error.contains(#""code":"kill_switch""#))
            #expect(error.contains("looping all night"))
            #expect(try await chat(client, key: test.globexKey).0 == .ok)  // another tenant is untouched

            #expect(try await admin(client, .delete, query: "?scope=agent:acme/triage-bot").0 == .ok)
            #expect(try await admin(client, .delete, query: "?scope=agent:acme/triage-bot").0 == .notFound)
            #expect(try await chat(client, key: test.acmeKey).0 == .ok)
        }
        #expect(test.sink.all.filter { $0.errorClass == .killSwitch }.count == 1)
        let actions = try await test.auditEntries().map(\.action)
        #expect(actions == ["kill_switch.engage", "kill_switch.release"])
        #expect(try await test.store.killSwitches().isEmpty)
    }

    @Test func aStreamInProgressEndsAtItsNextChunk() async throws {
        let sent = ChunkCount()
        let test = try await Self.make { _ in
            UpstreamResponse(
                status: 200, contentType: "text/event-stream",
                body: UpstreamBody(DrippingBody(every: .milliseconds(20), sent: sent)))
        }
        let engager = Task {
            // Once a few chunks went out, however slow the machine.
            try await waitUntil("3 chunks sent") { sent.value >= 3 }
            test.gateway.governor.kills.engage(
                KillSwitch(scope: .agent(tenant: "acme", agent: "triage-bot"), reason: "runaway", engagedBy: "admin"))
        }
        let started = ContinuousClock.now
        try await test.gateway.withLiveServer { client in
            let (status, text) = try await chat(client, key: test.acmeKey, stream: true)
            #expect(status == .ok)  // the stream had started
            #expect(text.contains(#""content":"tick""#))
            #expect(text.contains(#""code":"kill_switch""#))
            #expect(!text.contains("[DONE]"))
        }
        try await engager.value
        #expect(ContinuousClock.now - started < .seconds(10))  // the drip would run for 100 s
        let record = try #require(test.sink.last)
        #expect(record.errorClass == .killSwitch)
        #expect(record.status == 403)
        #expect(test.gateway.monitor.snapshot("gemma-local")?.inFlight == 0)
        #expect(test.gateway.monitor.breakerState("gemma-local").map { if case .closed = $0 { true } else { false } } == true)
    }
}

extension KillSwitchGatewayTests {
    @Test func runawayProtectionStoresTheSwitchForEveryReplicaAndAudits() async throws {
        let yaml =
            Self.yaml + """

                limits:
                  - scope: agent:acme/triage-bot
                    spend_per_hour: "0.000001"
                """
        let test = try await TestGateway.make(yaml: yaml) { _ in ReplayTransport.respond(["ok"]) }
        let governor = try await GovernanceSetup.governor(
            test.gateway.configuration, store: test.store, audit: AuditTrail(store: test.store, logger: test.gateway.logger),
            transport: test.transport, logger: test.gateway.logger)
        let bot = Principal(tenant: "acme", agent: "triage-bot", keyID: "k")
        let facts = RequestFacts(route: "chat", estimatedInputTokens: 1, maxOutputTokens: 1, tags: [:])
        let admission = try await governor.admit(
            facts, policy: .unrestricted, maximumCost: Money(nanos: 2_000, currency: "USD"), for: bot
        ).get()
        governor.release(admission, principal: bot, usage: .none, cost: Money(nanos: 2_000, currency: "USD"))
        #expect(governor.kills.stopping(bot)?.engagedBy == "switchyard")
        try await waitUntil("the switch stored", every: .milliseconds(10)) { try await !test.store.killSwitches().isEmpty }
        let stored = try await test.store.killSwitches()
        #expect(stored.map(\.scope) == [.agent(tenant: "acme", agent: "triage-bot")])
        #expect(stored.first?.reason.contains("runaway protection") == true)
        let entries = try await test.auditEntries()
        #expect(entries.map(\.action) == ["kill_switch.engage"])
        #expect(entries.first?.principal == "switchyard")
    }
}

extension KillSwitchGatewayTests {
    func tenantKills(
        _ client: LiveClient, _ method: HTTPRequest.Method, query: String = "", body: String? = nil, key: String
    ) async throws -> (HTTPResponse.Status, String) {
        try await client.execute(
            uri: "/admin/v1/tenants/acme/kill-switches" + query, method: method, headers: [.authorization: "Bearer \(key)"],
            body: body.map { ByteBuffer(string: $0) }
        ) { ($0.status, String(buffer: $0.body)) }
    }

    /// Finding 4 of issue 17: acme's tenant-admin released the switch the admin engaged on acme.
    @Test func onlyAsMuchAuthorityAsEngagedASwitchMayReleaseIt() async throws {
        let test = try await Self.make { _ in ReplayTransport.respond([Recorded.llamaCompletion]) }
        let (tenantAdmin, record) = AdminKeyFormat.issue(role: .tenantAdmin, tenant: "acme")
        try await test.store.insertAdminKey(record)
        let bot = GovernanceScope.agent(tenant: "acme", agent: "triage-bot")
        try await test.gateway.withLiveServer { client in
            // The admin's switch: the tenant-admin is refused and it stays engaged; the admin releases it.
            let adminStop = #"{"scope":"tenant:acme","reason":"admin stop"}"#
            #expect(try await admin(client, .post, body: adminStop).0 == .created)
            let (refused, message) = try await tenantKills(client, .delete, query: "?scope=tenant:acme", key: tenantAdmin)
            #expect(refused == .forbidden)
            #expect(message.contains(#"{"error":{"type":"permission_error","message":"#))
            #expect(message.contains("needs the admin role"))
            #expect(try await chat(client, key: test.acmeKey).0 == .forbidden)
            #expect(try await test.store.killSwitches().map(\.scope) == [.tenant("acme")])
            #expect(try await admin(client, .delete, query: "?scope=tenant:acme").0 == .ok)
            #expect(try await chat(client, key: test.acmeKey).0 == .ok)

            // The tenant-admin's own switch is its to release.
            let ownStop = #"{"scope":"agent:acme/triage-bot","reason":"tenant stop"}"#
            let (engaged, listed) = try await tenantKills(client, .post, body: ownStop, key: tenantAdmin)
            #expect(engaged == .created && listed.contains(#""authority":"tenant-admin""#))
            #expect(try await tenantKills(client, .delete, query: "?scope=agent:acme/triage-bot", key: tenantAdmin).0 == .ok)
            #expect(try await chat(client, key: test.acmeKey).0 == .ok)

            // Runaway protection's switch (stored by another replica, picked up by the watcher) needs the admin.
            try await test.store.engageKillSwitch(
                KillSwitch(scope: bot, reason: "runaway protection: spent too much", engagedBy: "switchyard"),
                principal: "switchyard")
            test.gateway.governor.kills.replaceAll(try await test.store.killSwitches())
            let release = "?scope=agent:acme/triage-bot"
            #expect(try await tenantKills(client, .delete, query: release, key: tenantAdmin).0 == .forbidden)
            #expect(test.gateway.governor.kills.stoppingScope(bot)?.engagedBy == "switchyard")
            #expect(try await chat(client, key: test.acmeKey).0 == .forbidden)
            #expect(try await tenantKills(client, .delete, query: release, key: Self.adminKey).0 == .ok)
            #expect(try await chat(client, key: test.acmeKey).0 == .ok)
        }
        let entries = try await test.auditEntries()
        #expect(
            entries.map(\.action) == [
                "kill_switch.engage", "kill_switch.release_refused", "kill_switch.release", "kill_switch.engage",
                "kill_switch.release", "kill_switch.engage", "kill_switch.release_refused", "kill_switch.release",
            ])
        let tenantAdminName = "admin-key:\(record.id)"
        #expect(
            entries.map(\.principal) == [
                "admin", tenantAdminName, "admin", tenantAdminName, tenantAdminName, "switchyard", tenantAdminName, "admin",
            ])
        #expect(entries[1].before?.contains(#""engaged_by":"admin""#) == true)
        #expect(entries[6].before?.contains(#""engaged_by":"switchyard""#) == true)
        #expect(try await test.store.killSwitches().isEmpty)
    }
}

/// An SSE stream that sends a content chunk every `every`, for 5,000 chunks.
struct DrippingBody: AsyncSequence, Sendable {
    let every: Duration
    let sent: ChunkCount
    var limit = 5000

    func makeAsyncIterator() -> Iterator { Iterator(every: every, sent: sent, limit: limit) }

    struct Iterator: AsyncIteratorProtocol {
        let every: Duration
        let sent: ChunkCount
        let limit: Int

        mutating func next() async throws -> ByteBuffer? {
            guard sent.value < limit else { return nil }
            if sent.value > 0 { try await Task.sleep(for: every) }
            sent.increment()
            return ByteBuffer(
                string:
                    #"data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"tick"},"finish_reason":null}]}"#
                    + "\n\n")
        }
    }
}

final class ChunkCount: Sendable {
    private let count = Mutex(0)
    var value: Int { count.withLock { $0 } }
    func increment() { count.withLock { $0 += 1 } }
}
