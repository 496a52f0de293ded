import ArgumentParser
import Foundation
import Storage
import SwitchyardCore

struct AdminKeys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "admin-keys",
        abstract: "Issue, list and revoke admin API credentials (roles admin, tenant-admin, viewer).",
        subcommands: [Create.self, List.self, Revoke.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Issue an admin key; it is printed once and stored only as a SHA-256 hash.",
            discussion: """
                admin: everything. tenant-admin: one tenant's keys, kill switches and data (--tenant required). \
                viewer: read only, every tenant or the one given with --tenant.

                Examples:
                  switchyard admin-keys create --role tenant-admin --tenant acme
                  switchyard admin-keys create --role viewer
                """)

        @OptionGroup var options: ConfigOptions
        @Option(help: "admin, tenant-admin or viewer.") var role: String
        @Option(help: "The tenant a tenant-admin (or viewer) is bound to.") var tenant: String?

        func run() async throws {
            guard let role = AdminRole(rawValue: role) else {
                throw ValidationError("--role must be one of: \(AdminRole.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            if role == .tenantAdmin && tenant == nil { throw ValidationError("a tenant-admin needs --tenant") }
            if role == .admin && tenant != nil { throw ValidationError("an admin is not bound to a tenant: omit --tenant") }
            let (configuration, store) = try await options.openStore(auditing: true)
            if let tenant, configuration.tenant(named: tenant) == nil {
                throw CLIError("no tenant named '\(tenant)' is configured")
            }
            let (secret, record) = AdminKeyFormat.issue(role: role, tenant: tenant)
            try await store.insertAdminKey(record, auditedAs: "cli")
            await store.close()
            print(secret)
            FileHandle.standardError.write(
                Data("admin key \(record.id) (\(role.rawValue)\(tenant.map { " of \($0)" } ?? "")): store it now\n".utf8))
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List admin keys (never their secrets).")

        @OptionGroup var options: ConfigOptions
        @Option(help: "table or json.") var format: OutputFormat = .table

        func run() async throws {
            let (_, store) = try await options.openStore()
            let keys = try await store.adminKeys()
            await store.close()
            let rows = keys.map {
                [$0.id, $0.role.rawValue, $0.tenant ?? "", $0.revokedAt == nil ? "active" : "revoked", $0.createdAt.iso8601]
            }
            print(OutputFormat.render(format, header: ["id", "role", "tenant", "state", "created"], rows: rows), terminator: "")
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke an admin key by its id; it stops working at once.")

        @OptionGroup var options: ConfigOptions
        @Argument(help: "The admin key id.") var id: String

        func run() async throws {
            let (_, store) = try await options.openStore(auditing: true)
            guard try await store.revokeAdminKey(id: id, auditedAs: "cli") else {
                throw CLIError("no admin key with id '\(id)'")
            }
            await store.close()
            print("revoked \(id)")
        }
    }
}
