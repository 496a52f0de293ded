import Foundation
import SwitchyardCore
import Testing

@testable import SwitchyardConfig

@Suite struct ConfigurationLoaderTests {
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static let issueExample = """
        server:
          listen: "127.0.0.1:8080"
        storage:
          url: "sqlite://./switchyard.db"        # or postgres://user:pass@127.0.0.1:5432/switchyard
        admin:
          key_env: SWITCHYARD_ADMIN_KEY
        providers:
          - name: local
            kind: openai                          # OpenAI-compatible wire format
            base_url: "http://127.0.0.1:8081/v1"
            region: on-prem
          - name: openai
            kind: openai
            base_url: "https://api.openai.com/v1"
            api_key_env: OPENAI_API_KEY
            region: us
        deployments:
          - name: gemma-local
            provider: local
            model: gemma-3-270m                   # the upstream's model id
            context_window: 8192
            price: { input_per_mtok: "0.02", output_per_mtok: "0.04", cached_input_per_mtok: "0.01", currency: USD }
        routes:
          - name: chat                            # what clients put in "model"
            strategy: fallback
            targets: [gemma-local]
        tenants:
          - name: acme
          - name: globex
        """

    func expectError(_ yaml: String, line: Int?, pathContains path: String, reasonContains reason: String) {
        do {
            _ = try ConfigurationLoader.parse(yaml, file: "test.yaml")
            Issue.record("expected a configuration error for \(path)")
        } catch let error as ConfigurationError {
            #expect(error.file == "test.yaml")
            if let line { #expect(error.line == line, "\(error)") }
            if !path.isEmpty { #expect(error.path.contains(path), "\(error)") }
            #expect(error.reason.contains(reason), "\(error)")
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    /// The fleet's settings: a Redis URL and lease time, and a budget's `on_exceed`; a mistake
    /// names the key and what was expected.
    @Test func sharingAndHardCapsAreReadAndCheckedValues() throws {
        let configuration = try ConfigurationLoader.parse(
            """
            storage:
              redis_url: "redis://127.0.0.1:6380/2"
              lease_seconds: 30
            tenants:
              - name: acme
            budgets:
              - name: acme-day
                scope: tenant:acme
                period: day
                limit: "1"
                on_exceed: cut
            """, file: "test.yaml")
        #expect(configuration.storage.redisURL == "redis://127.0.0.1:6380/2")
        #expect(configuration.storage.leaseSeconds == 30)
        #expect(configuration.budgets.first?.onExceed == .cut)
        expectError(
            "storage:\n  redis_url: \"http://x\"\n", line: 2, pathContains: "storage.redis_url", reasonContains: "redis://")
        expectError(
            "storage:\n  lease_seconds: 1\n", line: 2, pathContains: "storage.lease_seconds", reasonContains: "between 2 and 300")
        expectError(
            "tenants:\n  - name: acme\nbudgets:\n  - name: b\n    scope: tenant:acme\n    limit: \"1\"\n    on_exceed: stop\n",
            line: 7, pathContains: "on_exceed", reasonContains: "finish or cut")
        let limits = try ConfigurationLoader.parse(
            "tenants:\n  - name: acme\nlimits:\n  - scope: tenant:acme\n    spend_per_hour: \"5\"\n    on_exceed: cut\n",
            file: "t.yaml")
        #expect(limits.limits.first?.onExceed == .cut)
        expectError(
            "tenants:\n  - name: acme\nlimits:\n  - scope: tenant:acme\n    requests_per_minute: 5\n    on_exceed: cut\n",
            line: 6, pathContains: "on_exceed", reasonContains: "spend_per_hour")
    }

    /// Tracing: an OTLP/HTTP base URL, a head-sampling ratio and a service name.
    @Test func tracingIsReadAndCheckedValues() throws {
        let configuration = try ConfigurationLoader.parse(
            """
            observability:
              tracing:
                endpoint: "http://collector:4318"
                sample_ratio: 0.01
                service_name: gateway-eu
            """, file: "test.yaml")
        let tracing = try #require(configuration.observability.tracing)
        #expect(tracing.endpoint == "http://collector:4318")
        #expect(tracing.sampleRatio == 0.01)
        #expect(tracing.serviceName == "gateway-eu")
        #expect(
            try ConfigurationLoader.parse("observability:\n  tracing: {}\n", file: "t.yaml").observability.tracing?.sampleRatio
                == 1)
        expectError(
            "observability:\n  tracing:\n    endpoint: \"grpc://x:4317\"\n", line: 3, pathContains: "tracing.endpoint",
            reasonContains: "OTLP/HTTP")
        expectError(
            "observability:\n  tracing:\n    sample_ratio: 2\n", line: 3, pathContains: "tracing.sample_ratio",
            reasonContains: "between 0 and 1")
    }

    /// The metrics push: a base URL and an interval.
    @Test func otlpMetricsAreReadAndCheckedValues() throws {
        let configuration = try ConfigurationLoader.parse(
            """
            observability:
              otlp_metrics:
                endpoint: "http://collector:4318"
                interval_seconds: 15
            """, file: "test.yaml")
        let metrics = try #require(configuration.observability.otlpMetrics)
        #expect(metrics.endpoint == "http://collector:4318")
        #expect(metrics.interval == .seconds(15))
        expectError(
            "observability:\n  otlp_metrics:\n    endpoint: \"grpc://x:4317\"\n", line: 3,
            pathContains: "otlp_metrics.endpoint", reasonContains: "OTLP/HTTP")
        expectError(
            "observability:\n  otlp_metrics:\n    interval_seconds: 0\n", line: 3,
            pathContains: "otlp_metrics.interval_seconds", reasonContains: "between")
    }

    @Test func acceptsTheIssueExampleAsWritten() throws {
        let configuration = try ConfigurationLoader.parse(Self.issueExample, file: "example.yaml")
        #expect(configuration.server.host == "127.0.0.1")
        #expect(configuration.server.port == 8080)
        #expect(configuration.server.idleTimeout == .seconds(75) && configuration.server.requestReadTimeout == .seconds(60))
        #expect(configuration.storage.url == "sqlite://./switchyard.db")
        #expect(configuration.admin.keyEnv == "SWITCHYARD_ADMIN_KEY")
        #expect(configuration.providers.map(\.name) == ["local", "openai"])
        #expect(configuration.providers[1].apiKeyEnv == "OPENAI_API_KEY")
        #expect(configuration.providers[0].region == "on-prem")
        let deployment = try #require(configuration.deployment(named: "gemma-local"))
        #expect(deployment.model == "gemma-3-270m")
        #expect(deployment.contextWindow == 8192)
        #expect(deployment.prices.inputPerMillion == Decimal(string: "0.02"))
        #expect(deployment.prices.outputPerMillion == Decimal(string: "0.04"))
        #expect(deployment.prices.cachedInputPerMillion == Decimal(string: "0.01"))
        #expect(configuration.routes == [Route(name: "chat", strategy: .fallback, targets: [RouteTarget("gemma-local")])])
        #expect(configuration.tenants.map(\.name) == ["acme", "globex"])
    }

    @Test func theRepositoryExampleFileLoads() throws {
        let path = Self.repositoryRoot.appendingPathComponent("switchyard.example.yaml").path
        let configuration = try ConfigurationLoader.load(path: path)
        #expect(configuration.sourcePath == path)
        #expect(configuration.route(named: "smart")?.targetNames == ["gpt-4o-mini", "gemma-local"])
        #expect(configuration.tenant(named: "globex")?.allowedRoutes == ["chat"])
        // Written as a plain YAML number, still exact.
        #expect(configuration.deployment(named: "gpt-4o-mini")?.prices.cachedInputPerMillion == Decimal(string: "0.075"))
    }

    @Test func pricesWrittenAsNumbersAreReadFromTheirLiteralText() throws {
        let yaml = Self.issueExample.replacingOccurrences(of: #"input_per_mtok: "0.02""#, with: "input_per_mtok: 0.1")
        let configuration = try ConfigurationLoader.parse(yaml, file: "test.yaml")
        // 0.1 has no exact binary form; a Double detour would give 0.1000000000000000055…
        #expect(configuration.deployments[0].prices.inputPerMillion == Decimal(string: "0.1"))
    }

    @Test func rejectsUnknownKeysWithLineAndPath() {
        let yaml = Self.issueExample.replacingOccurrences(of: "    region: us\n", with: "    region: us\n    regoin: eu\n")
        expectError(yaml, line: 17, pathContains: "providers[1].regoin", reasonContains: "unknown key 'regoin'")
        expectError("sever:\n  listen: x\n", line: 1, pathContains: "sever", reasonContains: "unknown key")
        expectError(
            "server:\n  idle_timeout_seconds: 0\n", line: 2, pathContains: "server.idle_timeout_seconds",
            reasonContains: "must be between 0.1 and")
        let timed = try? ConfigurationLoader.parse(
            "server:\n  idle_timeout_seconds: 5\n  request_read_timeout_seconds: 2.5\n", file: "t.yaml")
        #expect(timed?.server.idleTimeout == .seconds(5) && timed?.server.requestReadTimeout == .milliseconds(2500))
        // The drain and the replica's name; defaults: no delay, 20 s, the host's name and the port.
        let draining = try? ConfigurationLoader.parse(
            "server:\n  listen: \"127.0.0.1:9090\"\n  drain_delay_seconds: 5\n  drain_timeout_seconds: 0.5\n  replica_id: gw-eu-1\n",
            file: "t.yaml")
        #expect(draining?.server.drainDelay == .seconds(5) && draining?.server.drainTimeout == .milliseconds(500))
        #expect(draining?.server.replicaID == "gw-eu-1")
        #expect(timed?.server.drainDelay == .zero && timed?.server.drainTimeout == .seconds(20))
        #expect(timed?.server.replicaID.hasSuffix(":8080") == true)
        expectError(
            "server:\n  replica_id: \"\"\n", line: 2, pathContains: "server.replica_id", reasonContains: "must not be empty")
        expectError(
            "server:\n  drain_timeout_seconds: 0\n", line: 2, pathContains: "server.drain_timeout_seconds",
            reasonContains: "must be between 0.1 and")
    }

    @Test func rejectsSecretsInTheFile() {
        let yaml = Self.issueExample.replacingOccurrences(
            of: "    api_key_env: OPENAI_API_KEY\n", with: "    api_key: sk-live-123\n")
        expectError(yaml, line: 15, pathContains: "providers[1].api_key", reasonContains: "environment variable")
        expectError(
            Self.issueExample.replacingOccurrences(of: "api_key_env: OPENAI_API_KEY", with: "api_key_env: sk-live-123"),
            line: 15, pathContains: "api_key_env", reasonContains: "not an environment variable name")
    }

    @Test func rejectsInvalidPrices() {
        expectError(
            Self.issueExample.replacingOccurrences(of: #""0.04""#, with: #""0.04abc""#), line: 22,
            pathContains: "deployments[0].price.output_per_mtok", reasonContains: "decimal")
        expectError(
            Self.issueExample.replacingOccurrences(of: #""0.04""#, with: "-1"), line: 22,
            pathContains: "output_per_mtok", reasonContains: "non-negative")
        expectError(
            Self.issueExample.replacingOccurrences(of: "currency: USD", with: "currency: dollars"), line: 22,
            pathContains: "price.currency", reasonContains: "ISO 4217")
        expectError(
            Self.issueExample.replacingOccurrences(of: #"input_per_mtok: "0.02", "#, with: ""), line: 22,
            pathContains: "price.input_per_mtok", reasonContains: "required")
    }

    @Test func rejectsDanglingReferences() {
        expectError(
            Self.issueExample.replacingOccurrences(of: "targets: [gemma-local]", with: "targets: [gemma-remote]"), line: 26,
            pathContains: "routes[0].targets[0]", reasonContains: "no deployment named 'gemma-remote'")
        expectError(
            Self.issueExample.replacingOccurrences(of: "    provider: local", with: "    provider: nowhere"), line: 19,
            pathContains: "deployments[0].provider", reasonContains: "no provider named 'nowhere'")
        expectError(
            Self.issueExample + "\n    allowed_routes: [chats]\n", line: nil,
            pathContains: "tenants[1].allowed_routes[0]", reasonContains: "no route named 'chats'")
    }

    @Test func rejectsInvalidValues() {
        expectError(
            Self.issueExample.replacingOccurrences(of: #""127.0.0.1:8080""#, with: #""localhost""#), line: 2,
            pathContains: "server.listen", reasonContains: "HOST:PORT")
        expectError(
            Self.issueExample.replacingOccurrences(of: "kind: openai   ", with: "kind: bedrock   "), line: 9,
            pathContains: "providers[0].kind", reasonContains: "unsupported kind 'bedrock'")
        expectError(
            Self.issueExample.replacingOccurrences(of: "strategy: fallback", with: "strategy: psychic"), line: 25,
            pathContains: "routes[0].strategy", reasonContains: "unsupported strategy")
        expectError(
            Self.issueExample.replacingOccurrences(of: "context_window: 8192", with: "context_window: lots"), line: 21,
            pathContains: "context_window", reasonContains: "whole number")
        expectError(
            Self.issueExample.replacingOccurrences(of: #""sqlite://./switchyard.db""#, with: #""mysql://x""#), line: 4,
            pathContains: "storage.url", reasonContains: "sqlite://")
        expectError(
            Self.issueExample.replacingOccurrences(of: #""https://api.openai.com/v1""#, with: #""ftp://x""#), line: 14,
            pathContains: "providers[1].base_url", reasonContains: "http(s) URL")
        expectError(
            Self.issueExample.replacingOccurrences(of: "  - name: globex", with: "  - name: acme"), line: 29,
            pathContains: "tenants[1].name", reasonContains: "declared twice")
    }

    @Test func reportsYAMLSyntaxErrorsWithTheLine() {
        expectError("server:\n  listen: [unclosed\n", line: nil, pathContains: "", reasonContains: "invalid YAML")
    }

    @Test func noFileMeansBuiltInDefaults() throws {
        let configuration = try ConfigurationLoader.load(path: nil)
        #expect(configuration.server.host == "127.0.0.1")
        #expect(configuration.server.port == 8080)
        #expect(configuration.storage.url == "sqlite://./switchyard.db")
        #expect(configuration.providers.isEmpty)
    }

    @Test func errorDescriptionNamesFileLineAndPath() {
        let error = ConfigurationError(file: "a.yaml", line: 3, column: 5, path: "server.listen", reason: "bad")
        #expect(error.description == "a.yaml:3:5: server.listen: bad")
    }
}
