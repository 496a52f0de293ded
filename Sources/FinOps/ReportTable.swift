import Foundation
import SwitchyardCore

/// A report as rows of text cells, rendered as an aligned table, CSV, or JSON (a list of
/// objects; money is an exact decimal string, absent values are null).
public struct ReportTable: Sendable, Equatable {
    public enum Format: String, Sendable, CaseIterable {
        case table, csv, json
    }

    public var header: [String]
    public var rows: [[String?]]
    /// Lines printed under a table (warnings, assumptions); in JSON and CSV they are left out.
    public var notes: [String]

    public init(header: [String], rows: [[String?]], notes: [String] = []) {
        self.header = header
        self.rows = rows
        self.notes = notes
    }

    public func render(_ format: Format) -> String {
        switch format {
        case .table:
            let cells = rows.map { $0.map { $0 ?? "" } }
            let widths = header.indices.map { column in
                ([header[column]] + cells.map { $0[column] }).map(\.count).max() ?? 0
            }
            func line(_ cells: [String]) -> String {
                cells.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }
                    .joined(separator: "  ").trimmingCharacters(in: .whitespaces) + "\n"
            }
            return line(header.map { $0.uppercased() }) + cells.map(line).joined() + notes.map { "\n" + $0 }.joined()
                + (notes.isEmpty ? "" : "\n")
        case .csv:
            return ([header] + rows.map { $0.map { $0 ?? "" } }).map { $0.map(Self.csvEscape).joined(separator: ",") + "\n" }
                .joined()
        case .json:
            var text = "[\n"
            for (index, row) in rows.enumerated() {
                let members = zip(header, row).map { name, value in
                    Self.jsonString(name) + ": " + (value.map(Self.jsonString) ?? "null")
                }
                text += "  {" + members.joined(separator: ", ") + "}" + (index == rows.count - 1 ? "\n" : ",\n")
            }
            return text + "]\n"
        }
    }

    /// Scans bytes, not Characters: an export escapes tens of millions of cells.
    static func csvEscape(_ cell: String) -> String {
        let quote = UInt8(ascii: "\"")
        guard cell.utf8.contains(where: { $0 == UInt8(ascii: ",") || $0 == quote || $0 == 10 || $0 == 13 }) else { return cell }
        var bytes: [UInt8] = [quote]
        bytes.reserveCapacity(cell.utf8.count + 8)
        for byte in cell.utf8 {
            bytes.append(byte)
            if byte == quote { bytes.append(quote) }
        }
        bytes.append(quote)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// One CSV line (with its newline), for writing large exports row by row.
    public static func csvLine(_ cells: [String?]) -> String {
        cells.map { csvEscape($0 ?? "") }.joined(separator: ",") + "\n"
    }

    public static func jsonString(_ text: String) -> String { AuditValue.jsonString(text) }
}
