import Observability

/// The metrics registry's values as an OTLP `ExportMetricsServiceRequest` (opentelemetry-proto,
/// `collector/metrics/v1`), protobuf's binary form: the same counters, gauges and histograms
/// `/metrics` shows, cumulative since the process started. The GenAI families get the
/// conventions' own names, units and attribute keys (`gen_ai.client.token.usage`, `{token}`,
/// `gen_ai.token.type`), which Prometheus' exposition had to spell with underscores; the
/// `switchyard_*` families keep their names. Field numbers are the proto files'; the e2e receiver
/// decodes the result with the official generated classes.
public struct OTLPMetricsEncoder: Sendable {
    public let resource: [(String, String)]
    public let scopeName: String
    /// When the values began counting (the process's start), for every data point.
    public let startNanos: UInt64

    public init(resource: [(String, String)], startNanos: UInt64, scopeName: String = "switchyard") {
        self.resource = resource
        self.startNanos = startNanos
        self.scopeName = scopeName
    }

    /// A GenAI family's name and unit in the semantic conventions (v1.41), by its Prometheus name.
    static let conventionNames: [String: (name: String, unit: String)] = [
        "gen_ai_client_operation_duration_seconds": ("gen_ai.client.operation.duration", "s"),
        "gen_ai_client_token_usage": ("gen_ai.client.token.usage", "{token}"),
        "gen_ai_server_time_to_first_token_seconds": ("gen_ai.server.time_to_first_token", "s"),
        "gen_ai_server_time_per_output_token_seconds": ("gen_ai.server.time_per_output_token", "s"),
    ]

    public func encode(_ families: [MetricsRegistry.FamilySnapshot], atNanos now: UInt64) -> [UInt8] {
        var request = ProtobufWriter()
        request.message(1) { resourceMetrics in  // ExportMetricsServiceRequest.resource_metrics
            resourceMetrics.message(1) { resource in  // ResourceMetrics.resource
                for (key, value) in self.resource {
                    resource.message(1) { $0.keyValue(key, .string(value)) }  // Resource.attributes
                }
            }
            resourceMetrics.message(2) { scopeMetrics in  // ResourceMetrics.scope_metrics
                scopeMetrics.message(1) { $0.string(1, scopeName) }  // ScopeMetrics.scope (its name)
                for family in families where !family.series.isEmpty {
                    scopeMetrics.message(2) { encode(family, now: now, into: &$0) }  // ScopeMetrics.metrics
                }
            }
        }
        return request.bytes
    }

    private func encode(_ family: MetricsRegistry.FamilySnapshot, now: UInt64, into metric: inout ProtobufWriter) {
        let convention = Self.conventionNames[family.name]
        metric.string(1, convention?.name ?? family.name)  // Metric.name
        metric.string(2, family.help)  // description
        if let unit = convention?.unit { metric.string(3, unit) }  // unit
        // The conventions' attribute keys for their families: `gen_ai_token_type` was Prometheus' spelling.
        func key(_ name: String) -> String {
            convention == nil ? name : name.replacing("_", with: ".").replacing("gen.ai.", with: "gen_ai.")
        }
        func common(_ point: inout ProtobufWriter, _ series: MetricsRegistry.SeriesSnapshot, attributesField: Int) {
            for (name, value) in series.labels {
                point.message(attributesField) { $0.keyValue(key(name), .string(value)) }
            }
            point.fixed64(2, startNanos)  // start_time_unix_nano
            point.fixed64(3, now)  // time_unix_nano
        }
        // A number as NumberDataPoint holds it: a counter as_int (sfixed64, field 6), a gauge always
        // as_double (field 4): a series must not change type between pushes (backends refuse that).
        func number(_ point: inout ProtobufWriter, _ value: MetricsRegistry.Value) {
            switch value {
            case .count(let count): point.fixed64(6, UInt64(bitPattern: count))
            case .gauge(let gauge): point.double(4, gauge)
            case .histogram: break
            }
        }
        switch family.kind {
        case .counter:
            metric.message(7) { sum in  // Metric.sum
                for series in family.series {
                    sum.message(1) { point in  // Sum.data_points: NumberDataPoint
                        common(&point, series, attributesField: 7)
                        number(&point, series.value)
                    }
                }
                sum.varint(2, 2)  // aggregation_temporality: CUMULATIVE
                sum.varint(3, 1)  // is_monotonic
            }
        case .gauge:
            metric.message(5) { gauge in  // Metric.gauge
                for series in family.series {
                    gauge.message(1) { point in
                        common(&point, series, attributesField: 7)
                        number(&point, series.value)
                    }
                }
            }
        case .histogram:
            metric.message(9) { histogram in  // Metric.histogram
                for series in family.series {
                    guard case .histogram(let values) = series.value else { continue }
                    histogram.message(1) { point in  // Histogram.data_points: HistogramDataPoint
                        common(&point, series, attributesField: 9)
                        point.fixed64(4, UInt64(values.count))  // count
                        point.double(5, values.sum)  // sum
                        // OTLP counts per bucket (the last one past every bound); the registry
                        // counts cumulatively, as Prometheus does.
                        var counts: [UInt64] = []
                        var below: Int64 = 0
                        for cumulative in values.cumulativeCounts {
                            counts.append(UInt64(max(0, cumulative - below)))
                            below = cumulative
                        }
                        counts.append(UInt64(max(0, values.count - below)))
                        point.packedFixed64(6, counts)  // bucket_counts
                        point.packedFixed64(7, values.bounds.map(\.bitPattern))  // explicit_bounds
                    }
                }
                histogram.varint(2, 2)  // aggregation_temporality: CUMULATIVE
            }
        }
    }
}
