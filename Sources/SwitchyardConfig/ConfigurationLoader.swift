import Foundation
import SwitchyardCore
import Yams

/// Reads and validates `switchyard.yaml`. Every problem is reported with its file, line and path;
/// unknown keys are errors (a misspelt key silently ignored is a misconfigured gateway).
public enum ConfigurationLoader {
    /// Loads `path`, or returns the built-in default when `path` is nil.
    public static func load(path: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws
        -> SwitchyardConfiguration
    {
        guard let path else { return .builtInDefault }
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigurationError(
                file: path, line: nil, column: nil, path: "", reason: "cannot read file: \(error.localizedDescription)")
        }
        return try parse(text, file: path)
    }

    public static func parse(_ text: String, file: String) throws -> SwitchyardConfiguration {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw ConfigurationError(file: file, line: error.line, column: nil, path: "", reason: "invalid YAML: \(error.reason)")
        }
        guard let root else { return SwitchyardConfiguration(sourcePath: file) }
        var reader = NodeReader(file: file)
        var configuration = try reader.configuration(root)
        configuration.sourcePath = file
        return configuration
    }
}

extension YamlError {
    var line: Int? {
        switch self {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _): mark.line
        default: nil
        }
    }

    var reason: String {
        switch self {
        case .scanner(_, let problem, _, _), .parser(_, let problem, _, _), .composer(_, let problem, _, _): problem
        default: "\(self)"
        }
    }
}
