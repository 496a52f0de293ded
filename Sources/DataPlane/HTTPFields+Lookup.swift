import HTTPTypes

extension HTTPFields {
    /// The value of the field `name`, as `self[name]` gives it, without the cost of `self[name]`
    /// when there is one such field (nearly always): HTTPTypes joins every lookup's values
    /// through a lazy sequence, which showed in the gateway's profile for its per-request reads.
    package func value(of name: HTTPField.Name) -> String? {
        var found: String?
        for field in self where field.name == name {
            guard found == nil else { return self[name] }
            found = field.value
        }
        return found
    }
}
