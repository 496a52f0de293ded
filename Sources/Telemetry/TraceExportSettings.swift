import SwitchyardCore

/// Where traces go and how they are batched and sampled: the configuration file's values, under
/// the standard OpenTelemetry environment variables, which win as they do for every SDK.
public struct TraceExportSettings: Sendable {
    /// The full OTLP/HTTP traces URL (`…/v1/traces`).
    public var endpoint: String
    public var headers: [(String, String)] = []
    public var timeoutMilliseconds = 10_000
    public var resource: [(String, String)]
    public var scheduleDelayMilliseconds = 5_000
    public var maxQueueSize = 2_048
    public var maxExportBatchSize = 512
    public var sampling: Sampling
    /// Whether the gateway's tail rule may keep what head sampling dropped (off with an
    /// `always_off` sampler).
    public var tailRule = true
    /// Variables that were set but could not be honoured, and what was done instead: for the log.
    public var warnings: [String] = []

    /// Which new requests are traced (`OTEL_TRACES_SAMPLER`). A client's `sampled` flag is followed
    /// when `followsParent`; `ratio` applies otherwise, and to requests without a client trace.
    public struct Sampling: Sendable, Equatable {
        public var ratio: Double
        public var followsParent: Bool

        public init(ratio: Double, followsParent: Bool) {
            self.ratio = ratio
            self.followsParent = followsParent
        }
    }

    public enum Problem: Error, CustomStringConvertible, Equatable {
        case invalid(variable: String, value: String)

        public var description: String {
            switch self {
            case .invalid(let variable, let value): "\(variable) '\(value)' is not valid"
            }
        }
    }

    /// The file's `observability.tracing`: the collector's base URL (`/v1/traces` is added unless
    /// present; nil: OpenTelemetry's default, http://localhost:4318), the service name, the ratio.
    public struct FileSettings: Sendable {
        public var endpoint: String?
        public var serviceName: String?
        public var sampleRatio: Double

        public init(endpoint: String?, serviceName: String?, sampleRatio: Double) {
            self.endpoint = endpoint
            self.serviceName = serviceName
            self.sampleRatio = sampleRatio
        }
    }

    /// nil when tracing is off: neither the file nor the environment names a collector, or
    /// `OTEL_SDK_DISABLED=true`. `instanceID` is the replica's id (`service.instance.id`).
    public static func resolve(
        file: FileSettings?, instanceID: String, environment: [String: String]
    ) throws(Problem) -> TraceExportSettings? {
        func value(_ names: String...) -> String? {
            names.lazy.compactMap { environment[$0]?.trimmingWhitespace }.first { !$0.isEmpty }
        }
        func number(_ name: String) throws(Problem) -> Int? {
            guard let text = value(name) else { return nil }
            guard let number = Int(text), number >= 0 else { throw .invalid(variable: name, value: text) }
            return number
        }
        guard value("OTEL_SDK_DISABLED")?.lowercased() != "true", value("OTEL_TRACES_EXPORTER")?.lowercased() != "none"
        else { return nil }
        var warnings: [String] = []
        let resolved: String
        if let traces = value("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
            resolved = traces
        } else if let base = value("OTEL_EXPORTER_OTLP_ENDPOINT") {
            resolved = Self.tracesURL(base, always: true)
        } else if let file {
            resolved = Self.tracesURL(file.endpoint ?? "http://localhost:4318", always: false)
        } else {
            return nil
        }
        // A variable set for a whole fleet of services must not stop this one: what cannot be
        // honoured is said in the log and the default used, as the specification asks.
        if let proto = value("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"), proto != "http/protobuf" {
            warnings.append("OTEL_EXPORTER_OTLP_PROTOCOL '\(proto)' is not supported; traces are exported as http/protobuf")
        }
        let resource = Self.resource(environment, serviceName: file?.serviceName, instanceID: instanceID)
        let sampler = value("OTEL_TRACES_SAMPLER")
        let sampling: Sampling
        do {
            sampling = try Self.sampling(sampler, value("OTEL_TRACES_SAMPLER_ARG"), file?.sampleRatio ?? 1)
        } catch {
            warnings.append("\(error); the default sampler (parent-based, at sample_ratio) is used")
            sampling = Sampling(ratio: file?.sampleRatio ?? 1, followsParent: true)
        }
        var settings = TraceExportSettings(endpoint: resolved, resource: resource, sampling: sampling)
        settings.tailRule = !["always_off", "parentbased_always_off"].contains(sampler?.lowercased() ?? "")
        settings.headers = Self.usableHeaders(
            Self.pairs(value("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS") ?? ""), warnings: &warnings)
        let signalTimeout = try number("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT")
        let timeout = try number("OTEL_EXPORTER_OTLP_TIMEOUT")
        if let timeout = signalTimeout ?? timeout { settings.timeoutMilliseconds = max(1, timeout) }
        if let delay = try number("OTEL_BSP_SCHEDULE_DELAY") { settings.scheduleDelayMilliseconds = max(1, delay) }
        if let size = try number("OTEL_BSP_MAX_QUEUE_SIZE") { settings.maxQueueSize = max(1, size) }
        if let size = try number("OTEL_BSP_MAX_EXPORT_BATCH_SIZE") { settings.maxExportBatchSize = max(1, size) }
        if let timeout = try number("OTEL_BSP_EXPORT_TIMEOUT") {
            settings.timeoutMilliseconds = min(settings.timeoutMilliseconds, max(1, timeout))
        }
        settings.warnings = warnings
        return settings
    }

