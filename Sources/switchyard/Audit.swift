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
            abstract: "Check every entry's hash, link and MAC, and the chain against checkpoints; name the first bad entry.",
            discussion: """
                With audit.key_env set, every entry's MAC is checked: an entry edited, renumbered or \
                forged by someone with database access but without the key is found even when every \
                hash was recomputed. Without the key only the hash chain is checked, and the output \
                says so. With --checkpoints, the chain must reach and match each signed checkpoint, \
                which finds entries cut off the end.
                Exits 0 when everything checked holds and prints the head (sequence and hash).
                Exits 1 and names the first bad entry (or checkpoint line) otherwise.

                Examples:
                  switchyard audit verify
                  switchyard audit verify --checkpoints /var/lib/switchyard/audit-checkpoints.jsonl
                """)

        @OptionGroup var options: ConfigOptions
        @Option(help: ArgumentHelp("Checkpoint file (audit.checkpoint_file) to check the chain against.", valueName: "file"))
        var checkpoints: String?

        func run() async throws {
            let (configuration, store) = try await options.openStore()
            var keyring: AuditKeyring?
            var notes: [String] = []
            do {
                keyring = try configuration.audit.keyring()
                if keyring == nil { notes.append("MACs NOT checked: audit.key_env is not set; only the hash chain was checked") }
            } catch {
                notes.append("MACs NOT checked: \(error); only the hash chain was checked")
            }
            var marks: [AuditCheckpoint] = []
            if let checkpoints {
                do {
                    marks = try Self.readCheckpoints(checkpoints, keyring: keyring)
                } catch {
                    await store.close()
                    throw error
                }
                if keyring == nil { notes.append("checkpoint MACs NOT checked (no audit key)") }
            } else {
                notes.append("no checkpoints given (--checkpoints): entries cut off the end cannot be detected")
            }
            let verifier = try await store.verifyAudit(keyring: keyring, checkpoints: marks)
            await store.close()
            for note in notes { FileHandle.standardError.write(Data("note: \(note)\n".utf8)) }
            if let broken = verifier.firstBreak {
                FileHandle.standardError.write(Data("audit chain BROKEN at entry \(broken.sequence): \(broken)\n".utf8))
                throw ExitCode(1)
            }
            if let head = verifier.head {
                print("audit chain intact: \(verifier.checked) entries, head \(head.sequence) \(head.hash)")
            } else {
                print("audit chain intact: no entries yet")
            }
            if keyring != nil {
                let unsigned = verifier.unsignedBeforeFirstSigned
                print(
                    "MACs verified"
                        + (unsigned > 0 ? "; entries 1-\(unsigned) carry none (appended before audit.key_env was set)" : ""))
            }
            if let latest = verifier.latestCheckpoint {
                print("matches \(marks.count) checkpoints, the latest at entry \(latest.sequence) (\(latest.time.iso8601))")
            }
        }

        /// Every line of `path` must be a checkpoint, and, with the keys, one they signed.
        static func readCheckpoints(_ path: String, keyring: AuditKeyring?) throws -> [AuditCheckpoint] {
            guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
                throw CLIError("cannot read checkpoint file '\(path)'")
            }
            var checkpoints: [AuditCheckpoint] = []
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            for (index, line) in lines.enumerated() where !line.isEmpty {
                let place = "\(path):\(index + 1)"
                guard let checkpoint = AuditCheckpoint(line: line) else {
                    // A last line cut short (a crash mid-write) is no checkpoint, and no evidence either.
                    if index == lines.count - 1 {
                        FileHandle.standardError.write(Data("note: \(place) is an incomplete last line; ignored\n".utf8))
                        continue
                    }
                    FileHandle.standardError.write(Data("checkpoint BROKEN at \(place): not a checkpoint line\n".utf8))
                    throw ExitCode(1)
                }
                switch keyring?.verify(mac: checkpoint.mac, keyID: checkpoint.keyID, over: checkpoint.canonicalBytes) {
                case .valid, nil: break
                case .invalid:
                    FileHandle.standardError.write(
                        Data(
                            "checkpoint BROKEN at \(place) (entry \(checkpoint.sequence)): its MAC does not match (forged or altered)\n"
                                .utf8))
                    throw ExitCode(1)
                case .unknownKey:
                    FileHandle.standardError.write(
                        Data(
                            "checkpoint BROKEN at \(place) (entry \(checkpoint.sequence)): signed with key \(checkpoint.keyID), which audit.key_env does not list\n"
                                .utf8))
                    throw ExitCode(1)
                }
                checkpoints.append(checkpoint)
            }
            return checkpoints
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
                    ("key_id", entry.keyID), ("mac", entry.mac),
                ]).dropFirst()
        }
    }
}
