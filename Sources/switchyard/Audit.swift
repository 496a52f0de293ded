import ArgumentParser
import Foundation
import Storage
import SwitchyardCore

struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Verify and export the tamper-evident audit trail.",
        subcommands: [Verify.self, ExportLines.self])

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify",
            abstract: "Check every entry's hash and its link to the entry before; name the first broken entry.",
            discussion: """
                Exits 0 when the chain is intact and prints the head (sequence and hash): record it elsewhere, \
                since removing entries from the end can only be detected against a head you kept.
                Exits 1 and names the first broken entry otherwise.

                Example:
                  switchyard audit verify
                """)

        @OptionGroup var options: ConfigOptions

        func run() async throws {
            let (_, store) = try await options.openStore()
            let verifier = try await store.verifyAudit()
            await store.close()
            if let broken = verifier.firstBreak {
                FileHandle.standardError.write(Data("audit chain BROKEN at entry \(broken.sequence): \(broken)\n".utf8))
                throw ExitCode(1)
            }
            if let head = verifier.head {
                print("audit chain intact: \(verifier.checked) entries, head \(head.sequence) \(head.hash)")
            } else {
                print("audit chain intact: no entries yet")
            }
        }
    }

    struct ExportLines: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "export",
            abstract: "Write the audit trail as JSON lines, in chain order.",
            discussion: """
                Examples:
                  switchyard audit export > audit.jsonl
                  switchyard audit export --tenant acme --output acme-audit.jsonl
                """)

        @OptionGroup var options: ConfigOptions
        @Option(help: "Only this tenant's entries.") var tenant: String?
        @Option(help: "Write to this file instead of standard output.") var output: String?

        func run() async throws {
            let (_, store) = try await options.openStore()
            let handle: FileHandle
            if let output {
                guard FileManager.default.createFile(atPath: output, contents: nil) else {
                    throw CLIError("cannot create '\(output)'")
                }
                handle = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
            } else {
                handle = FileHandle.standardOutput
            }
            var after: Int64 = 0
            var count = 0
            while true {
                let page = try await store.auditEntries(after: after, limit: 5000, tenant: tenant)
                guard let last = page.last else { break }
                var text = ""
                for entry in page { text += Self.line(entry) + "\n" }
                handle.write(Data(text.utf8))
                count += page.count
                after = last.sequence
            }
            await store.close()
            if output != nil { FileHandle.standardError.write(Data("wrote \(count) audit entries\n".utf8)) }
        }

        static func line(_ entry: AuditEntry) -> String {
            // The sequence as a number first, then the other fields sorted.
            "{\"sequence\":\(entry.sequence),"
                + AuditValue.object([
                    ("time", entry.time.iso8601), ("principal", entry.principal),
                    ("action", entry.action), ("target", entry.target), ("tenant", entry.tenant), ("before", entry.before),
                    ("after", entry.after), ("detail", entry.detail), ("previous_hash", entry.previousHash), ("hash", entry.hash),
                ]).dropFirst()
        }
    }
}