    /// The headers a request can carry: a name of token characters, a value without control
    /// characters (a decoded `%0A` would make the HTTP client fail, and its error quote the value,
    /// a credential, into the log). Others are dropped and named, never shown, in `warnings`.
    static func usableHeaders(_ pairs: [(String, String)], warnings: inout [String]) -> [(String, String)] {
        pairs.filter { name, value in
            let nameOK =
                !name.isEmpty
                && name.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && !Array("()<>@,;:\\\"/[]?={}".utf8).contains($0) }
            let valueOK = value.utf8.allSatisfy { $0 >= 0x20 && $0 != 0x7F || $0 == 0x09 }
            if !(nameOK && valueOK) {
                warnings.append("the OTLP header '\(nameOK ? name : "(unprintable)")' is not a valid HTTP header; it is not sent")
            }
            return nameOK && valueOK
        }
    }

    /// The resource every signal names: `OTEL_SERVICE_NAME` (or the file's, or `switchyard`), the
    /// replica as `service.instance.id`, and `OTEL_RESOURCE_ATTRIBUTES`.
    static func resource(_ environment: [String: String], serviceName: String?, instanceID: String) -> [(String, String)] {
        func value(_ name: String) -> String? { environment[name]?.trimmingWhitespace.nonEmpty }
        var resource = Self.pairs(value("OTEL_RESOURCE_ATTRIBUTES") ?? "")
        let service =
            value("OTEL_SERVICE_NAME") ?? resource.first { $0.0 == "service.name" }?.1 ?? serviceName ?? "switchyard"
        let instance = resource.first { $0.0 == "service.instance.id" }?.1 ?? instanceID
        resource.removeAll { ["service.name", "service.instance.id"].contains($0.0) || $0.0.hasPrefix("telemetry.sdk.") }
        return [
            ("service.name", service), ("service.instance.id", instance), ("telemetry.sdk.name", "switchyard"),
            ("telemetry.sdk.language", "swift"),
        ] + resource
    }

    /// `OTEL_TRACES_SAMPLER` and its argument; unset, the file's ratio with the client's flag followed.
    static func sampling(_ name: String?, _ argument: String?, _ fileRatio: Double) throws(Problem) -> Sampling {
        func ratio() throws(Problem) -> Double {
            guard let argument else { return 1 }
            guard let ratio = Double(argument), (0...1).contains(ratio) else {
                throw .invalid(variable: "OTEL_TRACES_SAMPLER_ARG", value: argument)
            }
            return ratio
        }
        switch name?.lowercased() {
        case nil: return Sampling(ratio: fileRatio, followsParent: true)
        case "always_on": return Sampling(ratio: 1, followsParent: false)
        case "always_off": return Sampling(ratio: 0, followsParent: false)
        case "traceidratio": return Sampling(ratio: try ratio(), followsParent: false)
        case "parentbased_always_on": return Sampling(ratio: 1, followsParent: true)
        case "parentbased_always_off": return Sampling(ratio: 0, followsParent: true)
        case "parentbased_traceidratio": return Sampling(ratio: try ratio(), followsParent: true)
        case .some(let other): throw .invalid(variable: "OTEL_TRACES_SAMPLER", value: other)
        }
    }

    /// The URL without a `user:password@` part, for the log.
    public static func withoutCredentials(_ url: String) -> String {
        guard let schemeEnd = url.range(of: "://") else { return url }
        let rest = url[schemeEnd.upperBound...]
        let authorityEnd = rest.firstIndex(of: "/") ?? rest.endIndex
        guard let at = rest[..<authorityEnd].lastIndex(of: "@") else { return url }
        return String(url[..<schemeEnd.upperBound]) + String(rest[rest.index(after: at)...])
    }

    static func tracesURL(_ base: String, always: Bool) -> String {
        let trimmed = base.hasSuffix("/") ? String(base.dropLast()) : base
        return !always && trimmed.hasSuffix("/v1/traces") ? trimmed : trimmed + "/v1/traces"
    }

    /// `key=value,key=value` with percent-encoded values (W3C Baggage's form, which
    /// `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_EXPORTER_OTLP_HEADERS` use).
    static func pairs(_ text: String) -> [(String, String)] {
        text.split(separator: ",").compactMap { member in
            let parts = member.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { return nil }
            let key = String(parts[0]).trimmingWhitespace
            guard !key.isEmpty else { return nil }
            return (key, percentDecoded(String(parts[1]).trimmingWhitespace))
        }
    }

    static func percentDecoded(_ text: String) -> String {
        var bytes: [UInt8] = []
        var input = Array(text.utf8)[...]
        while let byte = input.popFirst() {
            if byte == UInt8(ascii: "%"), input.count >= 2, let value = Hex.uint64(input.prefix(2).map { $0 | 0x20 }[...]) {
                bytes.append(UInt8(value))
                input = input.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension String {
    var trimmingWhitespace: String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }

    var nonEmpty: String? { isEmpty ? nil : self }
}
