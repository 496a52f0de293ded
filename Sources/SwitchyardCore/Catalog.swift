/// The wire format a provider speaks.
public enum ProviderKind: String, Sendable, Hashable, CaseIterable {
    /// OpenAI's Chat Completions API: OpenAI itself, vLLM, llama.cpp, Ollama, DeepSeek, GLM, ...
    case openai
}

/// An upstream service Switchyard forwards requests to.
public struct Provider: Hashable, Sendable {
    public var name: String
    public var kind: ProviderKind
    /// Base URL up to and including the API version, e.g. `https://api.openai.com/v1`.
    public var baseURL: String
    /// Name of the environment variable holding the provider's API key, if it needs one.
    public var apiKeyEnv: String?
    public var region: String?

    public init(name: String, kind: ProviderKind, baseURL: String, apiKeyEnv: String? = nil, region: String? = nil) {
        self.name = name
        self.kind = kind
        self.baseURL = baseURL
        self.apiKeyEnv = apiKeyEnv
        self.region = region
    }
}

/// One model served by one provider, with its prices.
public struct Deployment: Hashable, Sendable {
    public var name: String
    public var provider: String
    /// The model id the upstream expects.
    public var model: String
    public var contextWindow: Int?
    public var prices: TokenPrices
    /// Total time allowed for one upstream request, streams included.
    public var timeoutSeconds: Int64

    public init(
        name: String, provider: String, model: String, contextWindow: Int? = nil, prices: TokenPrices, timeoutSeconds: Int64 = 600
    ) {
        self.name = name
        self.provider = provider
        self.model = model
        self.contextWindow = contextWindow
        self.prices = prices
        self.timeoutSeconds = timeoutSeconds
    }
}

public enum RouteStrategy: String, Sendable, Hashable, CaseIterable {
    /// Targets are tried in order; the next one only when the previous failed before answering.
    case fallback
}

/// A model name clients ask for, mapped to the deployments that can serve it.
public struct Route: Hashable, Sendable {
    public var name: String
    public var strategy: RouteStrategy
    public var targets: [String]

    public init(name: String, strategy: RouteStrategy = .fallback, targets: [String]) {
        self.name = name
        self.strategy = strategy
        self.targets = targets
    }
}

public struct Tenant: Hashable, Sendable {
    public var name: String
    /// Routes this tenant's keys may use; nil means every route.
    public var allowedRoutes: [String]?

    public init(name: String, allowedRoutes: [String]? = nil) {
        self.name = name
        self.allowedRoutes = allowedRoutes
    }

    public func mayUse(route: String) -> Bool {
        allowedRoutes.map { $0.contains(route) } ?? true
    }
}
