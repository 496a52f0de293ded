import FinOps
import Foundation
import SwitchyardCore
import Testing

/// Validates the export against FOCUS 1.2's column rules: presence, type, nullability, allowed
/// values and the cost = unit price × quantity relations.
@Suite struct FocusExportTests {
    enum Kind { case decimal, string, datetime, currency, json }

    struct Rule {
        var kind: Kind
        var nullable: Bool
        var allowed: Set<String>? = nil
    }

    static let rules: [String: Rule] = [
        "BilledCost": Rule(kind: .decimal, nullable: false),
        "BillingAccountId": Rule(kind: .string, nullable: false),
        "BillingAccountName": Rule(kind: .string, nullable: true),
        "BillingCurrency": Rule(kind: .currency, nullable: false),
        "BillingPeriodEnd": Rule(kind: .datetime, nullable: false),
        "BillingPeriodStart": Rule(kind: .datetime, nullable: false),
        "ChargeCategory": Rule(
            kind: .string, nullable: false, allowed: ["Usage", "Purchase", "Tax", "Credit", "Adjustment"]),
        "ChargeClass": Rule(kind: .string, nullable: true, allowed: ["Correction"]),
        "ChargeDescription": Rule(kind: .string, nullable: true),
        "ChargeFrequency": Rule(kind: .string, nullable: true, allowed: ["One-Time", "Recurring", "Usage-Based"]),
        "ChargePeriodEnd": Rule(kind: .datetime, nullable: false),
        "ChargePeriodStart": Rule(kind: .datetime, nullable: false),
        "ConsumedQuantity": Rule(kind: .decimal, nullable: true),
        "ConsumedUnit": Rule(kind: .string, nullable: true),
        "ContractedCost": Rule(kind: .decimal, nullable: false),
        "ContractedUnitPrice": Rule(kind: .decimal, nullable: true),
        "EffectiveCost": Rule(kind: .decimal, nullable: false),
        "InvoiceIssuerName": Rule(kind: .string, nullable: false),
        "ListCost": Rule(kind: .decimal, nullable: false),
        "ListUnitPrice": Rule(kind: .decimal, nullable: true),
        "PricingCategory": Rule(kind: .string, nullable: true, allowed: ["Standard", "Dynamic", "Committed", "Other"]),
        "PricingQuantity": Rule(kind: .decimal, nullable: true),
        "PricingUnit": Rule(kind: .string, nullable: true),
        "ProviderName": Rule(kind: .string, nullable: false),
        "PublisherName": Rule(kind: .string, nullable: false),
        "RegionId": Rule(kind: .string, nullable: true),
        "RegionName": Rule(kind: .string, nullable: true),
        "ResourceId": Rule(kind: .string, nullable: true),
        "ResourceName": Rule(kind: .string, nullable: true),
        "ResourceType": Rule(kind: .string, nullable: true),
        "ServiceCategory": Rule(
            kind: .string, nullable: false,
            allowed: [
                "AI and Machine Learning", "Analytics", "Business Applications", "Compute", "Databases", "Developer Tools",
                "Multicloud", "Identity", "Integration", "Internet of Things", "Management and Governance", "Media",
                "Migration", "Mobile", "Networking", "Security", "Storage", "Web", "Other",
            ]),
        "ServiceName": Rule(kind: .string, nullable: false),
        "SkuId": Rule(kind: .string, nullable: true),
        "SkuPriceId": Rule(kind: .string, nullable: true),
        "SubAccountId": Rule(kind: .string, nullable: true),
        "SubAccountName": Rule(kind: .string, nullable: true),
        "Tags": Rule(kind: .json, nullable: true),
    ]

