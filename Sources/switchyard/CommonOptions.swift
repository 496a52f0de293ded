import ArgumentParser
import Foundation
import Storage
import SwitchyardConfig
import SwitchyardCore

/// `--config`, shared by every verb.
struct ConfigOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "Configuration file. Default: ./switchyard.yaml if it exists, else built-in defaults (SQLite at ./switchyard.db).",
            valueName: "file"))
    var config: String?

    /// The file to read: the flag, else `./switchyard.yaml` when present.
    var resolvedPath: String? {
        if let config { return config }
        return FileManager.default.fileExists(atPath: "switchyard.yaml") ? "switchyard.yaml" : nil
    }

    func load() throws -> SwitchyardConfiguration {
        do {
            return try ConfigurationLoader.load(path: resolvedPath)
        } catch let error as ConfigurationError {
            throw CLIError("invalid configuration: \(error)")
        }
    }

    /// Opens the store the configuration names and makes sure its tenants exist. A command that
    /// appends audit entries (`auditing`) fails here, before changing anything, when the configured
    /// audit key cannot be used; others still open the store.
    func openStore(auditing: Bool = false) async throws -> (SwitchyardConfiguration, SQLStore) {
        let configuration = try load()
        guard let url = StorageURL(configuration.storage.url) else {
            throw CLIError("storage.url '\(configuration.storage.url)' is not sqlite://PATH or postgres://…")
        }
        let signing = Self.auditSigning(configuration)
        if auditing, case .unavailable(let reason) = signing { throw CLIError(reason) }
        let store = try await SQLStore.open(url, rollupTagKeys: configuration.finOps.rollupTags, auditSigning: signing)
        try await store.ensureTenants(configuration.tenants.map(\.name))
        return (configuration, store)
    }

    /// Every command that appends audit entries MACs them when `audit.key_env` is set. A key
    /// configured but unusable fails those commands (not read-only ones): an unsigned entry after
    /// signed ones would break the chain.
    static func auditSigning(_ configuration: SwitchyardConfiguration) -> SQLStore.AuditSigning {
        do {
            return try configuration.audit.keyring().map { .keys($0) } ?? .off
        } catch {
            return .unavailable("cannot sign audit entries: \(error)")
        }
    }

    /// The tenants in force: live governance state (changed by the admin API and `config apply`),
    /// or the file's while the store was never written.
    func liveTenants(_ configuration: SwitchyardConfiguration, store: SQLStore) async throws -> [Tenant] {
        let (revision, records) = try await store.governanceState()
        guard revision > 0 else { return configuration.tenants }
        do {
            return try GovernanceDeclaration.reading(
                records.filter { $0.kind == .tenant }, routes: Set(configuration.routes.map(\.name)),
                providers: Set(configuration.providers.map(\.name)), source: "live governance state"
            ).tenants
        } catch let error as ConfigurationError {
            throw CLIError("\(error)")
        }
    }
}

/// Parses the times the CLI accepts: `2026-11-01`, `2026-11-01T12:00:00Z`, or a span back
/// (`since`) or forward (`expires`) from now such as `90m`, `24h`, `7d`.
enum TimeArgument {
    static func parse(_ text: String, relativeDirection: Int64, now: UnixMicros = .now()) throws -> UnixMicros {
        if let unit = text.last, let amount = Int64(text.dropLast()), amount >= 0 {
            let seconds: Int64? =
                switch unit {
                case "m": amount * 60
                case "h": amount * 3600
                case "d": amount * 86_400
                default: nil
                }
            if let seconds { return now.adding(seconds: relativeDirection * seconds) }
        }
        if let time = UnixMicros(dateOrTimestamp: text) { return time }
        throw ValidationError("'\(text)' is not a time: use 2026-11-01, 2026-11-01T12:00:00Z, or a span such as 90m, 24h, 7d")
    }
}

/// A failure the CLI reports as one line (`Error: …`, exit 1), without the usage text that
/// `ValidationError` adds: these are about the configuration or the store, not the arguments.
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
