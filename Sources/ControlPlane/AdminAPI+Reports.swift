import DataPlane
import FinOps
import Foundation
import HTTPTypes
import Hummingbird
import SwitchyardCore

/// `GET /admin/v1/reports/{cost|unit|commitments|concentration}`: the CLI's FinOps reports over
/// HTTP, gateway-wide; `GET /admin/v1/tenants/{tenant}/reports/{cost|unit}`: one tenant's. Query: `by` (a dimension or tag key), `bucket` (hour|day|month),
/// `since`/`until` (dates or RFC 3339 times; default: this month so far), `format` (json|csv),
/// `task_tag` (`key=value`, unit report).
extension AdminAPI {
    func adminReport(_ request: Request, kind: String, tenant: String? = nil) async -> Response {
        let kinds: [ReportQuery.Kind] = tenant == nil ? ReportQuery.Kind.allCases : [.cost, .unit]
        guard let kind = ReportQuery.Kind(rawValue: kind), kinds.contains(kind) else {
            return Self.adminError(
                .notFound, "not_found", "Unknown report '\(kind)'; reports: \(kinds.map(\.rawValue).joined(separator: ", ")).")
        }
        let parameters = request.uri.queryParameters
        func time(_ name: String) -> Result<UnixMicros?, AdminInputError> {
            guard let text = parameters[Substring(name)].map(String.init) else { return .success(nil) }
            guard let time = UnixMicros(dateOrTimestamp: text) else {
                return .failure(
                    AdminInputError(message: "'\(name)' must be a date (2026-11-01) or an RFC 3339 time, not '\(text)'."))
            }
            return .success(time)
        }
        let now = UnixMicros.now()
        let since: UnixMicros?
        let until: UnixMicros?
        switch (time("since"), time("until")) {
        case (.success(let start), .success(let end)): (since, until) = (start, end)
        case (.failure(let error), _), (_, .failure(let error)):
            return Self.adminError(.badRequest, "invalid_request_error", error.message)
        }
        let end = until ?? now
        let start = since ?? CalendarPeriod.month(containing: end).start
        guard start < end else { return Self.adminError(.badRequest, "invalid_request_error", "'since' must be before 'until'.") }
        let bucketName = parameters["bucket"].map(String.init)
        let longest = Self.longestPeriodDays(bucket: bucketName)
        guard end.value - start.value <= Int64(longest) * 86_400_000_000 else {
            return Self.adminError(
                .badRequest, "invalid_request_error",
                "A report over HTTP covers at most \(longest) days\(bucketName.map { " with \($0) buckets" } ?? ""); "
                    + "the CLI (switchyard report) has no limit.")
        }
        var query = ReportQuery(
            kind: kind, dimension: CostDimension(parameters["by"].map(String.init) ?? "tenant"),
            period: ReportPeriod(start: start, end: end), asOf: end)
        if let bucket = parameters["bucket"].map(String.init) {
            guard let value = TimeBucket(rawValue: bucket) else {
                return Self.adminError(.badRequest, "invalid_request_error", "'bucket' must be hour, day or month.")
            }
            query.bucket = value
        }
        if let marker = parameters["task_tag"].map(String.init) {
            let parts = marker.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else {
                return Self.adminError(.badRequest, "invalid_request_error", "'task_tag' must be key=value.")
            }
            query.taskMarker = .init(key: parts[0], value: parts[1])
        }
        let format = parameters["format"].map(String.init) ?? "json"
        guard format == "json" || format == "csv" else {
            return Self.adminError(.badRequest, "invalid_request_error", "'format' must be json or csv.")
        }
        let context = CostReporting.context(configuration) { [monitor] name in
            monitor.snapshot(name)?.unavailability == nil
        }
        do {
            let table = try await CostReporting.report(query, store: store, context: context, tenant: tenant)
            let body = table.render(format == "csv" ? .csv : .json)
            return Response(
                status: .ok, headers: [.contentType: format == "csv" ? "text/csv; charset=utf-8" : "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: body)))
        } catch {
            logger.error("admin report failed", metadata: ["error": "\(error)"])
            return Self.adminError(.serviceUnavailable, "api_error", "The store could not answer; try again.")
        }
    }

    /// The longest period one report over HTTP may cover: every answer is bounded (a console page
    /// must not scan years of hourly rollups, nor allocate capacity hour by hour over them).
    static func longestPeriodDays(bucket: String?) -> Int {
        switch bucket {
        case "hour": 62
        case "month": 3_660
        default: 731
        }
    }

    static func adminError(_ status: HTTPResponse.Status, _ type: String, _ message: String) -> Response {
        Response.json(
            status: status,
            Array(#"{"error":{"type":\#(ReportTable.jsonString(type)),"message":\#(ReportTable.jsonString(message))}}"#.utf8))
    }
}

struct AdminInputError: Error {
    var message: String
}