    static func isDecimal(_ text: String) -> Bool { text.wholeMatch(of: /-?[0-9]+(\.[0-9]+)?/) != nil }
    static func isDateTime(_ text: String) -> Bool {
        text.wholeMatch(of: /[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z/) != nil
    }

    @Test func exportPassesTheColumnRulesAndSumsToTheLedger() throws {
        let (records, rollups) = FinOpsFixtures.month(records: 2_000, seed: 3)
        let contract = Commitment(
            name: "anthropic-2026", provider: "anthropic", termStart: FinOpsFixtures.time("2026-10-10"),
            termEnd: FinOpsFixtures.time("2027-10-10"), committedSpend: 100, discountRate: Decimal(string: "0.25")!)
        let context = FocusExport.Context(
            prices: FinOpsFixtures.context.deployments.mapValues(\.prices), regions: ["openai": "us-east-1"],
            commitments: [contract])
        let rows = FocusExport.rows(rollups: rollups, period: FinOpsFixtures.october, context: context)
        let csv = ReportTable(header: FocusExport.columns, rows: rows).render(.csv)
        let parsed = Self.parseCSV(csv)
        let header = parsed[0]
        #expect(Set(Self.rules.keys).isSubset(of: Set(header)))
        for column in header where Self.rules[column] == nil { #expect(column.hasPrefix("x_"), "custom column \(column)") }
        let body = parsed.dropFirst()
        #expect(body.count > 1000)
        var billed = Decimal(0)
        var listed = Decimal(0)
        for (line, cells) in body.enumerated() {
            #expect(cells.count == header.count)
            let row = Dictionary(uniqueKeysWithValues: zip(header, cells))
            for (column, rule) in Self.rules {
                let value = row[column]!
                if value.isEmpty {
                    #expect(rule.nullable, "line \(line): \(column) must not be null")
                    continue
                }
                switch rule.kind {
                case .decimal: #expect(Self.isDecimal(value), "\(column)=\(value)")
                case .datetime: #expect(Self.isDateTime(value), "\(column)=\(value)")
                case .currency: #expect(value.count == 3 && value.allSatisfy(\.isUppercase))
                case .json:
                    let object = try JSONSerialization.jsonObject(with: Data(value.utf8))
                    #expect(object is [String: String], "Tags must be a flat object of strings")
                case .string: break
                }
                if let allowed = rule.allowed { #expect(allowed.contains(value), "\(column)=\(value)") }
            }
            // Usage rows must say what was consumed and how it was priced.
            if row["ChargeCategory"] == "Usage" {
                for column in ["ConsumedQuantity", "ConsumedUnit", "PricingQuantity", "PricingUnit", "ListUnitPrice"] {
                    #expect(row[column]?.isEmpty == false, "\(column) is required on usage rows")
                }
            }
            #expect(row["ChargePeriodStart"]! < row["ChargePeriodEnd"]!)
            #expect(row["BillingPeriodStart"]! <= row["ChargePeriodStart"]!)
            #expect(row["ChargePeriodEnd"]! <= row["BillingPeriodEnd"]!)
            let list = Decimal(string: row["ListCost"]!)!
            let quantity = Decimal(string: row["PricingQuantity"]!)!
            let unitPrice = Decimal(string: row["ListUnitPrice"]!)!
            let contractedPrice = Decimal(string: row["ContractedUnitPrice"]!)!
            let contracted = Decimal(string: row["ContractedCost"]!)!
            let tolerance = Decimal(string: "0.000000001")!
            #expect(abs(list - unitPrice * quantity) <= tolerance, "ListCost = ListUnitPrice × PricingQuantity")
            #expect(abs(contracted - contractedPrice * quantity) <= tolerance)
            #expect(row["BilledCost"] == row["ContractedCost"] && row["EffectiveCost"] == row["ContractedCost"])
            #expect(contracted <= list)
            if row["ProviderName"] == "anthropic" && row["ChargePeriodStart"]! >= "2026-10-10" {
                #expect(row["PricingCategory"] == "Committed")
            }
            billed += contracted
            listed += list
        }
        let ledger = Decimal(records.reduce(Int64(0)) { $0 + $1.cost.nanos }) / 1_000_000_000
        #expect(listed == ledger)
        #expect(billed < listed)
    }

    static func parseCSV(_ text: String) -> [[String]] {
        var rows: [[String]] = []
        var row: [String] = []
        var cell = ""
        var quoted = false
        var iterator = Array(text).makeIterator()
        var pending: Character? = nil
        while let character = pending ?? iterator.next() {
            pending = nil
            if quoted {
                if character == "\"" {
                    if let next = iterator.next() {
                        if next == "\"" {
                            cell.append("\"")
                        } else {
                            quoted = false
                            pending = next
                        }
                    } else {
                        quoted = false
                    }
                } else {
                    cell.append(character)
                }
            } else if character == "\"" {
                quoted = true
            } else if character == "," {
                row.append(cell)
                cell = ""
            } else if character == "\n" {
                row.append(cell)
                rows.append(row)
                row = []
                cell = ""
            } else {
                cell.append(character)
            }
        }
        return rows
    }
}
