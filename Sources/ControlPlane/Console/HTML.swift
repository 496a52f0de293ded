/// HTML built from strings: every value that came from data goes through `escape`, and tables
/// right-align the columns that hold numbers.
enum HTML {
    static func escape(_ text: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.append(character)
            }
        }
        return escaped
    }

    /// One table cell: text, and where clicking it leads.
    struct Cell {
        var text: String
        var link: String?
        /// Markup built by the page (a form with a button), put in as it is.
        var markup: String?

        init(_ text: String?, link: String? = nil) {
            self.text = text ?? ""
            self.link = link
        }

        init(markup: String) {
            self.text = ""
            self.markup = markup
        }
    }

    /// A table with a caption. A column whose every value is a number is right-aligned; a row with
    /// a `rowLink` is a drill-down (its first link cell, and the row itself by keyboard or click).
    static func table(caption: String, header: [String], rows: [[Cell]], id: String? = nil) -> String {
        let numeric = header.indices.map { column in
            let values = rows.map { $0[column].text }.filter { !$0.isEmpty }
            return !values.isEmpty && values.allSatisfy(isNumber)
        }
        var html = "<table\(id.map { " id=\"\(escape($0))\"" } ?? "")><caption>\(escape(caption))</caption><thead><tr>"
        for (column, name) in header.enumerated() {
            html += "<th scope=\"col\"\(numeric[column] ? " class=\"num\"" : "")>\(escape(name))</th>"
        }
        html += "</tr></thead><tbody>"
        for row in rows {
            let drill = row.first { $0.link != nil }?.link
            html += drill.map { "<tr class=\"drill\" data-href=\"\(escape($0))\">" } ?? "<tr>"
            for (column, cell) in row.enumerated() {
                let text =
                    cell.markup ?? cell.link.map { "<a href=\"\(escape($0))\">\(escape(cell.text))</a>" } ?? escape(cell.text)
                html += "<td\(numeric[column] ? " class=\"num\"" : "")>\(text)</td>"
            }
            html += "</tr>"
        }
        if rows.isEmpty { html += "<tr><td colspan=\"\(header.count)\">Nothing yet.</td></tr>" }
        return html + "</tbody></table>"
    }

    /// A decimal or integer, optionally signed, as the reports print them.
    static func isNumber(_ text: String) -> Bool {
        var digits = 0
        for (index, character) in text.enumerated() {
            if character.isASCII, character.isNumber {
                digits += 1
            } else if !(character == "." || (index == 0 && character == "-")) {
                return false
            }
        }
        return digits > 0
    }

    /// A query string of the pairs that have a value.
    static func query(_ pairs: [(String, String?)]) -> String {
        let present = pairs.compactMap { name, value in
            value.flatMap { $0.isEmpty ? nil : "\(name)=\(ConsoleAdminClient.encode($0))" }
        }
        return present.isEmpty ? "" : "?" + present.joined(separator: "&")
    }
}
