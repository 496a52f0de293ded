import SwitchyardConfig
import SwitchyardCore
import Testing

@Suite struct AuditConfigurationTests {
    static let key = "audit-key-a-0123456789abcdef0123456789abcdef"

    func parse(_ yaml: String) throws -> SwitchyardConfiguration {
        try ConfigurationLoader.parse(yaml, file: "test.yaml")
    }

    func expectError(_ yaml: String, pathContains path: String, reasonContains reason: String) {
        do {
            _ = try parse(yaml)
            Issue.record("expected a configuration error for \(path)")
        } catch let error as ConfigurationError {
            #expect(error.path.contains(path) && error.reason.contains(reason), "\(error)")
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test func theAuditSectionIsRead() throws {
        let configuration = try parse(
            """
            governance:
              alert_webhook: "http://127.0.0.1:9/alerts"
            audit:
              key_env: SWITCHYARD_AUDIT_KEY
              checkpoint_file: /var/lib/switchyard/audit-checkpoints.jsonl
              checkpoint_to_alert_webhook: true
              checkpoint_every_entries: 50
              checkpoint_interval_seconds: 30
            """)
        let audit = configuration.audit
        #expect(audit.keyEnv == "SWITCHYARD_AUDIT_KEY" && audit.checkpointFile == "/var/lib/switchyard/audit-checkpoints.jsonl")
        #expect(audit.checkpointToAlertWebhook && audit.checkpointEveryEntries == 50 && audit.checkpointInterval == .seconds(30))
        #expect(try SwitchyardConfiguration().audit.keyring() == nil)
    }

    @Test func invalidAuditSectionsAreRefused() {
        expectError("audit:\n  key: abc\n", pathContains: "audit.key", reasonContains: "environment variable")
        expectError(
            "audit:\n  key_env: not-a-name\n", pathContains: "audit.key_env", reasonContains: "not an environment variable")
        expectError(
            "audit:\n  checkpoint_file: ./c.jsonl\n", pathContains: "audit.checkpoint_file", reasonContains: "set audit.key_env")
        expectError(
            "audit:\n  key_env: K\n  checkpoint_to_alert_webhook: true\n", pathContains: "checkpoint_to_alert_webhook",
            reasonContains: "governance.alert_webhook is not set")
        expectError(
            "audit:\n  key_env: K\n  checkpoint_every_entries: 0\n", pathContains: "checkpoint_every_entries",
            reasonContains: "between 1 and")
    }

    @Test func theKeyComesFromTheEnvironment() throws {
        let configuration = try parse("audit:\n  key_env: SWITCHYARD_AUDIT_KEY\n")
        let keys = try configuration.audit.keyring(environment: ["SWITCHYARD_AUDIT_KEY": Self.key])
        #expect(keys?.signingKeyID == AuditKeyring.keyID(of: Self.key))
        #expect(throws: AuditKeyring.Problem.self) { try configuration.audit.keyring(environment: [:]) }
        do {
            _ = try configuration.audit.keyring(environment: ["SWITCHYARD_AUDIT_KEY": "short-key"])
            Issue.record("a short key was accepted")
        } catch {
            #expect(error.description.contains("SWITCHYARD_AUDIT_KEY") && !error.description.contains("short-key"))
        }
    }
}
