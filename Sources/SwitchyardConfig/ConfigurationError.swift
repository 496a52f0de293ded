/// A problem in a configuration file, located so a person can fix it without searching.
public struct ConfigurationError: Error, CustomStringConvertible, Equatable, Sendable {
    public var file: String
    public var line: Int?
    public var column: Int?
    /// Dotted path to the offending value, e.g. `deployments[0].price.input_per_mtok`.
    public var path: String
    public var reason: String

    public init(file: String, line: Int?, column: Int?, path: String, reason: String) {
        self.file = file
        self.line = line
        self.column = column
        self.path = path
        self.reason = reason
    }

    public var description: String {
        var location = file
        if let line { location += ":\(line)" }
        if let column { location += ":\(column)" }
        return path.isEmpty ? "\(location): \(reason)" : "\(location): \(path): \(reason)"
    }
}
