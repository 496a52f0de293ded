import WireFormats

/// The tool names a request declares, as policies judge them (`allowed_tools`, `denied_tools`).
enum DeclaredTools {
    /// Every name a policy must judge for the tools an OpenAI chat request declares, whatever
    /// their type: `function.name`, `custom.name`, a top-level `name`, and the type itself for
    /// built-in tools (`web_search`, `code_interpreter`, …), legacy `functions[].name`, the tool
    /// a `tool_choice` or `function_call` forces, and `web_search` for `web_search_options`. A
    /// tool with none of these is judged as `(unnamed)`, so an allow-list cannot be slipped past.
    static func names(in json: JSONValue) -> [String] {
        var names: [String] = []
        for tool in json["tools"]?.arrayValue ?? [] {
            let type = tool["type"]?.stringValue
            var found = [tool["function"]?["name"], tool["custom"]?["name"], tool["name"]].compactMap { $0?.stringValue }
            if let type, type != "function", type != "custom" { found.append(type) }
            names += found.isEmpty ? ["(unnamed)"] : found
        }
        for function in json["functions"]?.arrayValue ?? [] {
            names.append(function["name"]?.stringValue ?? "(unnamed)")
        }
        // Tools in another shape than an array are judged as unnamed; web search asked for by
        // option is the built-in tool `web_search`.
        if let tools = json["tools"], tools.arrayValue == nil, tools != .null { names.append("(unnamed)") }
        if let options = json["web_search_options"], options != .null { names.append("web_search") }
        // A forced choice names a tool too; one not declared above is still judged.
        for chosen in [json["tool_choice"]?["function"]?["name"], json["function_call"]?["name"]] {
            if let name = chosen?.stringValue { names.append(name) }
        }
        return names
    }

    /// Every tool name a policy must judge in a canonical request: declared tools, tools the
    /// provider runs (`mcp`), and the one a tool choice forces.
    static func names(in canonical: CanonicalRequest) -> [String] {
        var names = canonical.tools.map(\.name) + canonical.providerRunTools
        if case .tool(let forced) = canonical.toolChoice { names.append(forced) }
        return names
    }
}
