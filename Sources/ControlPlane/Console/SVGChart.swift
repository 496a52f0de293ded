/// Charts drawn on the server as SVG: stacked bars, lines and sparklines. Colours are the
/// Okabe–Ito palette, told apart by readers with colour-blindness; every bar has a title.
enum SVGChart {
    static let palette = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]

    struct Series {
        var name: String
        /// One value per bucket, in nano-units (or any integer unit).
        var values: [Int64]
    }

    /// Stacked bars, one per bucket; each bucket's bars link to `links[bucket]` (a drill-down).
    static func stackedBars(
        title: String, buckets: [String], series: [Series], links: [String?], format: (Int64) -> String
    ) -> String {
        let width = 760.0
        let height = 260.0
        let left = 70.0
        let bottom = 30.0
        let totals = buckets.indices.map { bucket in series.reduce(Int64(0)) { $0 &+ max(0, $1.values[bucket]) } }
        let peak = Double(max(totals.max() ?? 0, 1))
        let slot = (width - left) / Double(max(buckets.count, 1))
        let barWidth = min(60, max(1.0, slot * 0.8))
        var svg = """
            <svg role="img" aria-labelledby="chart-title" viewBox="0 0 \(Int(width)) \(Int(height))" class="chart" \
            data-series="\(HTML.escape(series.map(\.name).joined(separator: "|")))" xmlns="http://www.w3.org/2000/svg">\
            <title id="chart-title">\(HTML.escape(title))</title>\
            <line x1="\(left)" y1="\(height - bottom)" x2="\(width)" y2="\(height - bottom)" stroke="#57606a"/>\
            <text x="\(left + 4)" y="12" font-size="11">\(HTML.escape(format(Int64(peak))))</text>\
            <line x1="\(left)" y1="10" x2="\(left)" y2="\(height - bottom)" stroke="#57606a"/>\
            <text x="\(left - 6)" y="\(height - bottom)" text-anchor="end" font-size="11">0</text>
            """
        for (index, one) in series.enumerated() {
            svg += "<g class=\"series\" data-name=\"\(HTML.escape(one.name))\" fill=\"\(palette[index % palette.count])\">"
            for bucket in buckets.indices {
                let below = series[..<index].reduce(Int64(0)) { $0 &+ max(0, $1.values[bucket]) }
                let value = max(0, one.values[bucket])
                guard value > 0 else { continue }
                let barHeight = Double(value) / peak * (height - bottom - 10)
                let y = height - bottom - Double(below) / peak * (height - bottom - 10) - barHeight
                let x = left + Double(bucket) * slot + (slot - barWidth) / 2
                let rect = """
                    <rect x="\(rounded(x))" y="\(rounded(y))" width="\(rounded(barWidth))" height="\(rounded(max(barHeight, 0.5)))">\
                    <title>\(HTML.escape("\(one.name), \(buckets[bucket]): \(format(value))"))</title></rect>
                    """
                svg += links[bucket].map { "<a href=\"\(HTML.escape($0))\">\(rect)</a>" } ?? rect
            }
            svg += "</g>"
        }
        let step = max(1, buckets.count / 8)
        for bucket in stride(from: 0, to: buckets.count, by: step) {
            let x = left + Double(bucket) * slot + slot / 2
            svg +=
                "<text x=\"\(rounded(x))\" y=\"\(height - 10)\" text-anchor=\"middle\" font-size=\"11\">\(HTML.escape(buckets[bucket]))</text>"
        }
        return svg + "</svg>" + legend(series.map(\.name))
    }

    /// Lines over shared x positions; a series named with a trailing "(forecast)" is dashed.
    static func lines(title: String, labels: [String], series: [(name: String, values: [Int64?])], format: (Int64) -> String)
        -> String
    {
        let width = 760.0
        let height = 220.0
        let left = 70.0
        let bottom = 30.0
        let peak = Double(max(series.flatMap { $0.values.compactMap { $0 } }.max() ?? 0, 1))
        let slot = (width - left) / Double(max(labels.count - 1, 1))
        var svg = """
            <svg role="img" aria-label="\(HTML.escape(title))" viewBox="0 0 \(Int(width)) \(Int(height))" class="chart" \
            data-series="\(HTML.escape(series.map(\.name).joined(separator: "|")))" xmlns="http://www.w3.org/2000/svg">\
            <line x1="\(left)" y1="\(height - bottom)" x2="\(width)" y2="\(height - bottom)" stroke="#57606a"/>\
            <text x="\(left + 4)" y="12" font-size="11">\(HTML.escape(format(Int64(peak))))</text>\
            <line x1="\(left)" y1="10" x2="\(left)" y2="\(height - bottom)" stroke="#57606a"/>
            """
        for (index, one) in series.enumerated() {
            let points = one.values.enumerated().compactMap { position, value in
                value.map {
                    "\(rounded(left + Double(position) * slot)),\(rounded(height - bottom - Double($0) / peak * (height - bottom - 10)))"
                }
            }
            let dash = one.name.hasSuffix("(forecast)") ? " stroke-dasharray=\"6 4\"" : ""
            svg += """
                <polyline class="series" data-name="\(HTML.escape(one.name))" fill="none" stroke-width="2" \
                stroke="\(palette[index % palette.count])"\(dash) points="\(points.joined(separator: " "))"/>
                """
        }
        let step = max(1, labels.count / 8)
        for position in stride(from: 0, to: labels.count, by: step) {
            svg +=
                "<text x=\"\(rounded(left + Double(position) * slot))\" y=\"\(height - 10)\" text-anchor=\"middle\" font-size=\"11\">\(HTML.escape(labels[position]))</text>"
        }
        return svg + "</svg>" + legend(series.map(\.name))
    }

    /// A small line without axes, for a table cell.
    static func sparkline(_ values: [Double], label: String) -> String {
        guard values.count > 1 else { return "" }
        let peak = max(values.max() ?? 0, 1e-9)
        let points = values.enumerated().map { "\($0 * 4),\(rounded(20 - $1 / peak * 18))" }.joined(separator: " ")
        return """
            <svg class="sparkline" role="img" aria-label="\(HTML.escape(label))" viewBox="0 0 \((values.count - 1) * 4) 21" \
            width="\((values.count - 1) * 4)" height="21" xmlns="http://www.w3.org/2000/svg">\
            <polyline fill="none" stroke="#0072B2" stroke-width="1.5" points="\(points)"/></svg>
            """
    }

    static func legend(_ names: [String]) -> String {
        "<ul class=\"legend\">"
            + names.enumerated().map { "<li><span class=\"swatch s\($0 % palette.count)\"></span>\(HTML.escape($1))</li>" }
            .joined()
            + "</ul>"
    }

    static func rounded(_ value: Double) -> String {
        String((value * 10).rounded() / 10)
    }
}
