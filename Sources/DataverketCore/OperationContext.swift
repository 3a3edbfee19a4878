/// Who is doing a mutation, on whose behalf, from where: carried into audit records, tasks and events.
public struct OperationContext: Sendable, Hashable {
    /// The authenticated actor (`user:…`, `sa:…`, `service:…`), or `anonymous` before Identitet.
    public var actor: String
    public var correlationID: String
    public var sourceAddress: String?
    public var idempotencyKey: String?
    public var taskID: String?

    public init(actor: String, correlationID: String, sourceAddress: String? = nil, idempotencyKey: String? = nil, taskID: String? = nil) {
        self.actor = actor
        self.correlationID = correlationID
        self.sourceAddress = sourceAddress
        self.idempotencyKey = idempotencyKey
        self.taskID = taskID
    }

    public static let anonymousActor = "anonymous"
}
