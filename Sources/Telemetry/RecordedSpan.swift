import Synchronization
import Tracing

/// A span being recorded. What the pipeline sets goes under one lock; `end` hands the finished
/// span to the recorder's buffer once (a second `end` does nothing).
///
/// Besides the API's `attributes` (a dictionary), a span takes attributes as a list
/// (`addAttributes`): the gateway's own attributes are known to be distinct, and a list costs no
/// hashing on the request path, where the dictionary cost more than everything else a traced
/// request adds (README, "Observability").
public final class RecordedSpan: Span {
    /// The context it was started in, with its identity; nil when started by `SpanRecorder.start`
    /// (made when asked for: the gateway's own spans never need it).
    private let startContext: InstrumentationContext?
    public let identity: SpanIdentity
    let parentSpanID: UInt64?
    let parentIsRemote: Bool
    let kind: SpanKind
    let startNanos: UInt64
    private let buffer: SpanBuffer
    private let state: Mutex<State>

    struct State {
        var name: String
        var attributes = SpanAttributes()
        var listed: [(String, SpanAttribute)] = []
        var facts: (any SpanFacts)?
        var events: [SpanEvent] = []
        var status: SpanStatus?
        var ended = false
    }

    init(
        name: String, kind: SpanKind, context: InstrumentationContext?, identity: SpanIdentity, parentSpanID: UInt64?,
        parentIsRemote: Bool, startNanos: UInt64, buffer: SpanBuffer
    ) {
        self.parentIsRemote = parentIsRemote
        self.startContext = context
        self.identity = identity
        self.parentSpanID = parentSpanID
        self.kind = kind
        self.startNanos = startNanos
        self.buffer = buffer
        self.state = Mutex(State(name: name))
    }

    public var context: InstrumentationContext {
        if let startContext { return startContext }
        var context = InstrumentationContext.topLevel
        context[SpanIdentityKey.self] = identity
        return context
    }

    public var operationName: String {
        get { state.withLock { $0.name } }
        set { state.withLock { $0.name = newValue } }
    }

    public var attributes: SpanAttributes {
        get { state.withLock { $0.attributes } }
        set { state.withLock { $0.attributes = newValue } }
    }

    /// Changes the attributes in place: one lock, no copy of the set (`attributes[key] = value`
    /// through the protocol copies it out and back).
    public func updateAttributes(_ update: (inout SpanAttributes) -> Void) {
        state.withLock { update(&$0.attributes) }
    }

    /// Adds attributes whose names are not set otherwise on this span (none is replaced).
    public func addAttributes(_ list: [(String, SpanAttribute)]) {
        state.withLock { state in
            // The first list is kept as it is: no copy into an empty one.
            if state.listed.isEmpty { state.listed = list } else { state.listed += list }
        }
    }

    /// Attributes kept as a value and written only at export (`SpanFacts`); a second call
    /// replaces the first's.
    public func setFacts(_ facts: consuming any SpanFacts) {
        // Moved in, not copied (a closure cannot consume what it captures; it can take it out of an optional).
        var given: (any SpanFacts)? = facts
        state.withLock { $0.facts = given.take() }
    }

    public var isRecording: Bool { true }

    public func setStatus(_ status: SpanStatus) {
        state.withLock { $0.status = status }
    }

    public func addEvent(_ event: SpanEvent) {
        state.withLock { $0.events.append(event) }
    }

    public func recordError<Instant: TracerInstant>(
        _ error: any Error, attributes: SpanAttributes, at instant: @autoclosure () -> Instant
    ) {
        var attributes = attributes
        attributes["exception.type"] = "\(type(of: error))"
        addEvent(SpanEvent(name: "exception", at: instant(), attributes: attributes))
    }

    /// Links are not recorded (the gateway makes none).
    public func addLink(_ link: SpanLink) {}

    /// Hands the span to the buffer. Its name, attributes and events move with it: read after
    /// `end`, they are empty.
    public func end<Instant: TracerInstant>(at instant: @autoclosure () -> Instant) {
        let finished: FinishedSpan? = state.withLock { state in
            guard !state.ended else { return nil }
            state.ended = true
            // Moved out, not copied: the span is done with them (no retain now, no release later).
            return FinishedSpan(
                identity: identity, parentSpanID: parentSpanID, parentIsRemote: parentIsRemote,
                name: Self.take(&state.name, leaving: ""), kind: kind, startNanos: startNanos,
                endNanos: instant().nanosecondsSinceEpoch, attributes: Self.take(&state.attributes, leaving: [:]),
                listed: Self.take(&state.listed, leaving: []), facts: state.facts.take(),
                events: Self.take(&state.events, leaving: []), status: state.status)
        }
        if let finished { buffer.append(finished) }
    }
}

extension RecordedSpan {
    fileprivate static func take<Value>(_ value: inout Value, leaving empty: Value) -> Value {
        var taken = empty
        swap(&taken, &value)
        return taken
    }
}

/// A span that has ended, waiting to be exported.
public struct FinishedSpan: Sendable {
    public var identity: SpanIdentity
    public var parentSpanID: UInt64?
    /// The parent span is another process's (a client's `traceparent`).
    public var parentIsRemote = false
    public var name: String
    public var kind: SpanKind
    public var startNanos: UInt64
    public var endNanos: UInt64
    public var attributes: SpanAttributes
    /// Attributes added as a list (`RecordedSpan.addAttributes`), exported after `attributes`.
    public var listed: [(String, SpanAttribute)] = []
    /// Attributes written at export, after `listed` (`RecordedSpan.setFacts`).
    public var facts: (any SpanFacts)? = nil
    public var events: [SpanEvent]
    public var status: SpanStatus?
}
